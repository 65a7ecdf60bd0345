"""The Dataset tab: the open graph's data as the model will receive it, before any training.

Split sizes, the samples per class in each part (a bar chart; the split's warnings, class imbalance
among them, above it), a batch of training samples drawn at random after preprocessing and — when
"Augment" is ticked — the trainer's own augmentation (Reshuffle draws another), value ranges per channel
or feature, and for text the tokens of a sample. The worker computes it all (`dataset_summary`,
engine/data/summary.py): the GUI never loads data. A summary is asked for when the tab is shown and the
dataset settings changed since, never for a tab nobody looks at.
"""

from __future__ import annotations

import html
import itertools
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .training.plot_theme import apply_plot_theme
from .training.sample_preview import SamplePreview

BATCH_COLUMNS = 8
HISTOGRAM_PX = 170
RANGES_MAX_PX = 260  # a table's value ranges scroll past this
DEFAULT_DATASET = {"name": "digits"}  # a graph without dataset settings trains on this (engine/config.py)
REFRESH_DELAY_MS = 400
NAMED_TICKS = 20  # classes up to this many are named under their bars
TRAIN_COLOUR, VAL_COLOUR = "#4f8ef7", "#e8a317"
# alternate light backgrounds under dark text, readable in either theme: where one token ends and the next begins
TOKEN_SHADES = ("#bcd4ff", "#ffd9a8")


class DatasetView(QWidget):
    def __init__(self, window, client, parent=None):
        super().__init__(parent)
        self.window, self.client, self.doc = window, client, window.doc
        self.draw = 0  # seeds the batch drawn (and its augmentation): Reshuffle takes the next
        self.summary: dict | None = None
        self.stale = True  # the dataset settings changed since the summary on screen was asked for
        self._requests = itertools.count()
        self.request_id: str | None = None

        self.augment = QCheckBox("Augment", checked=True, toolTip="the batch after the trainer's augmentation")
        self.augment.toggled.connect(lambda _: self.refresh())
        self.reshuffle_button = QPushButton("Reshuffle", clicked=self.reshuffle, toolTip="draw another batch")
        controls = QHBoxLayout()
        controls.addWidget(self.augment)
        controls.addWidget(self.reshuffle_button)
        controls.addStretch(1)
        self.heading = QLabel("<i>The dataset appears here.</i>", wordWrap=True,
                              textInteractionFlags=Qt.TextInteractionFlag.TextSelectableByMouse)
        self.warnings = QLabel(wordWrap=True, styleSheet="color: #e8a317")
        self.histogram_title = QLabel(f"<b>Samples per class</b>: <span style='color:{TRAIN_COLOUR}'>■</span> "
                                      f"training <span style='color:{VAL_COLOUR}'>■</span> validation")
        self.histogram = pg.PlotWidget()
        self.histogram.setFixedHeight(HISTOGRAM_PX)
        self.histogram.setMouseEnabled(False, False)
        self.histogram.hideButtons()
        self.batch_title = QLabel()
        self.batch = SamplePreview(columns=BATCH_COLUMNS)
        self.tokens = QLabel(wordWrap=True, textFormat=Qt.TextFormat.RichText)
        self.ranges = QTableWidget(0, 5)
        self.ranges.setHorizontalHeaderLabels(["", "min", "max", "mean", "std"])
        self.ranges.verticalHeader().hide()
        self.ranges.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)

        # the counts and ranges on the left, the batch on the right: both in view on a short dock
        left, right = QVBoxLayout(), QVBoxLayout()
        for widget in (self.histogram_title, self.histogram, self.ranges, self.tokens):
            left.addWidget(widget)
        left.addStretch(1)
        right.addWidget(self.batch_title)
        right.addLayout(controls)
        right.addWidget(self.batch)
        right.addStretch(1)
        columns = QHBoxLayout()
        columns.addLayout(left, 1)
        columns.addLayout(right, 1)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.addWidget(self.heading)
        layout.addWidget(self.warnings)
        layout.addLayout(columns)
        scroll = QScrollArea(widgetResizable=True)
        scroll.setWidget(body)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

        self._timer = QTimer(self, singleShot=True, interval=REFRESH_DELAY_MS)
        self._timer.timeout.connect(self._refresh_if_shown)
        self.doc.subscribe(self._doc_event)
        client.message.connect(self._message)
        client.ready.connect(self._worker_ready)  # a method, not a lambda: Qt drops it with this widget
        self.apply_theme(window.theme)

    # -- asking -----------------------------------------------------------------------------------
    def _doc_event(self, event: str, **payload) -> None:
        if event == "reset" or (event == "training_changed" and payload.get("key") in (None, "dataset", "seed")):
            self.stale = True
            self._timer.start()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self.stale:
            self._timer.start(0)

    def _worker_ready(self, _ready: dict) -> None:
        self._refresh_if_shown()

    def _refresh_if_shown(self) -> None:
        if self.stale and self.isVisible():
            self.refresh()

    def reshuffle(self) -> None:
        self.draw += 1
        self.refresh()

    def refresh(self) -> None:
        """Ask the worker for the summary of the dataset as the settings now say."""
        if not self.client.is_ready:
            return  # `ready` asks again
        self.stale = False
        self.request_id = f"dataset-view:{id(self)}:{next(self._requests)}"
        training, path = self.doc.training, self.window.files.path
        self.client.send(cmd="dataset_summary", id=self.request_id, dataset=training.get("dataset") or DEFAULT_DATASET,
                         seed=training.get("seed", 0), base_dir=str(Path(path).parent) if path else None,
                         augment=self.augment.isChecked(), draw=self.draw)
        self.heading.setText("<i>Loading the dataset in the worker…</i>")

    def _message(self, message: dict) -> None:
        if self.request_id is None or message.get("id") != self.request_id:
            return  # another panel's reply, or one this tab no longer waits for
        if message["type"] == "dataset_summary":
            self.show_summary(message)
        else:
            self.summary = None
            self.heading.setText(f"<span style='color:#e5484d'>{html.escape(message['message'])}</span>")
            self.warnings.clear()
            self._clear()

    # -- showing ----------------------------------------------------------------------------------
    def show_summary(self, summary: dict) -> None:
        self.summary = summary
        shape = "(N, " + ", ".join(map(str, summary["input_shape"])) + ")"
        self.heading.setText(f"<b>{html.escape(summary['name'])}</b>: {summary['train_samples']:,} training / "
                             f"{summary['val_samples']:,} validation samples · x {shape}")
        notes = [*summary.get("warnings", []), *([summary["unavailable"]] if summary.get("unavailable") else [])]
        self.warnings.setText("\n".join(f"⚠ {note}" for note in notes))
        self.warnings.setVisible(bool(notes))
        self._show_classes(summary.get("classes"))
        self._show_batch(summary.get("batch"))
        self._show_tokens(summary.get("tokens"))
        self._show_ranges(summary.get("ranges"))

    def _clear(self) -> None:
        self._show_classes(None)
        self._show_batch(None)
        self._show_tokens(None)
        self._show_ranges(None)

    def _show_classes(self, classes: dict | None) -> None:
        plot = self.histogram.getPlotItem()
        plot.clear()
        self.histogram.setVisible(bool(classes))
        self.histogram_title.setVisible(bool(classes))
        if not classes:
            return
        count = len(classes["names"])
        for offset, part, colour in ((-0.2, "train", TRAIN_COLOUR), (0.2, "val", VAL_COLOUR)):
            plot.addItem(pg.BarGraphItem(x=[i + offset for i in range(count)], height=classes[part], width=0.4,
                                         brush=colour, pen=None))
        ticks = [(i, name) for i, name in enumerate(classes["names"])] if count <= NAMED_TICKS else None
        plot.getAxis("bottom").setTicks([ticks] if ticks else None)

    def _show_batch(self, batch: dict | None) -> None:
        if not batch:
            self.batch.clear()
            self.batch_title.setText("")
            return
        how = (f"augmented ({batch['augment']})" if batch["augmented"] else
               "not augmented" + (f" — the run augments: {batch['augment']}" if batch["augment"] else ""))
        self.batch_title.setText(f"<b>A training batch as the model receives it</b>, {how}:")
        self.batch.show_samples(batch["samples"])

    def _show_tokens(self, tokens: list[dict] | None) -> None:
        self.tokens.setVisible(bool(tokens))
        if not tokens:
            return
        spans = "".join(
            f"<span style='background-color:{TOKEN_SHADES[i % 2]}; color:#111'>"
            f"{html.escape(t['text']).replace(' ', '&nbsp;').replace(chr(10), '⏎')}</span>"
            for i, t in enumerate(tokens))
        self.tokens.setText(f"<b>The first sample's {len(tokens)} tokens</b> (ids: "
                            f"{', '.join(str(t['id']) for t in tokens[:12])}{' …' if len(tokens) > 12 else ''}):"
                            f"<br>{spans}")

    def _show_ranges(self, ranges: dict | None) -> None:
        self.ranges.setVisible(bool(ranges))
        if not ranges:
            return
        rows = ranges["rows"]
        self.ranges.setRowCount(len(rows))
        self.ranges.setHorizontalHeaderLabels([f"{ranges['axis']} (as trained)", "min", "max", "mean", "std"])
        for row, entry in enumerate(rows):
            values = [entry["name"], *(f"{entry[k]:.4g}" for k in ("min", "max", "mean", "std"))]
            for column, value in enumerate(values):
                self.ranges.setItem(row, column, QTableWidgetItem(value))
        self.ranges.resizeColumnsToContents()
        rows_px = sum(self.ranges.rowHeight(r) for r in range(len(rows)))
        self.ranges.setFixedHeight(min(RANGES_MAX_PX, self.ranges.horizontalHeader().height() + rows_px + 4))
        self.ranges.setToolTip(f"over {ranges['samples']:,} training samples"
                               + (f"; {ranges['more']} more not listed" if ranges["more"] else ""))

    def apply_theme(self, theme) -> None:
        apply_plot_theme(self.histogram, [self.histogram.getPlotItem()], theme)


def install_dataset_view(window) -> DatasetView:
    """A "Dataset" dock among the bottom tabs (beside Results), fed by the training worker."""
    view = DatasetView(window, window.training.client)
    dock = QDockWidget("Dataset", window)
    dock.setObjectName("Dataset")
    dock.setWidget(view)
    window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
    window.tabifyDockWidget(window.training.results_dock, dock)
    window.panels_menu.addAction(dock.toggleViewAction())  # every dock has its toggle under Canvas → Panels
    window.training.live_dock.raise_()
    window.dataset_view = view
    return view
