"""ROC and precision–recall curves of a two-class model, beside its confusion matrix in the Results.

The worker's evaluation of a two-class classifier returns the curves of the second class's probability over the
validation split (engine/metrics.py: `curves`) and its ROC AUC; these two small plots only draw them. With an
imbalanced table the accuracy flatters the majority class; the curves show what each threshold trades: churners
found (recall) against false alarms (the false-positive rate, or precision).
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QWidget

CURVE_PEN = "#4e9cf5"
CHANCE_PEN = "#888888"
PLOT_PX = 220


class CurvesView(QWidget):
    """Two plots, ROC and precision–recall; hidden unless `show_curves` is given curves."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.roc = _plot("ROC", "false positive rate", "true positive rate (recall)")
        self.pr = _plot("Precision–recall", "recall", "precision")
        dash = pg.mkPen(CHANCE_PEN, width=1, style=Qt.PenStyle.DashLine)
        self.chance = self.roc.plot([0, 1], [0, 1], pen=dash)  # a model guessing at random
        self.base_rate = self.pr.plot(pen=dash)  # precision of answering "positive" always
        self.roc_curve = self.roc.plot(pen=pg.mkPen(CURVE_PEN, width=2))
        self.pr_curve = self.pr.plot(pen=pg.mkPen(CURVE_PEN, width=2))
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.roc)
        layout.addWidget(self.pr)
        self.hide()

    def show_curves(self, curves: dict | None, positive: str = "", auc: float | None = None) -> None:
        """Draw `curves` ({"roc": {"fpr", "tpr"}, "pr": {"recall", "precision"}}) for the class `positive`;
        None hides the plots (not a two-class model)."""
        self.setVisible(curves is not None)
        if curves is None:
            self.roc_curve.setData([], [])
            self.pr_curve.setData([], [])
            return
        self.roc_curve.setData(curves["roc"]["fpr"], curves["roc"]["tpr"])
        self.pr_curve.setData(curves["pr"]["recall"], curves["pr"]["precision"])
        rate = curves["pr"]["precision"][-1]  # at the lowest threshold every sample is called positive
        self.base_rate.setData([0, 1], [rate, rate])
        self.roc.setTitle(f"ROC of {positive!r}" + (f" · AUC {auc:.3f}" if auc is not None else ""))
        self.pr.setTitle(f"Precision–recall of {positive!r}")


def _plot(title: str, bottom: str, left: str) -> pg.PlotWidget:
    plot = pg.PlotWidget(title=title)
    plot.setLabel("bottom", bottom)
    plot.setLabel("left", left)
    plot.setXRange(0, 1, padding=0.02)
    plot.setYRange(0, 1, padding=0.02)
    plot.setMinimumSize(PLOT_PX, PLOT_PX)
    return plot
