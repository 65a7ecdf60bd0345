"""A wire: a smooth cubic curve from an output port to an input port, labelled with its shape.

The path is rebuilt only when an end moves (the scene calls `set_ends` for the wires of moved
nodes), and the hit-test shape is computed lazily, so thousands of wires stay cheap. The same
item without an edge is the rubber wire that follows the mouse while connecting.

The label never covers a node's title or text: it sits above the wire's middle, else below it, else
a little before or after the middle, else it is hidden (the wire's tooltip still gives the shape).
Where it sits is worked out only for wires painted at detail zoom, against the nodes the scene's index
finds near it, and kept until the zoom or a node's place changes (`label_rect`).
"""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QFont, QFontMetricsF, QPainterPath, QPainterPathStroker
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem

from engine.document import Edge

from .node_item import DETAIL_LOD, HEADER, PAD, WIDTH

LABEL_PX = 11  # label text height on screen, at every zoom where node details show
LABEL_PAD = 4.0
LABEL_GAP = 3.0  # screen px between the wire and its label
LABEL_ALONG = (0.5, 0.3, 0.7)  # where on the curve a label may sit (its parameter t), by preference
SIDE_ROOM = PAD  # a label may reach this far into a card's sides below its header (its text starts further in)


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
    path = QPainterPath(p1)
    path.cubicTo(*controls(p1, p2)[1:])
    return path


def controls(p1: QPointF, p2: QPointF) -> tuple[QPointF, QPointF, QPointF, QPointF]:
    """The cubic's four control points (see `curve`)."""
    bend = _bend(p1.x(), p1.y(), p2.x(), p2.y())
    return p1, QPointF(p1.x() + bend, p1.y()), QPointF(p2.x() - bend, p2.y()), p2


def _bend(x1: float, y1: float, x2: float, y2: float) -> float:
    dx = x2 - x1
    return max(40.0, dx * 0.5) if dx >= 0 else min(150.0, max(40.0, abs(y2 - y1) * 0.5))


def spots(p1: QPointF, p2: QPointF) -> tuple[tuple[float, float], ...]:
    """The curve from p1 to p2 at each parameter of LABEL_ALONG, as (x, y) (plain floats: it runs for every
    labelled wire that moves)."""
    x1, y1, x2, y2 = p1.x(), p1.y(), p2.x(), p2.y()
    bend = _bend(x1, y1, x2, y2)
    found = []
    for t in LABEL_ALONG:
        u = 1 - t
        a, b, c, d = u * u * u, 3 * u * u * t, 3 * u * t * t, t * t * t
        found.append((a * x1 + b * (x1 + bend) + c * (x2 - bend) + d * x2, (a + b) * y1 + (c + d) * y2))
    return tuple(found)


def node_text_rects(item) -> tuple[QRectF, QRectF]:
    """What a label must not cover of a node (scene coordinates): its header, where the title and id are,
    and its body less SIDE_ROOM on each side (port names and params start further in)."""
    x, y = item.x(), item.y()
    return (QRectF(x, y, WIDTH, HEADER),
            QRectF(x + SIDE_ROOM, y + HEADER, WIDTH - 2 * SIDE_ROOM, item.height - HEADER))


class WireItem(QGraphicsPathItem):
    """Its item path is just its bounds (a rectangle, kept by Qt in C++, see NodeItem); the curve it
    draws and hit-tests is `_path`."""

    def __init__(self, edge: Edge | None = None):
        super().__init__()
        self.edge = edge
        self.label = ""
        self.refused = False
        self._path = QPainterPath()
        self._ends = (QPointF(), QPointF())
        self._shape: QPainterPath | None = None
        self._label_rect = QRectF()  # around the spot the label is placed at, in screen pixels
        self._spots: tuple[tuple[float, float], ...] = ()  # a labelled wire's curve at LABEL_ALONG
        # By spot: what a label there must not cover (node_text_rects), as of the scene's `placements` count
        # `_near_for`; then where the label is, for (zoom, placements) `_placed_for`.
        self._near: dict[int, list[QRectF]] = {}
        self._near_for = -1
        self._placed: QRectF | None = None
        self._placed_for: tuple[float, int] | None = None
        self.setPen(Qt.PenStyle.NoPen)
        self.setZValue(0 if edge else 3)
        if edge is not None:
            self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)

    def set_ends(self, p1: QPointF, p2: QPointF) -> None:
        self._ends = (p1, p2)
        self._path = curve(p1, p2)
        self._shape = None
        self.place_label_again()
        self._update_bounds()

    def set_label(self, text: str) -> None:
        """The label box at screen scale (measured once per text); the wire's tooltip says it too."""
        if text != self.label:
            self.label = text
            if text:
                metrics = QFontMetricsF(label_font())
                w, h = metrics.horizontalAdvance(text) + 2 * LABEL_PAD, metrics.height() + 2
                self._label_rect = QRectF(-w / 2, -h / 2, w, h)
            else:
                self._label_rect = QRectF()
            self.setToolTip(text)
            self.place_label_again()
            self._update_bounds()
            self.update()

    def _update_bounds(self) -> None:
        """The curve's box, plus the room the label may take at each of its spots (`_reach`)."""
        box = self._path.controlPointRect().adjusted(-3, -3, 3, 3)
        self._spots = spots(*self._ends) if self.label else ()
        if self._spots:
            xs, ys = [x for x, _ in self._spots], [y for _, y in self._spots]
            w, h = self._reach_size()
            box = box.united(QRectF(min(xs) - w, min(ys) - h, max(xs) - min(xs) + 2 * w, max(ys) - min(ys) + 2 * h))
        bounds = QPainterPath()
        bounds.addRect(box)
        self.setPath(bounds)

    def _reach_size(self) -> tuple[float, float]:
        """How far the label may lie from its spot, across and up or down, at any zoom it is drawn at: its
        scene size is 1/zoom of its screen size, largest at DETAIL_LOD."""
        return self._label_rect.width() / 2 / DETAIL_LOD, (self._label_rect.height() + LABEL_GAP) / DETAIL_LOD

    def place_label_again(self) -> None:
        """The wire or a node near it moved: find the label's spot afresh when it is next painted."""
        self._near_for = -1
        if self._placed_for is not None:
            self._placed_for = (self._placed_for[0], -1)

    def label_rect(self, zoom: float) -> QRectF | None:
        """Where the label shows at `zoom`, in scene coordinates (None: hidden). The first of: above the
        wire at each spot of LABEL_ALONG, then below it, that covers no node's text (`node_text_rects`)."""
        scene = self.scene()
        if not self.label or scene is None or zoom < DETAIL_LOD:
            return None  # (below DETAIL_LOD no label is drawn)
        key = (zoom, scene.placements)
        if self._placed_for != key:
            before, same_zoom = self._placed, self._placed_for is not None and self._placed_for[0] == zoom
            self._placed_for, self._placed = key, self._place(zoom, scene)
            if same_zoom and before != self._placed:  # a node came or went near it: this frame repaints only
                scene.update((before or QRectF()).united(self._placed or QRectF()))  # what that exposed
        return self._placed

    def _place(self, zoom: float, scene) -> QRectF | None:
        if self._near_for != scene.placements:
            self._near, self._near_for = {}, scene.placements
        w, h, gap = self._label_rect.width() / zoom, self._label_rect.height() / zoom, LABEL_GAP / zoom
        for i, (x, y) in enumerate(self._spots):
            if i not in self._near:  # looked up once for every zoom
                rw, rh = self._reach_size()
                reach = QRectF(x - rw, y - rh, 2 * rw, 2 * rh)
                self._near[i] = [r for item in scene.nodes_in(reach) for r in node_text_rects(item)]
            near = self._near[i]
            for top in (y - gap - h, y + gap):
                rect = QRectF(x - w / 2, top, w, h)
                if not any(rect.intersects(r) for r in near):
                    return rect
        return None

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
        """The shape label at screen scale (as readable at 50 % as at 200 %), where `label_rect` puts it.
        The view calls this after the nodes are drawn: a label on a wire passing over a node stays readable."""
        rect = self.label_rect(zoom)
        if rect is None:
            return
        theme = self.scene().theme
        painter.save()
        painter.translate(rect.center())
        painter.scale(1 / zoom, 1 / zoom)
        painter.setPen(theme.pen(theme.grid_major))
        painter.setBrush(theme.brush(theme.label_bg))
        painter.drawRoundedRect(self._label_rect, 4, 4)
        painter.setFont(label_font())
        painter.setPen(theme.pen(theme.selected if self.isSelected() else theme.muted))
        painter.drawText(self._label_rect, Qt.AlignmentFlag.AlignCenter, self.label)
        painter.restore()
