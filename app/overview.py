"""Zoomed out, the whole graph is drawn as one picture: coloured blocks, straight wires, big titles.

Below `OVERVIEW_ZOOM` node text is unreadable, yet painting every node, port and wire item costs
one Python `paint()` call each — about 20,000 calls a frame for a 5,000-node graph, over a second.
So the scene marks its items as having no contents (Qt then skips their `paint()`, while selection,
dragging and hit-testing keep working) and the view draws this overview instead: one painter path
per node colour, one for all wires, rebuilt only after the graph changed. Titles are drawn, large,
once a block is big enough on screen to carry one.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QPainter, QPainterPath

from .node_item import WIDTH, fitted_font

OVERVIEW_ZOOM = 0.3  # below this the canvas shows the overview
TITLE_PX = 13.0  # on-screen height of an overview title
TITLE_MIN_BLOCK_PX = 18.0  # a block shorter than this on screen carries no title
MAX_TITLES = 400  # more blocks than this on screen: no titles (they would not fit anyway)


class Overview:
    def __init__(self, scene):
        self.scene = scene
        self.dirty = True
        self._blocks: dict[str, list[QRectF]] = {}  # colour → the blocks drawn in it
        self._wires = QPainterPath()
        self._rects: list[tuple[QRectF, object]] = []  # (block, node item) for titles
        self._rect_of: dict[object, QRectF] = {}  # node item → its block, for the selection

    def invalidate(self) -> None:
        self.dirty = True

    def _build(self) -> None:
        theme, scene = self.scene.theme, self.scene
        self._blocks, self._rects, self._rect_of = {}, [], {}
        for item in scene.items_by_id.values():
            rect = QRectF(item.pos().x(), item.pos().y(), WIDTH, item.height)
            colour = theme.error if item.problems else theme.category_color(item.category).name()
            self._blocks.setdefault(colour, []).append(rect)
            self._rects.append((rect, item))
            self._rect_of[item] = rect
        wires = QPainterPath()
        for edge in scene.wires:
            src, dst = scene.items_by_id.get(edge.src), scene.items_by_id.get(edge.dst)
            if src is not None and dst is not None:
                wires.moveTo(src.port_pos(edge.src_port, True))
                wires.lineTo(dst.port_pos(edge.dst_port, False))
        self._wires, self.dirty = wires, False

    def paint(self, painter: QPainter, exposed: QRectF, zoom: float) -> None:
        if self.dirty:
            self._build()
        theme = self.scene.theme
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)  # blocks and lines at a few pixels each
        painter.setPen(theme.pen(theme.wire))  # cosmetic: one pixel at any zoom
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self._wires)
        painter.setPen(Qt.PenStyle.NoPen)
        for colour, rects in self._blocks.items():
            painter.setBrush(theme.brush(colour))
            painter.drawRects(rects)
        selected = [self._rect_of[item] for item in self.scene.selectedItems() if item in self._rect_of]
        if selected:
            painter.setPen(theme.pen(theme.selected, 2.0))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRects(selected)
        if WIDTH * zoom >= 2 * TITLE_MIN_BLOCK_PX:
            self._paint_titles(painter, exposed, zoom)
        painter.restore()

    def _paint_titles(self, painter: QPainter, exposed: QRectF, zoom: float) -> None:
        shown = [(rect, item) for rect, item in self._rects
                 if rect.height() * zoom >= TITLE_MIN_BLOCK_PX and rect.intersects(exposed)]
        if len(shown) > MAX_TITLES:
            return
        painter.setPen(self.scene.theme.pen("#ffffff" if self.scene.theme.dark else "#111111"))
        for rect, item in shown:
            painter.setFont(fitted_font(item.title, rect.width() * 0.92, TITLE_PX / zoom))
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, item.title)

