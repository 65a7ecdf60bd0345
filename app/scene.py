"""The canvas scene: a mirror of the GraphDocument, kept in step by the document's events.

`items[node_id]` and `wires[edge]` are views of document data. The scene never edits the
document itself: a finished drag is announced with `moves_finished` and becomes a MoveCommand
elsewhere. Validation runs on a zero-delay timer after structural changes, so a paste of 500 nodes
validates once, in slices of a few milliseconds between turns of the event loop (a big graph's
takes longer than a frame); the result colours nodes, labels wires with their shapes and is
re-broadcast with `validated` for the panels.

Index choice: the BSP tree (Qt's default) is kept deliberately. Big graphs are mostly static while
the user pans and zooms, and the BSP makes both painting the exposed region and hit-testing
O(log n); only the items of a dragged selection are re-indexed.

Zoomed out (`overview_mode`, set by the view) the items keep their geometry but are flagged as
having no contents, so Qt skips their Python `paint()`; the view draws `overview` instead
(app/overview.py), which the scene invalidates whenever the picture changes.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Generator
from functools import cache

from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtWidgets import QGraphicsScene

from engine.document import Edge, GraphDocument
from engine.steps import Steps, run_steps
from engine.validate import ValidationReport, revalidate, validation_steps
from nodes import format_shape

from .node_item import NodeItem, tuning_of
from .overview import Overview
from .sliced import SlicedRun
from .theme import Theme
from .wire_item import WireItem

GRID = 20.0
SHOW_STEP = 200  # nodes or wires re-labelled between two yields
BIG_GRAPH_NODES = 1000  # above this, `current_report` does not validate on the spot
PLACE_STEP = 300  # nodes placed between two yields …
ROUTE_STEP = 100  # … wires re-routed …
MOVE_AT_ONCE = 500  # … when more nodes than this moved at once
INDEX_OFF_ABOVE = 100  # moving more nodes than this, the BSP index is rebuilt once after
FREE_GAP = 30.0  # px kept clear around a node placed by `free_spot`
FREE_STEP = 2 * GRID  # `free_spot` tries spots this far apart …
FREE_REACH = 30  # … this many steps right and down


class GraphScene(QGraphicsScene):
    validated = Signal(object)  # ValidationReport
    moves_finished = Signal(dict)  # node_id -> (old position, new position)
    overview_refreshed = Signal()  # the overview re-read many nodes between frames: paint it again

    def __init__(self, doc: GraphDocument, theme: Theme, parent=None):
        super().__init__(parent)
        self.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.BspTreeIndex)
        self.doc, self.theme = doc, theme
        self.items_by_id: dict[str, NodeItem] = {}
        self.wires: dict[Edge, WireItem] = {}
        self._wires_of: dict[str, set[Edge]] = defaultdict(set)
        self.report = ValidationReport()  # the graph's: panels, stats and wiring read it
        self.shown_report = self.report  # what the canvas draws: the graph's, or an open block's
        self._structure_changed = True  # False while only params changed since the last validation …
        self._edited: set[str] = set()  # … of these nodes: then it is incremental (engine.validate.revalidate)
        self.snap_to_grid = False
        self._drag_start: list[str] = []
        self.revision = 0  # counts the document's events: work begun at one revision knows if it is stale
        self.placements = 0  # counts node items added, removed or moved: wire labels re-check their spot after one
        self.overview = Overview(self)
        self.labels_due: list[WireItem] = []  # wires painted this frame whose labels the view draws last
        self.overview_mode = False
        self._timer = QTimer(self, singleShot=True, interval=0)
        self._timer.timeout.connect(self._start_validation)
        self._unplaced: dict[str, tuple[float, float]] = {}  # nodes moved en masse, placed a slice at a time …
        self._unrouted: set[Edge] = set()  # … and their wires, re-routed
        self._moving = SlicedRun(self)
        self._validating = SlicedRun(self)  # the validation under way, a slice per turn of the event loop
        doc.subscribe(self._on_event)
        self._on_reset()

    # -- document events -------------------------------------------------------------------
    def _on_event(self, event: str, **payload) -> None:
        self.revision += 1
        if event != "nodes_moved":
            self.finish_moves()  # what follows may read where the nodes are
        if event in ("node_added", "node_removed", "edge_added", "edge_removed", "reset"):
            self._structure_changed = True  # the next validation is a full one
        handler = getattr(self, f"_on_{event}", None)
        if handler is not None:
            handler(**payload)

    def _on_node_added(self, node_id: str) -> None:
        self.placements += 1
        item = self._make_item(node_id)
        item.setPos(*self.doc.nodes[node_id].position)
        item.set_tuning(*tuning_of(self.doc.training, node_id))
        _set_contentless(item, self.overview_mode)
        self.addItem(item)
        self.items_by_id[node_id] = item
        self.overview.invalidate([node_id])
        self.schedule_validation()

    def _on_training_changed(self, key: str, value) -> None:
        if key in ("frozen", "lr_scale"):  # fine-tuning marks on the nodes
            for node_id, item in self.items_by_id.items():
                item.set_tuning(*tuning_of(self.doc.training, node_id))

    def _make_item(self, node_id: str) -> NodeItem:
        node = self.doc.nodes[node_id]
        return NodeItem(node_id, node.type_id, node.params)

    def _on_node_removed(self, node_id: str) -> None:
        self.placements += 1
        self.removeItem(self.items_by_id.pop(node_id))
        self.overview.invalidate([node_id])
        self._wires_of.pop(node_id, None)
        self.schedule_validation()

    def _on_edge_added(self, edge: Edge) -> None:
        wire = WireItem(edge)
        self.wires[edge] = wire
        self._wires_of[edge.src].add(edge)
        self._wires_of[edge.dst].add(edge)
        self._place_wire(wire)
        _set_contentless(wire, self.overview_mode)
        self.addItem(wire)
        self.overview.invalidate(())
        self.schedule_validation()

    def _on_edge_removed(self, edge: Edge) -> None:
        self.removeItem(self.wires.pop(edge))
        self._wires_of[edge.src].discard(edge)
        self._wires_of[edge.dst].discard(edge)
        self.overview.invalidate(())
        self.schedule_validation()

    def _on_param_changed(self, node_id: str, name: str, value) -> None:
        self.items_by_id[node_id].set_params(self.doc.nodes[node_id].params)
        self._edited.add(node_id)
        self.schedule_validation()

    def _on_node_moved(self, node_id: str, position: tuple[float, float]) -> None:
        item = self.items_by_id[node_id]
        if (item.x(), item.y()) != position:
            item.setPos(*position)
            self.placements += 1
            self.route_wires_of(item)

    def _on_nodes_moved(self, positions: dict[str, tuple[float, float]]) -> None:
        """Many nodes moved at once (a layout, its undo): place them, then re-route each of their wires once
        — between turns of the event loop when there are many (10,000 nodes took 50 ms to place, and wires
        about 20 µs each). Until done, the scene finishes them first whenever anything else happens."""
        self._unplaced.update(positions)
        if self._moving.running:
            return  # it takes these along
        if len(self._unplaced) <= MOVE_AT_ONCE:
            run_steps(self._moving_steps())
        else:
            self._moving.start(self._moving_steps(), lambda _: None, begin_now=False)

    def finish_moves(self) -> None:
        """Place every node and re-route every wire still waiting, at once."""
        if self._unplaced or self._unrouted:
            self._moving.cancel()
            run_steps(self._moving_steps())

    def _moving_steps(self) -> Steps[None]:
        """Place the nodes waiting in `_unplaced`, then re-route the wires waiting in `_unrouted`, a slice at a
        time. Moving many, the BSP index is off meanwhile and rebuilt once after: kept on, every move updates
        a tree sized for where the nodes were (O(n) each when they spread out, as an auto-layout makes them
        do); moving a few, switching it off and on would cost more than it saves."""
        many = len(self._unplaced) > INDEX_OFF_ABOVE
        if many:
            self.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.NoIndex)
        while self._unplaced:
            placed = [self._unplaced.popitem() for _ in range(min(PLACE_STEP, len(self._unplaced)))]
            self.placements += 1
            for node_id, position in placed:
                item = self.items_by_id.get(node_id)
                if item is not None and (item.x(), item.y()) != position:
                    item.setPos(*position)
                    self._unrouted.update(self._wires_of.get(node_id, ()))
            self.overview.moved(node_id for node_id, _ in placed)
            if self._unplaced:
                yield
        while self._unrouted:
            for edge in [self._unrouted.pop() for _ in range(min(ROUTE_STEP, len(self._unrouted)))]:
                if edge in self.wires:
                    self._place_wire(self.wires[edge])
            if self._unrouted:
                yield
        if many:
            self.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.BspTreeIndex)

    def _on_reset(self) -> None:
        """A new document (open, new, template) or another block opened: every item afresh. The BSP index is
        off while they are added and built once after, for where they all are (see `_on_nodes_moved`)."""
        self.revision += 1
        self.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.NoIndex)
        self._moving.cancel()
        self._unplaced.clear()
        self._unrouted.clear()
        try:
            self.clear()
            self.items_by_id.clear()
            self.wires.clear()
            self._wires_of.clear()
            for node_id in self.doc.nodes:
                self._on_node_added(node_id)
            for edge in self.doc.edges:
                self._on_edge_added(edge)
        finally:
            self.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.BspTreeIndex)
        self.overview.invalidate()
        self.schedule_validation()

    # -- geometry ---------------------------------------------------------------------------
    def set_overview(self, on: bool) -> None:
        """Zoomed out: items stop painting themselves and the view draws the overview instead."""
        if on == self.overview_mode:
            return
        self.overview_mode = on
        for item in (*self.items_by_id.values(), *self.wires.values()):
            _set_contentless(item, on)

    def route_wires_of(self, item: NodeItem) -> None:
        """Re-draw the wires of a node that moved (node items do not report moves themselves, see NodeItem)."""
        self.overview.moved([item.node_id])
        for edge in self._wires_of.get(item.node_id, ()):
            self._place_wire(self.wires[edge])

    def wires_of(self, node_id: str) -> set[Edge]:
        return self._wires_of.get(node_id, set())

    def _place_wire(self, wire: WireItem) -> None:
        edge = wire.edge
        src, dst = self.items_by_id[edge.src], self.items_by_id[edge.dst]
        wire.set_ends(src.port_pos(edge.src_port, True), dst.port_pos(edge.dst_port, False))

    def free_spot(self, start: QPointF, rect: QRectF) -> QPointF:
        """Where to put a new node whose item rect (relative to its position) is `rect`, near `start`: the
        nearest spot right of or below it where the card keeps FREE_GAP from every node (one index query per
        spot tried), or below the whole graph when that area is full."""
        for dx, dy in _spots_by_distance():
            spot = start + QPointF(dx, dy)
            area = rect.translated(spot).adjusted(-FREE_GAP, -FREE_GAP, FREE_GAP, FREE_GAP)
            if not self.nodes_in(area):
                return spot
        return QPointF(start.x(), self.itemsBoundingRect().bottom() + FREE_GAP - rect.top())

    def nodes_in(self, area: QRectF) -> list[NodeItem]:
        """The node items whose bounds meet `area` (through the index)."""
        return [i for i in self.items(area, Qt.ItemSelectionMode.IntersectsItemBoundingRect) if isinstance(i, NodeItem)]

    def snapped(self, pos: QPointF) -> tuple[float, float]:
        if not self.snap_to_grid:
            return (pos.x(), pos.y())
        return (round(pos.x() / GRID) * GRID, round(pos.y() / GRID) * GRID)

    def mousePressEvent(self, event) -> None:
        self.finish_moves()  # a node is grabbed where it is drawn
        super().mousePressEvent(event)
        self._drag_start = self.selected_node_ids()

    def mouseMoveEvent(self, event) -> None:
        """Qt drags the selected nodes inside the base class; their wires follow here."""
        grabber = self.mouseGrabberItem()
        before = grabber.pos() if isinstance(grabber, NodeItem) else None
        super().mouseMoveEvent(event)
        if before is not None and grabber.pos() != before:
            step = grabber.pos() - before
            for node_id in self._drag_start:
                if (item := self.items_by_id.get(node_id)) is not None:
                    self.route_wires_of(item)
                    self._labels_look_again(item, step)

    def _labels_look_again(self, item: NodeItem, step: QPointF) -> None:
        """A dragged node moved by `step`: the labels it may have come over or left place themselves again.
        A wire's bounds hold every spot its label may take, so those are the wires the index finds there."""
        swept = item.sceneBoundingRect()
        swept = swept.united(swept.translated(-step))
        for wire in self.items(swept, Qt.ItemSelectionMode.IntersectsItemBoundingRect):
            if isinstance(wire, WireItem):
                wire.place_label_again()

    def mouseReleaseEvent(self, event) -> None:
        super().mouseReleaseEvent(event)
        moves = {}
        for node_id in self._drag_start:
            item = self.items_by_id.get(node_id)
            old = self.doc.nodes[node_id].position if node_id in self.doc.nodes else None
            if item is not None and old is not None and (item.x(), item.y()) != old:
                moves[node_id] = (old, self.snapped(item.pos()))
        self._drag_start = []
        if moves:
            self.moves_finished.emit(moves)

    # -- validation -------------------------------------------------------------------------
    def schedule_validation(self) -> None:
        if self._validating.running:  # it read a document that has changed since; it may have shown part of
            self._validating.cancel()  # its result, so the next one redoes all
            self._structure_changed = True
        self._timer.start()

    def validate_now(self) -> ValidationReport:
        """Validate at once — incrementally when only params changed — and show the result."""
        self._timer.stop()
        self._validating.cancel()
        return run_steps(self._validation())

    def current_report(self) -> ValidationReport:
        """The graph's report for a check that must not wait: validated now if the graph changed since the
        last one and is small; a big graph's new validation is under way (or due), and its last report
        stands in, fresh but for the last fraction of a second's edits."""
        if (self._timer.isActive() or self._validating.running) and len(self.doc.nodes) <= BIG_GRAPH_NODES:
            return self.validate_now()
        return self.report

    def _start_validation(self) -> None:
        """A small graph is validated within this call; a 5,000-node one over a few dozen turns."""
        self._validating.start(self._validation(), lambda report: None)

    def _validation(self) -> Steps:
        report = yield from self._report_steps()
        yield from self._show_report(report)
        return report

    def _report_steps(self) -> Steps:
        """The validation due, as steps (engine.validate.validation_steps); a param edit's is one step."""
        if self._structure_changed:
            return (yield from validation_steps(self.doc))
        return revalidate(self.doc, self.report, self._edited)

    def _show_report(self, report: ValidationReport) -> Generator:
        """Show a fresh report — problems on nodes, shapes on wires — a slice at a time, then tell the panels."""
        self.report, self._structure_changed, self._edited = report, False, set()
        shown = self.shown_report = self._shown(report)
        problems: dict[str, list[str]] = defaultdict(list)
        for i, d in enumerate(shown.diagnostics):
            if d.node is not None and d.severity == "error":
                where = d.port or d.param
                problems[d.node].append(f"{where}: {d.message}" if where else d.message)
            if i % (4 * SHOW_STEP) == 4 * SHOW_STEP - 1:
                yield
        touched, items = shown.touched, self.items_by_id
        for i, node_id in enumerate(items if touched is None else touched & items.keys()):
            if items[node_id].set_problems(problems.get(node_id, [])):
                self.overview.recolour([node_id])
            if i % SHOW_STEP == SHOW_STEP - 1:
                yield
        edges = self.wires if touched is None else [e for n in touched for e in self._wires_of.get(n, ())]
        for i, edge in enumerate(edges):
            shape = shown.edge_shape(edge)
            self.wires[edge].set_label(format_shape(shape) if shape is not None else "")
            if i % SHOW_STEP == SHOW_STEP - 1:
                yield
        self.validated.emit(report)

    def _shown(self, report: ValidationReport) -> ValidationReport:
        """The report the canvas draws (app.blocks.scene shows a block's nodes seen from an instance)."""
        return report

    def apply_param_counts(self, counts: dict[str, int]) -> None:
        for node_id, item in self.items_by_id.items():
            item.set_count(counts.get(node_id))

    # -- selection --------------------------------------------------------------------------
    def selected_node_ids(self) -> list[str]:
        return [i.node_id for i in self.selectedItems() if isinstance(i, NodeItem)]

    def selected_edges(self) -> list[Edge]:
        return [i.edge for i in self.selectedItems() if isinstance(i, WireItem) and i.edge is not None]

    def select_nodes(self, node_ids) -> None:
        self.clearSelection()
        for node_id in node_ids:
            if node_id in self.items_by_id:
                self.items_by_id[node_id].setSelected(True)

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.overview.invalidate()
        self.update()


@cache
def _spots_by_distance() -> list[tuple[float, float]]:
    """The offsets `free_spot` tries, nearest first (right before down at the same distance)."""
    spots = [(i * FREE_STEP, j * FREE_STEP) for i in range(FREE_REACH) for j in range(FREE_REACH)]
    return sorted(spots, key=lambda s: (math.hypot(*s), s[1]))


def _set_contentless(item, on: bool) -> None:
    """Whether Qt calls the item's (and its ports') paint(); geometry and hit-testing stay either way."""
    for target in (item, *item.childItems()):
        target.setFlag(target.GraphicsItemFlag.ItemHasNoContents, on)
