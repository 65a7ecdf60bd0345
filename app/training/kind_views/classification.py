"""Classifier: the confusion matrix of the newest epoch; clicking a cell lists the samples in it.

The `confusion` artifact (engine/tasks/classification.py), written every epoch, counts the whole
validation split and names, for every off-diagonal cell, the samples counted there by their positions
in the split (with a time step for a per-step sequence target). Clicking such a cell lists those
positions and asks the worker for the samples themselves, shown as thumbnails when they are images; where the
source names them the listing then does too, as Results list mistakes (mistakes_view.py): a table's samples as
rows of its file with their raw cells ("row 23: contract <b>month-to-month</b> · …"), an image folder's by file.
The matrix scores each epoch's own weights over the whole split, as the epoch's val_accuracy does; once the run
has ended, the heading says so when Results evaluate another checkpoint (the best one, of an earlier epoch).
Correctly classified samples are counted but not named, so the diagonal gives only its count. Under
the heading, each class's precision, recall and F1 (the artifact's own, engine/metrics.py): with an
imbalanced table, the rare class's recall is the figure that says whether the model finds it.

The matrix fits the panel, which gets a third of the live view (about 370 px of a 1600-pixel window):
headers are the bare class names and the sections share the room, so ten classes need no scrolling.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QFrame, QHeaderView, QLabel, QScrollArea, QTableWidget, QTableWidgetItem, QVBoxLayout

from ..mistakes_view import source_line
from ..runs import RunRecord
from ..sample_preview import SamplePreview
from .base import KindPanel, KindView
from .widgets import latest

MAX_SAMPLES = 24  # samples fetched for one cell
MAX_SCORED = 4  # classes whose precision / recall / F1 the heading lists (more crowd the panel)
SAMPLE_COLUMNS = 8
LISTING_HEIGHT = 120  # px: the cell's listing scrolls beyond this (a table's rows with their cells)
MIN_COLUMN, MIN_ROW = 24, 14  # px: a cell still shows a count of 3 digits; more classes than fit then scroll


class ConfusionPanel(KindPanel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.data: dict | None = None
        self.cell: tuple[int, int] | None = None  # the cell clicked
        self.cell_samples: list = []  # its entries of `misclassified`: positions (or [position, step])
        self.cell_text = ""  # what the listing says of the cell clicked, before its samples
        self.asked: list[int] = []  # the positions last asked of the worker: a reply for others is stale
        self.note = ""  # which weights Results score, when not this matrix's (`_scored_elsewhere`)
        self.heading = QLabel("<i>The validation confusion matrix appears at the end of each epoch.</i>",
                              wordWrap=True)
        self.matrix = QTableWidget(editTriggers=QTableWidget.EditTrigger.NoEditTriggers)
        self.matrix.setToolTip("Rows: true class · columns: predicted class · click a cell to list its samples")
        self.matrix.cellClicked.connect(self.choose_cell)
        for header, least in ((self.matrix.horizontalHeader(), MIN_COLUMN), (self.matrix.verticalHeader(), MIN_ROW)):
            header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)  # share the panel: no scrolling
            header.setMinimumSectionSize(least)
        self.listing = QLabel(wordWrap=True)
        self.listing.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.samples = SamplePreview(columns=SAMPLE_COLUMNS)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.heading)
        layout.addWidget(self.matrix, 1)
        self.listing_area = QScrollArea(widgetResizable=True, frameShape=QFrame.Shape.NoFrame)
        self.listing_area.setWidget(self.listing)  # a table's rows run long: they scroll, the matrix keeps its room
        self.listing_area.setMaximumHeight(LISTING_HEIGHT)
        self.listing_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        layout.addWidget(self.listing_area)
        layout.addWidget(self.samples)

    def show_record(self, record: RunRecord) -> None:
        event = latest(record, "confusion")
        if event is None:
            return
        note = _scored_elsewhere(record, event["epoch"])
        if event["data"] is self.data:
            if note != self.note:  # the run ended, or its best checkpoint moved on
                self.note = note
                self._show_heading(event)
            return
        self.data, self.note = event["data"], note
        self._show_heading(event)
        names, counts = self.data["class_names"], self.data["confusion"]
        self.matrix.setRowCount(len(counts))
        self.matrix.setColumnCount(len(counts))
        for i, name in enumerate(names):
            self.matrix.setVerticalHeaderItem(i, _header(name, "true"))
            self.matrix.setHorizontalHeaderItem(i, _header(name, "predicted"))
        peak = max((max(row) for row in counts), default=1) or 1
        for i, row in enumerate(counts):
            for j, count in enumerate(row):
                cell = QTableWidgetItem(str(count))
                cell.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                if count:
                    right, wrong = (0.2, 0.6, 0.9), (0.9, 0.3, 0.3)  # blue diagonal, red mistakes
                    cell.setBackground(QColor.fromRgbF(*(right if i == j else wrong), 0.15 + 0.85 * count / peak))
                self.matrix.setItem(i, j, cell)
        if self.cell is not None:
            self.choose_cell(*self.cell)

    def _show_heading(self, event: dict) -> None:
        counts = self.data["confusion"]
        total = sum(map(sum, counts)) or 1
        correct = sum(counts[i][i] for i in range(len(counts)))
        self.heading.setText(f"<b>Confusion</b> · epoch {event['epoch']} · {correct / total:.1%} of {total} "
                             f"validation samples right · rows true, columns predicted · click a cell for its "
                             f"samples{self.note}{_class_scores(self.data)}")

    def choose_cell(self, row: int, column: int) -> None:
        data = self.data
        if data is None:
            return
        self.cell, names = (row, column), data["class_names"]
        count = data["confusion"][row][column]
        self.cell_samples = data["misclassified"][row][column]
        self.samples.clear()
        what = f"true <b>{names[row]}</b>, predicted <b>{names[column]}</b>: {count} sample{'s' * (count != 1)}"
        self.cell_text, self.asked = what, []
        if row == column:
            self._list(f"{what}, classified right (only mistakes are listed by sample)")
            return
        positions = sorted({entry[0] if isinstance(entry, list) else entry for entry in self.cell_samples})
        self._list(f"{what} — validation samples " + ", ".join(
            f"#{_entry(e)}" for e in self.cell_samples))  # until the worker names them by their source
        if positions:
            self.asked = positions[:MAX_SAMPLES]
            self.request.emit({"cmd": "samples", "indices": self.asked})

    def reply(self, message: dict) -> None:
        if message.get("type") == "samples":
            samples = message["samples"]
            if [s["index"] for s in samples] != self.asked:
                return  # a cell clicked before: its samples came after the next click
            if any("row" in s for s in samples):  # a table's rows, an image folder's files
                self._list(self._named(samples))
            if any(s.get("cells") for s in samples):
                self.samples.clear()  # the row's raw cells say more than its standardised numbers
                return
            self.samples.show_samples([{**s, "label": s.get("row") or f"#{s['index']} {s['label']}"}
                                       for s in samples])
        elif message.get("cmd") == "samples":
            self._list(f"{self.listing.text()}<br><i>Cannot show them: {message.get('message', '')}</i>")


    def _list(self, text: str) -> None:
        """Show `text` under the matrix, in as much height as it needs up to LISTING_HEIGHT (then it scrolls)."""
        self.listing.setText(text)
        width = self.listing_area.viewport().width() or self.width()
        self.listing_area.setMinimumHeight(min(self.listing.heightForWidth(width), LISTING_HEIGHT))

    def _named(self, samples: list[dict]) -> str:
        """The cell's samples as their source names them: a table's rows with their raw cells, one a line (as
        Results list mistakes: mistakes_view.source_line), an image folder's file names in a line."""
        positions = {entry[0] if isinstance(entry, list) else entry for entry in self.cell_samples}
        more = f" … and {len(positions) - len(samples)} more" if len(positions) > len(samples) else ""
        if any(s.get("cells") for s in samples):
            return "<br>".join([f"{self.cell_text}, rows of the file:", *map(source_line, samples)]) + \
                (f"<br>{more.strip()}" if more else "")
        return f"{self.cell_text} — " + ", ".join(map(source_line, samples)) + more


def _scored_elsewhere(record: RunRecord, epoch: int) -> str:
    """ "<br>Results score the best checkpoint (epoch 4)": once the run has ended, when the checkpoint Results
    evaluate is not this epoch's (the same weights give the same figure there, so nothing is said)."""
    checkpoint = None if record.active else record.weights_checkpoint
    if checkpoint is None or checkpoint[1] in (None, epoch):
        return ""
    tag, saved = checkpoint
    return f"<br><i>These are the weights after epoch {epoch}; Results score the {tag} checkpoint (epoch {saved})</i>"


def _class_scores(data: dict) -> str:
    """ "<br>yes: precision 61 % · recall 78 % · F1 68 %" per class, for up to MAX_SCORED classes."""
    names, recall = data["class_names"], data.get("recall")
    if recall is None or len(names) > MAX_SCORED:
        return ""
    percent = (lambda v: "–" if v is None else f"{v:.0%}")
    return "".join(f"<br>{name}: precision {percent(data['precision'][i])} · recall {percent(recall[i])} · "
                   f"F1 {percent(data['f1'][i])}" for i, name in enumerate(names))


def _header(name: str, role: str) -> QTableWidgetItem:
    item = QTableWidgetItem(name)
    item.setToolTip(f"{role} class {name}")
    return item


def _entry(entry) -> str:
    return f"{entry[0]} (step {entry[1]})" if isinstance(entry, list) else str(entry)


class ClassificationView(KindView):
    name = "classification"
    title = "Classifier"
    metric_title = "Accuracy"
    metrics = (("train_accuracy", "train"), ("val_accuracy", "val"))
    evaluates = True

    def panel(self) -> KindPanel:
        return ConfusionPanel()
