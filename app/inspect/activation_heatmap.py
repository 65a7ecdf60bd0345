"""Activation statistics as a heatmap beside the gradient one: one row per node, one column per measured step.

The statistic shown is chosen in a box (the fraction of zeros by default: a dead ReLU is a bright row);
fractions are drawn on a fixed 0…1 scale so runs compare, mean and std on the range they span. Rows come
from the step events that carry `activations` (engine/inspect/activations.py), read incrementally from the
run record's events.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ..training.heatmap import MAX_COLUMNS, GrowingRows
from ..training.log_axis import StepAxis

STATS = {"zero": "fraction of zeros", "saturated": "fraction saturated", "nonfinite": "fraction NaN/inf",
         "mean": "mean", "std": "std"}
FRACTIONS = ("zero", "saturated", "nonfinite")


class ActivationRows:
    """The measured steps of a run, folded from its events: node ids, steps, {stat: rows (steps × nodes)}."""

    def __init__(self):
        self.node_ids: list[str] = []
        self.steps: list[int] = []
        self.rows: dict[str, GrowingRows] = {}
        self.read = 0  # events of the record folded so far

    def fold(self, events: list[dict]) -> bool:
        """Fold the events not read yet; whether any measured step was among them."""
        new = [e for e in events[self.read:] if e.get("type") == "step" and e.get("activations")]
        self.read = len(events)
        for event in new:
            measured = event["activations"]
            if not self.node_ids:
                self.node_ids = list(measured)
                self.rows = {stat: GrowingRows(len(self.node_ids)) for stat in STATS}
            self.steps.append(event["step"])
            for stat, rows in self.rows.items():
                rows.extend([[_num((measured.get(n) or {}).get(stat)) for n in self.node_ids]])
        return bool(new)

    def latest(self) -> dict[str, dict[str, float]]:
        """{node: {stat: value}} of the last measured step."""
        if not self.steps:
            return {}
        return {n: {stat: float(rows.array[-1, i]) for stat, rows in self.rows.items()}
                for i, n in enumerate(self.node_ids)}


def _num(value) -> float:
    return math.nan if value is None else float(value)


class ActivationHeatmap(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.plot = pg.PlotWidget(title="Activations", axisItems={"bottom": StepAxis()})
        self.plot.setMouseEnabled(y=False)
        self.plot.invertY(True)  # the first node on top, as in the gradient heatmap
        self.plot.getAxis("bottom").setLabel("step")
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setColorMap(pg.colormap.get("inferno"))
        self.plot.addItem(self.image)
        self.stat = QComboBox()
        for key, text in STATS.items():
            self.stat.addItem(text, key)
        self.stat.currentIndexChanged.connect(lambda _: self.draw())
        self.scale = QLabel()
        side = QVBoxLayout()
        side.addWidget(QLabel("Show"))
        side.addWidget(self.stat)
        side.addWidget(self.scale)
        side.addStretch(1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot, 1)
        layout.addLayout(side)
        self.clear()

    def clear(self) -> None:
        self.data = ActivationRows()
        self.image.clear()
        self.scale.clear()

    def update_from(self, record) -> None:
        if self.data.fold(record.events):
            self.draw()

    def draw(self) -> None:
        key = self.stat.currentData()
        if not self.data.steps:
            return
        data = self.data.rows[key].array
        stride = max(1, len(data) // MAX_COLUMNS)
        shown = data[::stride].T  # (nodes, steps)
        finite = shown[np.isfinite(shown)]
        if key in FRACTIONS:
            low, high = 0.0, 1.0
        else:
            low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
            high = high if high > low else low + 1.0
        self.image.setImage(np.nan_to_num(shown, nan=low), levels=(low, high), autoLevels=False)
        first, last = self.data.steps[0], self.data.steps[-1]
        self.image.setRect(QRectF(first, 0, max(last - first, 1), len(self.data.node_ids)))
        self.plot.getAxis("left").setTicks([[(i + 0.5, n) for i, n in enumerate(self.data.node_ids)]])
        self.plot.setTitle(f"Activations: {STATS[key]}")
        self.scale.setText(f"colour: {low:.3g} … {high:.3g}")
