"""How the live view's plots look: theme colours, and legends that never cover the curves.

The plots follow the window's theme: pyqtgraph draws its own background, axes and titles, so the
light theme must be applied to them explicitly (it left the plots black before).

A pyqtgraph legend floats over its view box, and in the live view's small plots it sat on the curves.
`legend_below` puts it in the plot's own layout instead, in a row under the x axis: PlotItem adds
every named curve to `plot.legend`, wherever that legend is, so curves keep joining it by name.

A legend under the plot takes its height from the plot, so it is kept short (its entries flow side by
side, as many to a line as fit, with short samples and tight lines) and the plot's data area never
goes below MIN_VIEW_PX: `fit_row` makes the plots' widget as tall as that needs (the live view is in a
scroll area, which then scrolls), and lines up the legends of a row so that its x axes align.
(Three GAN losses in a 240 px plot took three 21 px lines and left the curves no pixel at all.)
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from pyqtgraph import functions as fn
from pyqtgraph.graphicsItems.LegendItem import ItemSample
from pyqtgraph.graphicsItems.ScatterPlotItem import drawSymbol
from pyqtgraph.icons import invisibleEye
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QFont, QFontMetricsF

LEGEND_ROW = 4  # PlotItem's layout: title 0, top axis 1, view box 2, bottom axis 3
MIN_VIEW_PX = 60  # the least height of a plot's data area, whatever its legend takes
SAMPLE_PX = 14  # an entry's line sample (pyqtgraph's are 20 px square)
SAMPLE_GAP_PX = 3  # between an entry's sample and its name
ENTRY_GAP_PX = 10  # between two entries on a line
TEXT_MARGIN_PX = 1  # around an entry's text (Qt's default 4 px made a 21 px line of 8pt text)
SIDE_PX = 4  # the legend's left and right margins
TOP_PX = 2  # between the x axis and the first line


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


def legend_below(plot: pg.PlotItem, text_size: str = "8pt") -> BelowLegend:
    """A legend for `plot` in a row of its own under the x axis (see BelowLegend); the plot's data area keeps
    MIN_VIEW_PX of height (its widget must let it: see fit_row)."""
    plot.vb.setMinimumHeight(MIN_VIEW_PX)
    return BelowLegend(plot, text_size)


def fit_row(widget: pg.GraphicsLayoutWidget, least: int = 0) -> None:
    """The plots in `widget` with a legend below them: every legend as tall as the tallest, so the data areas
    and x axes of a row line up, and `widget` at least as tall as its plots need (MIN_VIEW_PX of data each,
    title, axes, legend), `least` at the least. Call it when a legend's height changes (BelowLegend.resized)."""
    legends = [item.legend for item in widget.ci.items if isinstance(getattr(item, "legend", None), BelowLegend)]
    row = max((legend.content_height for legend in legends), default=0)
    for legend in legends:
        legend.reserve(row)
        legend.plot.updateGeometry()  # the row's layout drops the plot's old least height now, not at a later turn
    need = widget.ci.effectiveSizeHint(Qt.SizeHint.MinimumSize).height()
    widget.setMinimumHeight(max(least, math.ceil(need) + 2 * widget.frameWidth()))


class ShortSample(ItemSample):
    """pyqtgraph's legend sample (a click hides or shows its curve) drawn SAMPLE_PX wide and a text line tall."""

    def __init__(self, item):
        super().__init__(item)
        self.setFixedWidth(SAMPLE_PX)

    def boundingRect(self) -> QRectF:
        return QRectF(0, 0, self.width(), self.height())

    def paint(self, painter, *args) -> None:
        width, middle = self.width(), self.height() / 2
        if not self.item.isVisible():  # hidden by a click: the eye pyqtgraph shows, at this size
            side = int(min(width, self.height()))
            painter.drawPixmap(QPointF((width - side) / 2, middle - side / 2), invisibleEye.qicon.pixmap(side, side))
            return
        opts = self.item.opts
        if opts.get("antialias"):
            painter.setRenderHint(painter.RenderHint.Antialiasing)
        if not isinstance(self.item, pg.ScatterPlotItem):
            painter.setPen(fn.mkPen(opts["pen"]))
            painter.drawLine(QPointF(0, middle), QPointF(width, middle))
        symbol = opts.get("symbol")
        if symbol is not None:
            if isinstance(self.item, pg.PlotDataItem):
                opts = self.item.scatter.opts
            painter.translate(width / 2, middle)
            drawSymbol(painter, symbol, min(opts["size"], self.height() - 4), fn.mkPen(opts["pen"]),
                       fn.mkBrush(opts["brush"]))


class BelowLegend(pg.LegendItem):
    """A legend under its plot's x axis, as wide as the plot, its entries flowing side by side: as many to a
    line as fit the plot's width (each entry its own width, so short names share a line), a name too long for
    the plot shortened with "…" (the whole name is its tooltip), so it never makes the plot wider than its
    share nor runs into the next. Its height is its lines' (or the row's, see `reserve`); `resized` says when
    the lines it needs change."""

    resized = Signal()

    def __init__(self, plot: pg.PlotItem, text_size: str):
        super().__init__(offset=None, labelTextSize=text_size, frame=False, sampleType=ShortSample)
        self.plot = plot
        self.names: dict[pg.LabelItem, str] = {}  # each entry's whole name
        self.text_font = QFont()  # the entries' text, measured to shorten names: the labels' size, default family
        if text_size.endswith("pt"):
            self.text_font.setPointSizeF(float(text_size[:-2]))
        self.content_height = 0.0  # what its lines take
        self.reserved = 0.0  # the row's legend height (fit_row)
        self.setMinimumWidth(0)  # its entries wrap (fit) instead of holding the plot wide
        self.setPreferredWidth(0)
        self.layout.setContentsMargins(0, 0, 0, 0)
        self._set_height(0)
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
        self.fit()

    def _addItemToLayout(self, sample, label) -> None:
        """Entries are placed by `fit`, not by pyqtgraph's grid (whose columns are as wide as their widest)."""
        label.item.document().setDocumentMargin(TEXT_MARGIN_PX)
        label.updateMin()
        sample.setParentItem(self)
        label.setParentItem(self)

    def _removeItemFromLayout(self, *items) -> None:
        for item in items:
            item.close()
            if item.scene() is not None:
                item.scene().removeItem(item)
            item.setParentItem(None)

    def hoverEvent(self, event) -> None:
        """Not draggable: pyqtgraph's legend moves where it is dragged, over the curves too; this one keeps its row."""

    def mouseDragEvent(self, event) -> None:
        event.ignore()

    def updateSize(self) -> None:
        """pyqtgraph's sizes the legend to its grid; this one's size is its plot's width and its lines (fit)."""

    def setLabelTextColor(self, *args, **kwargs) -> None:
        """The colour for every entry, those already shown too (pyqtgraph's applies it at their next text only)."""
        super().setLabelTextColor(*args, **kwargs)
        for _, label in self.items:
            label.setText(label.text)

    def reserve(self, height: float) -> None:
        """Be `height` tall (or as tall as its own lines, if more): the row's tallest legend."""
        self.reserved = height
        self._set_height(max(self.content_height, height))

    def _set_height(self, height: float) -> None:
        if height != self.minimumHeight() or height != self.maximumHeight():
            growing = height > self.maximumHeight()
            (self.setMaximumHeight if growing else self.setMinimumHeight)(height)
            (self.setMinimumHeight if growing else self.setMaximumHeight)(height)
            self.setPreferredHeight(height)

    def fit(self) -> None:
        """Shorten the names that do not fit the plot's width, then place the entries, as many to a line as fit."""
        width = self.plot.width() - 2 * SIDE_PX
        metrics = QFontMetricsF(self.text_font)
        room = width - SAMPLE_PX - SAMPLE_GAP_PX - 2 * TEXT_MARGIN_PX - 2  # a name alone on its line
        for _, label in self.items:
            name = self.names.get(label, label.text)
            shown = name if metrics.horizontalAdvance(name) <= room else \
                metrics.elidedText(name, Qt.TextElideMode.ElideMiddle, max(room, 1))
            if shown != label.text:
                label.setText(shown)
                label.setToolTip(name if shown != name else "")
        line = max((label.minimumHeight() for _, label in self.items), default=0)
        x, y = 0.0, TOP_PX
        for sample, label in self.items:
            entry = SAMPLE_PX + SAMPLE_GAP_PX + label.minimumWidth()
            if x > 0 and x + entry > width:
                x, y = 0.0, y + line
            sample.setFixedHeight(line)
            sample.setPos(SIDE_PX + x, y)
            label.setGeometry(QRectF(SIDE_PX + x + SAMPLE_PX + SAMPLE_GAP_PX, y, label.minimumWidth(), line))
            x += entry + ENTRY_GAP_PX
        height = y + line if self.items else 0.0
        if height != self.content_height:
            self.content_height = height
            self._set_height(max(height, self.reserved))
            self.resized.emit()
