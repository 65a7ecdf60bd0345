"""A node's weight and gradient histograms over the run: one outline per epoch, darker for earlier ones, so a
layer whose weights spread, collapse or whose gradients vanish reads at a glance. The histograms are the
run's `histograms` artifacts (engine/inspect/histograms.py), as its record holds them."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtWidgets import QHBoxLayout, QWidget

KINDS = ("weights", "gradients")


class HistogramView(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.plots = {kind: pg.PlotWidget(title=kind) for kind in KINDS}
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for plot in self.plots.values():
            plot.setMinimumHeight(160)
            layout.addWidget(plot)
        self.colormap = pg.colormap.get("viridis")
        self.shown: dict[str, int] = {}  # kind → epochs drawn

    def show_node(self, node: str | None, artifacts: list[dict]) -> None:
        """Draw `node`'s histograms from the run's artifact events (those tagged "histograms")."""
        epochs = [a for a in artifacts if a.get("tag") == "histograms" and node in (a.get("data") or {})]
        for kind, plot in self.plots.items():
            plot.clear()
            drawn = [a for a in epochs if kind in a["data"][node]]
            for i, artifact in enumerate(drawn):
                h = artifact["data"][node][kind]
                colour = self.colormap.map(0.2 + 0.8 * i / max(len(drawn) - 1, 1), mode="qcolor")
                plot.plot(h["edges"], h["counts"], stepMode="center", pen=pg.mkPen(colour, width=1.5))
            plot.setTitle(f"{node} {kind}, epochs 1…{len(drawn)}" if drawn else f"{kind}: none yet")
            self.shown[kind] = len(drawn)
        self.setVisible(bool(epochs))
