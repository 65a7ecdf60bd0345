"""The plots follow the window's theme: pyqtgraph draws its own background, axes and titles, so the
light theme must be applied to them explicitly (it left the plots black before)."""

from __future__ import annotations

import pyqtgraph as pg


def apply_plot_theme(widget: pg.GraphicsView, plots: list[pg.PlotItem], theme) -> None:
    widget.setBackground(theme.base)
    for plot in plots:
        for name in ("left", "bottom"):
            axis = plot.getAxis(name)
            axis.setPen(pg.mkPen(theme.muted))
            axis.setTextPen(pg.mkPen(theme.text))
            if axis.label.toPlainText():
                axis.setLabel(axis.labelText, color=theme.text)
        if plot.titleLabel.text:
            plot.setTitle(plot.titleLabel.text, color=theme.text)
        if plot.legend is not None:
            plot.legend.setLabelTextColor(theme.text)
