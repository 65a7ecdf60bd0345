"""GAN: the fixed-noise sample grid as training goes, and a strip of one grid per epoch to look back.

The big picture follows the newest epoch; clicking a thumbnail in the strip shows that epoch's grid
instead, and clicking the newest one follows training again. The losses are the generator's and the
discriminator's, and the metric plot shows D(real) and D(fake) (engine/tasks/adversarial.py).
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QLabel, QListView, QListWidget, QListWidgetItem, QVBoxLayout

from ..runs import RunRecord
from .base import KindPanel, KindView
from .widgets import Picture, artifacts, file_of

THUMB = 40  # px
EPOCH_ROLE = Qt.ItemDataRole.UserRole


class GanPanel(KindPanel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.record: RunRecord | None = None
        self.grids: list[dict] = []  # the "samples" artifacts shown in the strip, oldest first
        self.pinned: int | None = None  # the strip entry chosen; None follows the newest
        self.heading = QLabel("<i>The generator's samples appear at the end of each epoch.</i>", wordWrap=True)
        self.grid = Picture()
        self.strip = QListWidget(viewMode=QListView.ViewMode.IconMode, flow=QListView.Flow.LeftToRight,
                                 wrapping=False, movement=QListView.Movement.Static)
        self.strip.setIconSize(QSize(THUMB, THUMB))
        self.strip.setFixedHeight(THUMB + 30)
        self.strip.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.strip.itemClicked.connect(self._chosen)
        self.strip.setToolTip("One grid per epoch, from the same noise: click one to see it, the newest to follow")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.heading)
        layout.addWidget(self.grid, 1)
        layout.addWidget(self.strip)

    def show_record(self, record: RunRecord) -> None:
        grids = artifacts(record, "samples")
        if record is not self.record or [g["epoch"] for g in grids[:len(self.grids)]] != \
                [g["epoch"] for g in self.grids]:
            self.record, self.grids, self.pinned = record, [], None
            self.strip.clear()
        for event in grids[len(self.grids):]:
            path = file_of(record, event)
            item = QListWidgetItem(QIcon(QPixmap(str(path))), f"{event['epoch']}")
            item.setData(EPOCH_ROLE, event["epoch"])
            item.setToolTip(f"epoch {event['epoch']} · step {event['step']}")
            self.strip.addItem(item)
            self.grids.append(event)
        self._show()

    def _chosen(self, item: QListWidgetItem) -> None:
        row = self.strip.row(item)
        self.pinned = None if row == len(self.grids) - 1 else row
        self._show()

    def _show(self) -> None:
        if not self.grids:
            return
        index = len(self.grids) - 1 if self.pinned is None else self.pinned
        event = self.grids[index]
        self.grid.set_file(file_of(self.record, event))
        self.strip.setCurrentRow(index)
        follow = " (newest)" if self.pinned is None else " — click the newest thumbnail to follow training"
        self.heading.setText(f"<b>Samples from fixed noise</b> · epoch {event['epoch']}{follow}")


class AdversarialView(KindView):
    name = "adversarial"
    title = "GAN"
    loss_names = ("generator", "discriminator (val)")
    metric_title = "D(real) / D(fake)"
    metrics = (("d_real", "D(real)"), ("d_fake", "D(fake)"))
    results_note = ("<i>A GAN is judged by its samples: the Live view shows the generator's grid at every epoch "
                    "(same noise each time). Export the generator alone to use it.</i>")

    def panel(self) -> KindPanel:
        return GanPanel()
