"""Per-layer gradient norms as a heatmap: one row per parameterised node, one column per step event.

Colour is log10 of the norm, so vanishing (1e-7) and exploding (1e+3) layers are both visible at
once. Rows arrive one step at a time; they are appended to a growing numpy buffer (amortised
doubling), so a redraw never rebuilds the whole history from Python lists. Beside the image a
checkable layer list chooses which layers also get a curve in the gradient-norm plot.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from .log_axis import StepAxis
from .runs import RunRecord

MAX_COLUMNS = 2000  # wider histories are shown with every k-th step (the image has ~that many pixels anyway)


class GrowingRows:
    """Rows of equal length appended one by one into a numpy buffer that doubles when full."""

    def __init__(self, width: int):
        self.buffer = np.empty((64, width), dtype=np.float64)
        self.count = 0

    def extend(self, rows: list[list[float]]) -> None:
        needed = self.count + len(rows)
        if needed > len(self.buffer):
            grown = np.empty((max(needed, 2 * len(self.buffer)), self.buffer.shape[1]))
            grown[:self.count] = self.buffer[:self.count]
            self.buffer = grown
        if rows:
            self.buffer[self.count:needed] = rows
        self.count = needed

    @property
    def array(self) -> np.ndarray:
        return self.buffer[:self.count]


ROW_PX, HEATMAP_CHROME, MAX_HEIGHT = 14, 80, 320  # px per layer row, title + axis, cap


class GradientHeatmap(QWidget):
    layers_chosen = Signal(list)  # node ids whose own curve should be drawn

    def __init__(self, parent=None):
        super().__init__(parent)
        self.plot = pg.PlotWidget(title="Per-layer gradient norm (log10)", axisItems={"bottom": StepAxis()})
        self.plot.setMouseEnabled(y=False)
        self.plot.invertY(True)  # the first layer (nearest the input) on top, as in the layer list beside it
        self.plot.getAxis("bottom").setLabel("step")
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setColorMap(pg.colormap.get("viridis"))
        self.plot.addItem(self.image)
        self.scale = QLabel()
        self.layers = QListWidget()
        self.layers.setMaximumWidth(160)
        self.layers.itemChanged.connect(lambda _: self.layers_chosen.emit(self.chosen()))
        side = QVBoxLayout()
        side.addWidget(QLabel("Layers (tick for a curve)"))
        side.addWidget(self.layers, 1)
        side.addWidget(self.scale)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot, 1)
        layout.addLayout(side)
        self.clear()

    @property
    def rows(self) -> int:
        """Layers shown (rows of the image)."""
        return 0 if self._rows is None else self._rows.buffer.shape[1]

    def clear(self) -> None:
        self._rows: GrowingRows | None = None
        self._layer_ids: list[str] = []
        self.image.clear()
        self.layers.clear()
        self.scale.clear()

    def chosen(self) -> list[str]:
        return [self.layers.item(i).text() for i in range(self.layers.count())
                if self.layers.item(i).checkState() == Qt.CheckState.Checked]

    def update_from(self, record: RunRecord) -> None:
        if not record.layer_ids:
            return
        if self._rows is None or record.layer_ids != self._layer_ids:
            self.clear()
            self._layer_ids = list(record.layer_ids)
            self._rows = GrowingRows(len(self._layer_ids))
            self._fill_layer_list()
        with np.errstate(divide="ignore", invalid="ignore"):
            self._rows.extend([[math.log10(v) if v > 0 else math.nan for v in row]
                               for row in record.layer_norms[self._rows.count:]])
        self._draw(record.steps)

    def _fill_layer_list(self) -> None:
        self.layers.blockSignals(True)
        for node_id in self._layer_ids:
            item = QListWidgetItem(node_id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            self.layers.addItem(item)
        self.layers.blockSignals(False)
        self.plot.getAxis("left").setTicks([[(i + 0.5, n) for i, n in enumerate(self._layer_ids)]])
        # every layer's label needs a row of its own: grow with the layer count, up to a point
        self.setMinimumHeight(min(MAX_HEIGHT, HEATMAP_CHROME + ROW_PX * len(self._layer_ids)))

    def _draw(self, steps: list[int]) -> None:
        data = self._rows.array
        if not len(data):
            return
        stride = max(1, len(data) // MAX_COLUMNS)
        shown = data[::stride].T  # (layers, steps)
        finite = shown[np.isfinite(shown)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        high = high if high > low else low + 1.0
        self.image.setImage(np.nan_to_num(shown, nan=low), levels=(low, high), autoLevels=False)
        first, last = steps[0], steps[len(data) - 1]
        self.image.setRect(QRectF(first, 0, max(last - first, 1), len(self._layer_ids)))
        self.scale.setText(f"colour: 1e{low:.1f} … 1e{high:.1f}")
