"""How the live view's plots look: theme colours, and legends that never cover the curves.

The plots follow the window's theme: pyqtgraph draws its own background, axes and titles, so the
light theme must be applied to them explicitly (it left the plots black before).

A pyqtgraph legend floats over its view box, and in the live view's small plots it sat on the curves.
`legend_below` puts it in the plot's own layout instead, in a row under the x axis: PlotItem adds
every named curve to `plot.legend`, wherever that legend is, so curves keep joining it by name.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFontMetricsF

LEGEND_ROW = 4  # PlotItem's layout: title 0, top axis 1, view box 2, bottom axis 3
ENTRY_GAP_PX = 8  # between two legend entries on a line
FRAME_PX = 16  # around an entry's text: the legend's margins, the text item's own


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


def legend_below(plot: pg.PlotItem, text_size: str = "8pt") -> pg.LegendItem:
    """A legend for `plot` in a row of its own under the x axis (see BelowLegend)."""
    return BelowLegend(plot, text_size)


class BelowLegend(pg.LegendItem):
    """A legend under its plot's x axis, as wide as the plot, its entries side by side: as many to a line
    as fit the plot's width (one, in a narrow plot), a name too long for the plot shortened with "…" (the
    whole name is its tooltip), so it never makes the plot wider than its share nor runs into the next."""

    def __init__(self, plot: pg.PlotItem, text_size: str):
        super().__init__(offset=None, labelTextSize=text_size, colCount=1, frame=False, horSpacing=2)
        self.plot = plot
        self.names: dict[pg.LabelItem, str] = {}  # each entry's whole name
        self.setMinimumWidth(0)  # its entries wrap (fit) instead of holding the plot wide
        self.setPreferredWidth(0)
        self.layout.setContentsMargins(4, 0, 4, 0)  # the curves keep the height
        plot.layout.addItem(self, LEGEND_ROW, 0, 1, 3)  # under the left axis too: the whole width
        plot.legend = self
        plot.geometryChanged.connect(self.fit)

    def addItem(self, item, name) -> None:
        super().addItem(item, name)
        self.names[self.items[-1][1]] = name
        self.fit()

    def removeItem(self, item) -> None:
        super().removeItem(item)
        shown = {label for _, label in self.items}
        self.names = {label: name for label, name in self.names.items() if label in shown}
        self.fit()

    def clear(self) -> None:
        super().clear()
        self.names.clear()

    def setLabelTextColor(self, *args, **kwargs) -> None:
        """The colour for every entry, those already shown too (pyqtgraph's applies it at their next text only)."""
        super().setLabelTextColor(*args, **kwargs)
        for _, label in self.items:
            label.setText(label.text)

    def fit(self) -> None:
        """Shorten the names that do not fit the plot's width, then put as many entries to a line as fit."""
        if not self.items:
            return
        width = self.plot.width()
        for sample, label in self.items:
            name = self.names.get(label, label.text)
            room = width - sample.boundingRect().width() - ENTRY_GAP_PX - FRAME_PX
            shown = QFontMetricsF(label.item.font()).elidedText(name, Qt.TextElideMode.ElideMiddle, max(room, 1))
            if shown != label.text:
                label.setText(shown)
                label.setToolTip(name)
        widest = max(sample.boundingRect().width() + label.minimumWidth() + ENTRY_GAP_PX
                     for sample, label in self.items)
        columns = max(1, min(len(self.items), int(width // widest)))
        if columns != self.columnCount:
            self.setColumnCount(columns)
