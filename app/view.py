"""The canvas view: zoom at the cursor, pan, grid, palette drops, wiring by drag, quick-add.

Gestures become Editor calls (which push undo commands). Wiring: press on a port, drag the rubber
wire, release on a port of the other direction to connect, or on empty canvas to pick a new node
that gets wired in. Panning: middle mouse, or left mouse while Space is held. A node dropped from
the palette onto a wire is inserted into it; Tab with one node selected adds a node wired to its
output, on a free spot the view scrolls to; right click opens canvas_menu's menus; an empty canvas
says how to start.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QEvent, QLineF, QPoint, QPointF, QRect, QRectF, Qt, QTimer
from PySide6.QtGui import QCursor, QFont, QPainter
from PySide6.QtWidgets import QGraphicsView, QToolTip

from engine.document import Edge
from nodes import get_spec

from .canvas_menu import canvas_menu
from .editor import Editor
from .minimap import Minimap
from .node_item import WIDTH, PortItem, card_rect
from .overview import OVERVIEW_ZOOM
from .palette import NODE_MIME
from .quick_add import QuickAdd
from .scene import GRID, GraphScene
from .wire_item import WireItem

MIN_ZOOM, MAX_ZOOM = 0.05, 4.0
CANVAS = 1_000_000.0  # the view's scrollable area; the scene's own rect (and BSP index) stays tight
PORT_SLOP = 5  # px around the cursor that count as "on the port"
NUDGE = 10.0
EMPTY_HINT = "Drag a layer from the palette on the left, or press Tab to add one"
WIRE_SLOP = 6  # px around the drop point that count as "on the wire"
TAB_OFFSET = 60.0  # px between a node and the one Tab adds to its right
KEEP_MARGIN = 40  # px kept between a node scrolled into view and the canvas edge
POPUP_INSET = 6  # px between the quick-add popup and the canvas edge, at the least (its frame included)
TYPICAL_CARD = QRectF(-10, -5, WIDTH + 20, 130)  # a new node's extent before its type is chosen


class GraphView(QGraphicsView):
    def __init__(self, scene: GraphScene, editor: Editor, parent=None):
        super().__init__(scene, parent)
        self.editor = editor
        self.minimap = Minimap(self)
        self._minimap_timer = QTimer(self, singleShot=True, interval=0)  # one update per burst of edits
        self._minimap_timer.timeout.connect(self.minimap.place)
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSceneRect(QRectF(-CANVAS / 2, -CANVAS / 2, CANVAS, CANVAS))
        self.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontAdjustForAntialiasing)  # rects have margins
        self.setCacheMode(QGraphicsView.CacheModeFlag.CacheBackground)  # the grid scrolls as a pixmap
        self.setAcceptDrops(True)
        self.quick_add = QuickAdd(self)
        self.quick_add.chosen.connect(self._quick_add_chosen)
        self._pending: tuple[QPointF, tuple[str, str, bool] | None, bool] = (QPointF(), None, False)
        self._wire: WireItem | None = None
        self._wire_from: PortItem | None = None
        self._pan_from: QPoint | None = None
        self._space = False
        self._auto_frame = False
        editor.doc.subscribe(self._on_document_event)
        scene.overview_refreshed.connect(self._on_overview_refreshed)

    def _on_overview_refreshed(self) -> None:
        if self.scene().overview_mode:
            self.viewport().update()
        self._minimap_timer.start()

    def _on_document_event(self, event: str, **_) -> None:
        if event in ("node_added", "node_removed", "reset") and len(self.editor.doc.nodes) <= 1:
            self.viewport().update()  # the empty-canvas hint appears or goes as a whole
        self._minimap_timer.start()

    def take_over(self) -> None:
        """The user moved the view: stop re-framing it on resize."""
        self._auto_frame = False

    def scrollContentsBy(self, dx: int, dy: int) -> None:
        super().scrollContentsBy(dx, dy)
        self._minimap_timer.start()

    # -- zoom and framing -----------------------------------------------------------------------
    def zoom(self) -> float:
        return self.transform().m11()

    def wheelEvent(self, event) -> None:
        self._auto_frame = False
        factor = 1.0015 ** event.angleDelta().y()
        factor = max(MIN_ZOOM / self.zoom(), min(MAX_ZOOM / self.zoom(), factor))
        # Keep the scene point under the wheel event still. (AnchorUnderMouse follows the last mouse
        # *move*, which a wheel on a touchpad or a fresh window may not have sent.)
        anchor = event.position().toPoint()
        before = self.mapToScene(anchor)
        self.scale(factor, factor)
        shift = self.mapToScene(anchor) - before
        centre = self.mapToScene(self.viewport().rect().center())
        self.centerOn(centre - shift)
        self.zoom_changed()

    def reset_zoom(self) -> None:
        centre = self.mapToScene(self.viewport().rect().center())
        self.resetTransform()
        self.centerOn(centre)
        self.zoom_changed()

    def zoom_changed(self) -> None:
        """Switch between drawing items and drawing the overview (app/overview.py) at OVERVIEW_ZOOM."""
        self.scene().set_overview(self.zoom() < OVERVIEW_ZOOM)
        self.viewport().update()
        self._minimap_timer.start()

    def frame_on_resize(self) -> None:
        """Frame the graph now and again whenever the view changes size, until the user zooms or pans
        (a window's final size arrives only after it is shown)."""
        self._auto_frame = True
        self.frame_all()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._auto_frame:
            self.frame_all()
        self.minimap.place()

    def frame_all(self) -> None:
        rect = self.scene().itemsBoundingRect()
        if rect.isNull():
            self.resetTransform()
            self.centerOn(0, 0)
            self.zoom_changed()
            return
        self.fitInView(rect.adjusted(-40, -40, 40, 40), Qt.AspectRatioMode.KeepAspectRatio)
        if self.zoom() > 1.0:
            self.reset_zoom()
            self.centerOn(rect.center())
        elif self.zoom() < MIN_ZOOM:
            self.scale(MIN_ZOOM / self.zoom(), MIN_ZOOM / self.zoom())
        self.zoom_changed()

    def auto_layout(self) -> None:
        """Lay the graph out (one undo step, between frames on a big graph) and frame the result."""
        self.editor.start_auto_layout(self.frame_all)

    def center_on_node(self, node_id: str) -> None:
        item = self.scene().items_by_id.get(node_id)
        if item is not None:
            self.centerOn(item.sceneBoundingRect().center())

    # -- background -----------------------------------------------------------------------------
    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:
        theme = self.scene().theme
        painter.fillRect(rect, theme.color(theme.background))
        step = GRID if GRID * self.zoom() >= 8 else GRID * 5
        if step * self.zoom() < 8:
            return
        left, top = math.floor(rect.left() / step) * step, math.floor(rect.top() / step) * step
        minor, major = [], []
        x = left
        while x < rect.right():
            (major if round(x / GRID) % 5 == 0 else minor).append(QLineF(x, rect.top(), x, rect.bottom()))
            x += step
        y = top
        while y < rect.bottom():
            (major if round(y / GRID) % 5 == 0 else minor).append(QLineF(rect.left(), y, rect.right(), y))
            y += step
        painter.setPen(theme.pen(theme.grid))
        painter.drawLines(minor)
        painter.setPen(theme.pen(theme.grid_major))
        painter.drawLines(major)

    # -- mouse: panning, wiring -----------------------------------------------------------------
    def port_at(self, pos: QPoint) -> PortItem | None:
        area = QRect(pos.x() - PORT_SLOP, pos.y() - PORT_SLOP, 2 * PORT_SLOP + 1, 2 * PORT_SLOP + 1)
        return next((i for i in self.items(area) if isinstance(i, PortItem)), None)

    def mousePressEvent(self, event) -> None:
        self._auto_frame = False  # the user has taken over the view
        pos = event.position().toPoint()
        pan = event.button() == Qt.MouseButton.MiddleButton or (
            event.button() == Qt.MouseButton.LeftButton and self._space)
        if pan:
            self._pan_from = pos
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            return
        port = self.port_at(pos) if event.button() == Qt.MouseButton.LeftButton else None
        if port is not None:
            self._wire_from = port
            self._wire = WireItem()
            self.scene().addItem(self._wire)
            self._drag_wire_to(self.mapToScene(pos))
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:
        pos = event.position().toPoint()
        if self._pan_from is not None:
            delta = pos - self._pan_from
            self._pan_from = pos
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - delta.x())
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - delta.y())
            return
        if self._wire is not None:
            self._drag_wire_to(self.mapToScene(pos))
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:
        pos = event.position().toPoint()
        if self._pan_from is not None:
            self._pan_from = None
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor if self._space else Qt.CursorShape.ArrowCursor)
            return
        if self._wire is not None:
            self.scene().removeItem(self._wire)
            start, self._wire, self._wire_from = self._wire_from, None, None
            self._finish_wire(start, self.port_at(pos), pos)
            return
        super().mouseReleaseEvent(event)

    def _drag_wire_to(self, mouse: QPointF) -> None:
        anchor = self._wire_from.scenePos()
        if self._wire_from.is_output:
            self._wire.set_ends(anchor, mouse)
        else:
            self._wire.set_ends(mouse, anchor)

    def _finish_wire(self, start: PortItem, end: PortItem | None, pos: QPoint) -> None:
        if end is None:
            self.open_quick_add(self.mapToScene(pos), (start.node_id, start.name, start.is_output))
            return
        if end is start:
            return
        if end.is_output == start.is_output:
            kind = "outputs" if start.is_output else "inputs"
            reason = f"{start.node_id}.{start.name} and {end.node_id}.{end.name} are both {kind} — " \
                     "connect an output (right side) to an input (left side)"
            self.editor.message.emit(f"Cannot connect: {reason}")
        else:
            out, inp = (start, end) if start.is_output else (end, start)
            reason = self.editor.connect(Edge(out.node_id, out.name, inp.node_id, inp.name))
        if reason:
            QToolTip.showText(self.mapToGlobal(pos), reason, self)

    def mouseDoubleClickEvent(self, event) -> None:
        if self.itemAt(event.position().toPoint()) is None:
            self.open_quick_add(self.mapToScene(event.position().toPoint()))
            return
        super().mouseDoubleClickEvent(event)

    def contextMenuEvent(self, event) -> None:
        canvas_menu(self, event.pos()).exec(event.globalPos())

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        if self.scene().overview_mode:
            self.scene().overview.paint(painter, rect, self.zoom())
        else:
            for wire in self.scene().labels_due:  # the wires painted in this frame, labels on top of the nodes
                wire.paint_label(painter, self.zoom())
        self.scene().labels_due.clear()
        if self.scene().items_by_id:
            return
        painter.save()
        painter.resetTransform()  # screen pixels: the hint reads the same at every zoom
        font = QFont()
        font.setPointSizeF(13)
        painter.setFont(font)
        painter.setPen(self.scene().theme.color(self.scene().theme.muted))
        painter.drawText(self.viewport().rect(), Qt.AlignmentFlag.AlignCenter, EMPTY_HINT)
        painter.restore()

    # -- keyboard ---------------------------------------------------------------------------
    def event(self, event) -> bool:
        # Tab would move focus to the next widget before keyPressEvent sees it.
        if event.type() == QEvent.Type.KeyPress and event.key() == Qt.Key.Key_Tab:
            self.quick_add_from_selection()
            return True
        return super().event(event)

    def quick_add_from_selection(self) -> None:
        """Tab: with one node selected, a node wired to its first output, placed to its right; else a node
        at the cursor (the middle of the canvas when the cursor is off it). Either lands on a free spot
        (scene.free_spot), and the view scrolls to it before the popup opens there."""
        selected = self.scene().selected_node_ids()
        item = self.scene().items_by_id.get(selected[0]) if len(selected) == 1 else None
        spec = get_spec(self.editor.doc.nodes[selected[0]].type_id) if item is not None else None
        if spec is not None and spec.outputs:
            start, port = item.scenePos() + QPointF(WIDTH + TAB_OFFSET, 0), (item.node_id, spec.outputs[0].name, True)
        else:
            cursor = self.viewport().mapFromGlobal(QCursor.pos())
            inside = self.viewport().rect().contains(cursor)
            start, port = self.mapToScene(cursor if inside else self.viewport().rect().center()), None
        self.open_quick_add(start, port, find_room=True)

    def keyPressEvent(self, event) -> None:
        arrows = {Qt.Key.Key_Left: (-NUDGE, 0), Qt.Key.Key_Right: (NUDGE, 0), Qt.Key.Key_Up: (0, -NUDGE),
                  Qt.Key.Key_Down: (0, NUDGE)}
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
        elif event.key() in arrows and self.scene().selected_node_ids():
            self.editor.nudge(*arrows[event.key()])
        else:
            super().keyPressEvent(event)

    def keyReleaseEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            self.viewport().setCursor(Qt.CursorShape.ArrowCursor)
        else:
            super().keyReleaseEvent(event)

    # -- quick add ----------------------------------------------------------------------------
    def open_quick_add(self, scene_pos: QPointF, port: tuple[str, str, bool] | None = None,
                       find_room: bool = False) -> None:
        """Offer node types at `scene_pos`; with `port`, only types that can be wired to it. `find_room`
        (Tab): the node goes to the nearest free spot from there for its type's size, and the popup opens on
        the one a typical node would take, scrolled into sight first. The popup always opens inside the canvas."""
        self._pending = (scene_pos, port, find_room)
        if find_room:
            scene_pos = self.scene().free_spot(scene_pos, TYPICAL_CARD)
        if port is None:
            accepts = lambda spec: True
        elif port[2]:
            accepts = lambda spec: bool(spec.inputs)
        else:
            accepts = lambda spec: bool(spec.outputs)
        card = TYPICAL_CARD.translated(scene_pos)
        if find_room and not self._visible_scene_rect().contains(card):
            self.take_over()
            self.ensureVisible(card, KEEP_MARGIN, KEEP_MARGIN)
        self.quick_add.open_at(self._popup_point(self.mapFromScene(scene_pos)), accepts)

    def _popup_point(self, at: QPoint) -> QPoint:
        """The popup's global top-left for viewport point `at`: moved in so that all of it lies inside the
        viewport (as much as fits), wherever `at` is."""
        size, inset = self.quick_add.size(), POPUP_INSET
        area = self.viewport().rect().adjusted(inset, inset, -inset, -inset)
        x = max(area.left(), min(at.x(), area.right() - size.width()))
        y = max(area.top(), min(at.y(), area.bottom() - size.height()))
        return self.viewport().mapToGlobal(QPoint(x, y))

    def _visible_scene_rect(self) -> QRectF:
        return self.mapToScene(self.viewport().rect()).boundingRect()

    def keep_in_view(self, node_id: str | None) -> None:
        """Scroll just enough for the node to be on screen, with a margin (an added node must not land unseen)."""
        item = self.scene().items_by_id.get(node_id) if node_id else None
        if item is not None and not self._visible_scene_rect().contains(item.sceneBoundingRect()):
            self.take_over()
            self.ensureVisible(item.sceneBoundingRect(), KEEP_MARGIN, KEEP_MARGIN)

    def _quick_add_chosen(self, type_id: str) -> None:
        scene_pos, port, find_room = self._pending
        if find_room:
            scene_pos = self.scene().free_spot(scene_pos, card_rect(type_id))
        if port is None:
            node_id = self.editor.add_node(type_id, scene_pos)
        else:
            node_id = self.editor.add_and_connect(type_id, scene_pos, port)
        self.keep_in_view(node_id)

    # -- drops from the palette -------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasFormat(NODE_MIME):
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event) -> None:
        if event.mimeData().hasFormat(NODE_MIME):
            event.acceptProposedAction()
        else:
            super().dragMoveEvent(event)

    def dropEvent(self, event) -> None:
        if not event.mimeData().hasFormat(NODE_MIME):
            super().dropEvent(event)
            return
        type_id = bytes(event.mimeData().data(NODE_MIME)).decode()
        pos = event.position().toPoint()
        wire = self.wire_at(pos)
        if wire is None or self.editor.insert_on_wire(type_id, self.mapToScene(pos), wire.edge) is None:
            self.editor.add_node(type_id, self.mapToScene(pos))
        event.acceptProposedAction()

    def wire_at(self, pos: QPoint) -> WireItem | None:
        """The document wire under view position `pos` (not the rubber wire of a drag)."""
        area = QRect(pos.x() - WIRE_SLOP, pos.y() - WIRE_SLOP, 2 * WIRE_SLOP + 1, 2 * WIRE_SLOP + 1)
        return next((i for i in self.items(area) if isinstance(i, WireItem) and i.edge is not None), None)
