"""Zoomed out, the whole graph is drawn as one picture: coloured blocks, straight wires, big titles.

Below `OVERVIEW_ZOOM` node text is unreadable, yet painting every node, port and wire item costs
one Python `paint()` call each — about 20,000 calls a frame for a 5,000-node graph, over a second.
So the scene marks its items as having no contents (Qt then skips their `paint()`, while selection,
dragging and hit-testing keep working) and the view draws this overview instead: one batch of
rectangles per node colour, one of lines for all wires, re-read only where the graph changed.
Titles are drawn, large, once a block is big enough on screen to carry one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from PySide6.QtCore import QLineF, QRectF, Qt
from PySide6.QtGui import QPainter

from engine.document import Edge
from engine.steps import Steps, run_steps

from .node_item import WIDTH, NodeItem, fitted_font
from .sliced import SlicedRun

OVERVIEW_ZOOM = 0.3  # below this the canvas shows the overview
TITLE_PX = 13.0  # on-screen height of an overview title
TITLE_MIN_BLOCK_PX = 18.0  # a block shorter than this on screen carries no title
MAX_TITLES = 400  # more blocks than this on screen: no titles (they would not fit anyway)
REFRESH_AT_ONCE = 1000  # nodes to re-read: more are re-read between turns of the event loop …
REFRESH_STEP = 500  # … this many at a time
LINE_STEP = 1000  # wires drawn afresh between two yields


@dataclass
class _Picture:
    blocks: dict[str, list[QRectF]] = field(default_factory=dict)  # colour → the blocks drawn in it
    rect_of: dict[str, QRectF] = field(default_factory=dict)  # node id → its block (selection, titles)
    lines: list[QLineF] = field(default_factory=list)  # the wires, straight
    bounds: QRectF = field(default_factory=QRectF)


def _take(pending: set[str], count: int) -> list[str]:
    return [pending.pop() for _ in range(min(count, len(pending)))]


class Overview:
    """The picture is kept per node (block and colour) and per wire (a line), and re-read only for the
    nodes the scene names in `invalidate`: an edit of one node in a 5,000-node graph re-reads one node,
    where re-reading them all took about 80 ms — a pause after every edit while zoomed out or while the
    minimap shows."""

    def __init__(self, scene):
        self.scene = scene
        self._rect_of: dict[str, QRectF] = {}  # node id → its block
        self._box_of: dict[str, tuple[float, float, float, float]] = {}  # … as left, top, right, bottom
        self._by_colour: dict[str, dict[str, QRectF]] = {}  # colour → node id → block
        self._colour_of: dict[str, str] = {}
        self._lines: dict[Edge, QLineF] = {}
        self._stale: set[str] | None = None  # nodes to re-read before the next paint; None: every node
        self._moved: set[str] = set()  # nodes whose place alone changed
        self._recoloured: set[str] = set()  # nodes whose colour alone may have changed
        self._picture: _Picture | None = None  # the blocks gathered for painting; None: to be gathered
        self._shown: _Picture | None = None  # the last picture gathered: painted while a new one is read
        self._refreshing = SlicedRun(scene)

    def invalidate(self, node_ids: Iterable[str] | None = None) -> None:
        """The picture changed: the `node_ids` moved, appeared, went or changed colour (None: anything may
        have; an empty list: only wires came or went)."""
        if node_ids is None:
            self._stale = None
        elif self._stale is not None:
            self._stale.update(node_ids)
        self._picture = None

    def moved(self, node_ids: Iterable[str]) -> None:
        """These nodes moved, nothing else (an auto-layout moves them all: their colours stay)."""
        self._moved.update(node_ids)
        self._picture = None

    def recolour(self, node_ids: Iterable[str]) -> None:
        """These nodes may have changed colour (found or lost a problem), nothing else: cutting a big graph in
        two turns thousands of nodes red at once, and re-reading their geometry too took a 100 ms pause."""
        self._recoloured.update(node_ids)
        self._picture = None

    def bounds(self) -> QRectF:
        """The rectangle holding every node (null when there are none)."""
        return self._current().bounds

    def _current(self) -> _Picture:
        """The picture to paint. Re-reading more than REFRESH_AT_ONCE nodes (an auto-layout moves them all)
        happens between turns of the event loop, the last picture standing in meanwhile; the scene then
        says `overview_refreshed`."""
        if self._picture is None and not self._refreshing.running:
            if self._shown is not None and self._pending() > REFRESH_AT_ONCE:
                self._refreshing.start(self._refresh_steps(), self._refreshed)
            else:
                self._picture = self._shown = run_steps(self._refresh_steps())
        return self._picture or self._shown or _Picture()

    def _pending(self) -> int:
        if self._stale is None:
            return len(self.scene.items_by_id)
        return len(self._stale) + len(self._moved) + len(self._recoloured)

    def _refreshed(self, picture: _Picture) -> None:
        self._picture = self._shown = picture
        self.scene.overview_refreshed.emit()

    def _refresh_steps(self) -> Steps[_Picture]:
        scene = self.scene
        while self._stale is None or self._stale or self._moved or self._recoloured:
            if self._stale is None:
                self._rect_of, self._box_of, self._by_colour, self._colour_of, self._lines = {}, {}, {}, {}, {}
                self._stale = set(scene.items_by_id)
            for node_id in _take(self._stale, REFRESH_STEP):  # came, went or changed: read afresh
                self._forget(node_id)
                if (item := scene.items_by_id.get(node_id)) is not None:
                    self._place(node_id, item, self._colour(item))
            for node_id in _take(self._moved, REFRESH_STEP):  # same colour, new place
                if node_id in self._colour_of and (item := scene.items_by_id.get(node_id)) is not None:
                    colour = self._colour_of[node_id]
                    self._forget(node_id)
                    self._place(node_id, item, colour)
            for node_id in _take(self._recoloured, REFRESH_STEP):
                if node_id in self._colour_of and (item := scene.items_by_id.get(node_id)) is not None:
                    colour = self._colour(item)
                    if colour != self._colour_of[node_id]:
                        del self._by_colour[self._colour_of[node_id]][node_id]
                        self._colour_of[node_id] = colour
                        self._by_colour.setdefault(colour, {})[node_id] = self._rect_of[node_id]
            if self._stale or self._moved or self._recoloured:
                yield
        missing = [edge for edge in scene.wires if edge not in self._lines]
        for start in range(0, len(missing), LINE_STEP):
            if start:
                yield
            for edge in missing[start:start + LINE_STEP]:
                if (line := self._line(edge)) is not None:
                    self._lines[edge] = line
        return self._gather()

    def _forget(self, node_id: str) -> None:
        self._rect_of.pop(node_id, None)
        self._box_of.pop(node_id, None)
        if (colour := self._colour_of.pop(node_id, None)) is not None:
            del self._by_colour[colour][node_id]
        for edge in self.scene.wires_of(node_id):
            self._lines.pop(edge, None)

    def _place(self, node_id: str, item: NodeItem, colour: str) -> None:
        x, y = item.x(), item.y()
        rect = self._rect_of[node_id] = QRectF(x, y, WIDTH, item.height)
        self._box_of[node_id] = (x, y, x + WIDTH, y + item.height)
        self._colour_of[node_id] = colour
        self._by_colour.setdefault(colour, {})[node_id] = rect

    def _colour(self, item: NodeItem) -> str:
        theme = self.scene.theme
        return theme.error if item.problems else theme.category_color(item.category).name()

    def _line(self, edge: Edge) -> QLineF | None:
        """The wire straight from port to port (None while an end is not read yet)."""
        box_of, items = self._box_of, self.scene.items_by_id
        if edge.src not in box_of or edge.dst not in box_of:
            return None
        (x1, y1, *_), (x2, y2, *_) = box_of[edge.src], box_of[edge.dst]
        (dx1, dy1) = items[edge.src].port_offset(edge.src_port, True)
        (dx2, dy2) = items[edge.dst].port_offset(edge.dst_port, False)
        return QLineF(x1 + dx1, y1 + dy1, x2 + dx2, y2 + dy2)

    def _gather(self) -> _Picture:
        scene, boxes = self.scene, self._box_of.values()
        picture = _Picture(blocks={colour: list(blocks.values()) for colour, blocks in self._by_colour.items()},
                           rect_of=dict(self._rect_of))  # its own: it is painted while the next one is read
        if boxes:
            left, top = min(b[0] for b in boxes), min(b[1] for b in boxes)
            picture.bounds = QRectF(left, top, max(b[2] for b in boxes) - left, max(b[3] for b in boxes) - top)
        lines, cached = {}, self._lines
        for edge in scene.wires:
            line = cached.get(edge) or self._line(edge)
            if line is not None:
                lines[edge] = line
        self._lines = lines
        picture.lines = list(lines.values())
        return picture

    def paint(self, painter: QPainter, exposed: QRectF, zoom: float) -> None:
        picture = self._current()
        theme = self.scene.theme
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)  # blocks and lines at a few pixels each
        painter.setPen(theme.pen(theme.wire))  # cosmetic: one pixel at any zoom
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawLines(picture.lines)
        painter.setPen(Qt.PenStyle.NoPen)
        for colour, rects in picture.blocks.items():
            painter.setBrush(theme.brush(colour))
            painter.drawRects(rects)
        selected = [picture.rect_of[item.node_id] for item in self.scene.selectedItems()
                    if isinstance(item, NodeItem) and item.node_id in picture.rect_of]
        if selected:
            painter.setPen(theme.pen(theme.selected, 2.0))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRects(selected)
        if WIDTH * zoom >= 2 * TITLE_MIN_BLOCK_PX:
            self._paint_titles(painter, picture, exposed, zoom)
        painter.restore()

    def _paint_titles(self, painter: QPainter, picture: _Picture, exposed: QRectF, zoom: float) -> None:
        items = self.scene.items_by_id  # (a node deleted since the picture was gathered has no title)
        shown = [(rect, items[node_id]) for node_id, rect in picture.rect_of.items()
                 if node_id in items and rect.height() * zoom >= TITLE_MIN_BLOCK_PX and rect.intersects(exposed)]
        if len(shown) > MAX_TITLES:
            return
        painter.setPen(self.scene.theme.pen("#ffffff" if self.scene.theme.dark else "#111111"))
        for rect, item in shown:
            painter.setFont(fitted_font(item.title, rect.width() * 0.92, TITLE_PX / zoom))
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, item.title)

