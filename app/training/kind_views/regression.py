"""Regression: predicted against true values on the validation sample, with the identity line to
read them against, and MAE / RMSE over the epochs (engine/tasks/regression.py)."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QVBoxLayout

from ..runs import RunRecord
from .base import KindPanel, KindView
from .widgets import latest


class ScatterPanel(KindPanel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.heading = QLabel("<i>Predicted against true values appear at the end of each epoch.</i>",
                              wordWrap=True)
        self.plot = pg.PlotWidget()
        self.plot.setLabel("bottom", "true")
        self.plot.setLabel("left", "predicted")
        self.plot.setAspectLocked(True)
        self.identity = self.plot.plot(pen=pg.mkPen("#888888", width=1, style=pg.QtCore.Qt.PenStyle.DashLine))
        self.points = pg.ScatterPlotItem(size=5, pen=None, brush=pg.mkBrush(78, 156, 245, 160))
        self.plot.addItem(self.points)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.heading)
        layout.addWidget(self.plot, 1)

    def show_record(self, record: RunRecord) -> None:
        event = latest(record, "predicted_vs_true")
        if event is None:
            self.points.clear()
            self.identity.setData([], [])
            return
        true, predicted = event["data"]["true"], event["data"]["predicted"]
        self.points.setData(true, predicted)
        values = true + predicted
        low, high = (min(values), max(values)) if values else (0.0, 1.0)
        self.identity.setData([low, high], [low, high])
        metrics = next((e.get("metrics") or {} for e in reversed(record.epochs) if e.get("metrics")), {})
        scores = " · ".join(f"{name.upper()} {metrics[name]:.4g}" for name in ("mae", "rmse")
                            if metrics.get(name) is not None)
        self.heading.setText(f"<b>Predicted vs true</b> · epoch {event['epoch']}" + (f" · {scores}" if scores else ""))


class RegressionView(KindView):
    name = "regression"
    title = "Regression"
    metric_title = "MAE / RMSE"
    metrics = (("mae", "MAE"), ("rmse", "RMSE"))
    results_note = ("<i>A regression is judged by its errors: the Live view plots predicted against true values "
                    "and MAE / RMSE at every epoch.</i>")

    def panel(self) -> KindPanel:
        return ScatterPanel()
