"""Classifier: the confusion matrix of the newest epoch; clicking a cell lists the samples in it.

The `confusion` artifact (engine/tasks/classification.py), written every epoch, counts the whole
validation split and names, for every off-diagonal cell, the samples counted there by their positions
in the split (with a time step for a per-step sequence target). Clicking such a cell lists those
positions and asks the worker for the samples themselves, shown as thumbnails when they are images.
Correctly classified samples are counted but not named, so the diagonal gives only its count. Under
the heading, each class's precision, recall and F1 (the artifact's own, engine/metrics.py): with an
imbalanced table, the rare class's recall is the figure that says whether the model finds it.

The matrix fits the panel, which gets a third of the live view (about 370 px of a 1600-pixel window):
headers are the bare class names and the sections share the room, so ten classes need no scrolling.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout

from ..runs import RunRecord
from ..sample_preview import SamplePreview
from .base import KindPanel, KindView
from .widgets import latest

MAX_SAMPLES = 24  # samples fetched for one cell
MAX_SCORED = 4  # classes whose precision / recall / F1 the heading lists (more crowd the panel)
SAMPLE_COLUMNS = 8
MIN_COLUMN, MIN_ROW = 24, 14  # px: a cell still shows a count of 3 digits; more classes than fit then scroll


class ConfusionPanel(KindPanel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.data: dict | None = None
        self.cell: tuple[int, int] | None = None  # the cell clicked
        self.cell_samples: list = []  # its entries of `misclassified`: positions (or [position, step])
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
        layout.addWidget(self.listing)
        layout.addWidget(self.samples)

    def show_record(self, record: RunRecord) -> None:
        event = latest(record, "confusion")
        if event is None or event["data"] is self.data:
            return
        self.data = data = event["data"]
        names, counts = data["class_names"], data["confusion"]
        total = sum(map(sum, counts)) or 1
        correct = sum(counts[i][i] for i in range(len(counts)))
        self.heading.setText(f"<b>Confusion</b> · epoch {event['epoch']} · {correct / total:.1%} of {total} "
                             f"validation samples right · rows true, columns predicted · click a cell for its "
                             f"samples{_class_scores(data)}")
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

    def choose_cell(self, row: int, column: int) -> None:
        data = self.data
        if data is None:
            return
        self.cell, names = (row, column), data["class_names"]
        count = data["confusion"][row][column]
        self.cell_samples = data["misclassified"][row][column]
        self.samples.clear()
        what = f"true <b>{names[row]}</b>, predicted <b>{names[column]}</b>: {count} sample{'s' * (count != 1)}"
        if row == column:
            self.listing.setText(f"{what}, classified right (only mistakes are listed by sample)")
            return
        positions = sorted({entry[0] if isinstance(entry, list) else entry for entry in self.cell_samples})
        self.listing.setText(f"{what} — validation samples " + ", ".join(
            f"#{_entry(e)}" for e in self.cell_samples))
        if positions:
            self.request.emit({"cmd": "samples", "indices": positions[:MAX_SAMPLES]})

    def reply(self, message: dict) -> None:
        if message.get("type") == "samples":
            self.samples.show_samples([{**s, "label": f"#{s['index']} {s['label']}"} for s in message["samples"]])
        elif message.get("cmd") == "samples":
            self.listing.setText(f"{self.listing.text()}<br><i>Cannot show them: {message.get('message', '')}</i>")


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
