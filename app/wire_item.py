"""A wire: a smooth cubic curve from an output port to an input port, labelled with its shape.

The path is rebuilt only when an end moves (the scene calls `set_ends` for the wires of moved
nodes), and the hit-test shape is computed lazily, so thousands of wires stay cheap. The same
item without an edge is the rubber wire that follows the mouse while connecting.
"""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QFont, QFontMetricsF, QPainterPath, QPainterPathStroker
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem

from engine.document import Edge

from .node_item import DETAIL_LOD

LABEL_PX = 11  # label text height on screen, at every zoom where node details show
LABEL_PAD = 4.0


@cache
def label_font() -> QFont:
    font = QFont()
    font.setPixelSize(LABEL_PX)
    return font


def curve(p1: QPointF, p2: QPointF) -> QPainterPath:
    """Horizontal tangents at both ends, so wires leave outputs rightwards and enter inputs from the left.

    A wire running backwards (to a node further left, e.g. the next row of a wrapped layout) gets a
    short bend, so it loops just outside the nodes instead of swinging far past them.
    """
    dx = p2.x() - p1.x()
    bend = max(40.0, dx * 0.5) if dx >= 0 else min(150.0, max(40.0, abs(p2.y() - p1.y()) * 0.5))
    path = QPainterPath(p1)
    path.cubicTo(QPointF(p1.x() + bend, p1.y()), QPointF(p2.x() - bend, p2.y()), p2)
    return path


class WireItem(QGraphicsPathItem):
    """Its item path is just its bounds (a rectangle, kept by Qt in C++, see NodeItem); the curve it
    draws and hit-tests is `_path`."""

    def __init__(self, edge: Edge | None = None):
        super().__init__()
        self.edge = edge
        self.label = ""
        self.refused = False
        self._path = QPainterPath()
        self._mid = QPointF()
        self._shape: QPainterPath | None = None
        self._label_rect = QRectF()
        self.setPen(Qt.PenStyle.NoPen)
        self.setZValue(0 if edge else 3)
        if edge is not None:
            self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)

    def set_ends(self, p1: QPointF, p2: QPointF) -> None:
        self._path = curve(p1, p2)
        self._mid = (p1 + p2) / 2  # the curve is point-symmetric about the middle of its ends
        self._shape = None
        self._update_bounds()

    def set_label(self, text: str) -> None:
        """The label box at screen scale, just above the wire's middle (measured once per text)."""
        if text != self.label:
            self.label = text
            if text:
                metrics = QFontMetricsF(label_font())
                w, h = metrics.horizontalAdvance(text) + 2 * LABEL_PAD, metrics.height() + 2
                self._label_rect = QRectF(-w / 2, -h - 3, w, h)  # relative to the middle, in screen pixels
            else:
                self._label_rect = QRectF()
            self._update_bounds()
            self.update()

    def _update_bounds(self) -> None:
        """The curve's box, plus the label's at its largest: its scene size is 1/zoom of its screen size,
        largest at the zoom where details start to show."""
        reserved = QRectF()
        if self.label:
            rect = self._label_rect
            reserved = QRectF(rect.topLeft() / DETAIL_LOD, rect.bottomRight() / DETAIL_LOD).translated(self._mid)
        bounds = QPainterPath()
        bounds.addRect(self._path.controlPointRect().adjusted(-3, -3, 3, 3).united(reserved))
        self.setPath(bounds)

    def shape(self) -> QPainterPath:
        if self._shape is None:
            stroker = QPainterPathStroker()
            stroker.setWidth(10)
            self._shape = stroker.createStroke(self._path)
        return self._shape

    def paint(self, painter, option, widget=None) -> None:
        theme = self.scene().theme
        color = theme.error if self.refused else theme.selected if self.isSelected() else theme.wire
        painter.setPen(theme.pen(color, 2.0))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self._path)
        if self.label and self.edge is not None and option.levelOfDetailFromTransform(painter.worldTransform()) \
                >= DETAIL_LOD:
            self.scene().labels_due.append(self)  # drawn by the view after the nodes (paint_label)

    def paint_label(self, painter, zoom: float) -> None:
        """The shape label at screen scale (as readable at 50 % as at 200 %). The view calls this after
        the nodes are drawn, so a label wider than the gap between two nodes lies on top of them."""
        theme = self.scene().theme
        painter.save()
        painter.translate(self._mid)
        painter.scale(1 / zoom, 1 / zoom)
        painter.setPen(theme.pen(theme.grid_major))
        painter.setBrush(theme.brush(theme.label_bg))
        painter.drawRoundedRect(self._label_rect, 4, 4)
        painter.setFont(label_font())
        painter.setPen(theme.pen(theme.selected if self.isSelected() else theme.muted))
        painter.drawText(self._label_rect, Qt.AlignmentFlag.AlignCenter, self.label)
        painter.restore()
