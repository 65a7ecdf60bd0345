"""The editor: turns the user's gestures into undo commands on the document.

Views (canvas, inspector, menus) call these methods; each pushes QUndoCommands that only call
document methods, and the scene redraws from the resulting events. Refused edits (a wire that
does not fit) push nothing and are explained through `message`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from PySide6.QtCore import QObject, QPointF, QTimer, Signal
from PySide6.QtWidgets import QApplication

from engine.blocks import split_target
from engine.document import Edge, GraphDocument, node_id_problem, text_problem
from engine.layout import layout_steps, piled_up
from engine.steps import run_steps
from nodes import get_spec

from . import clipboard
from .blocks import library
from .blocks.actions import BlockActions
from .blocks.scene import BlockScene
from .blocks.wiring import wire_refusal
from .commands import (
    EditStack,
    MoveCommand,
    RenameGraphCommand,
    SetExposedCommand,
    SetParamCommand,
    SnapNode,
    Snapshot,
    SnapshotCommand,
)
from .node_item import WIDTH
from .sliced import SlicedRun
from .training.commands import SetTrainingCommand

Position = tuple[float, float]
LAYOUT_NOTICE_NODES = 1000  # laying out more nodes than this says so in the status bar


class Editor(QObject):
    message = Signal(str)  # status-bar text: why an edit was refused, what happened

    def __init__(self, doc: GraphDocument, scene: BlockScene, parent=None):
        super().__init__(parent)
        self.root, self.scene = doc, scene
        self.stack = EditStack(self)
        self.stack.refused.connect(self.message)
        scene.moves_finished.connect(self.move)
        self.input_defaults: dict = {}  # a new Input takes the dataset's shape and dtype (set by training)
        self.blocks = BlockActions(self)  # group, ungroup, open… (app.blocks)
        self._laying_out = SlicedRun(self)

    @property
    def doc(self) -> GraphDocument:
        """The graph the canvas shows and edits act on: the document, or the block definition open in it."""
        return self.scene.doc

    # -- nodes ------------------------------------------------------------------------------
    def add_node(self, type_id: str, pos: QPointF) -> str | None:
        """Add a node of `type_id` at `pos`, or an instance of a library block the palette names."""
        if (entry := library.entry_for(type_id)) is not None:
            return self.blocks.place_from_library(entry, pos)
        node_id = self.doc.new_id(type_id)
        spec = get_spec(type_id)
        position = self.scene.snapped(pos)
        params = {**spec.defaults(), **(self.input_defaults if type_id == "Input" else {})} if spec else {}
        snapshot = Snapshot((SnapNode(node_id, type_id, params, position),))
        self.stack.push(SnapshotCommand(self.doc, snapshot, f"Add {node_id}"))
        self.scene.select_nodes([node_id])
        return node_id

    def add_and_connect(self, type_id: str, pos: QPointF, port: tuple[str, str, bool]) -> str:
        """Add a node where a dragged wire was dropped and wire it to the port the drag began at."""
        node_id, port_name, from_output = port
        self.stack.beginMacro(f"Add {type_id} and connect")
        new_id = self.add_node(type_id, pos)
        spec = get_spec(type_id)
        ports = (spec.inputs if from_output else spec.outputs) if spec else ()
        if ports:
            edge = Edge(node_id, port_name, new_id, ports[0].name) if from_output else \
                Edge(new_id, ports[0].name, node_id, port_name)
            self.connect(edge)
        self.stack.endMacro()
        return new_id

    def rename_node(self, old: str, new: str) -> str | None:
        """Give node `old` the id `new` (wires and training references follow) as one undo step; returns
        why not (taken, not a valid id) after saying so."""
        new = new.strip()
        if new == old or old not in self.doc.nodes:
            return None
        problem = f"{new!r} is already taken by another node" if new in self.doc.nodes else \
            node_id_problem(new)
        if problem:
            self.message.emit(f"Cannot rename {old}: {problem}")
            return problem
        before = Snapshot.capture(self.doc, [old])

        def renamed(node_id: str) -> str:
            return new if node_id == old else node_id

        after = Snapshot(tuple(dataclasses.replace(n, node_id=new) for n in before.nodes),
                         tuple(Edge(renamed(e.src), e.src_port, renamed(e.dst), e.dst_port) for e in before.edges),
                         before.edge_indices)
        self.stack.beginMacro(f"Rename {old} to {new}")
        self.stack.push(SnapshotCommand(self.doc, before, "remove", insert=False))
        self.stack.push(SnapshotCommand(self.doc, after, "insert"))
        gan = self.doc.training.get("gan")
        if isinstance(gan, dict) and old in gan.values():  # a GAN names its two Output nodes
            self.stack.push(SetTrainingCommand(self.doc, "gan", {k: renamed(v) for k, v in gan.items()}))
        self._retune(renamed)
        self._follow_exposed(renamed)
        self.stack.endMacro()
        self.scene.select_nodes([new])
        return None

    def insert_on_wire(self, type_id: str, pos: QPointF, edge: Edge) -> str | None:
        """Drop a node onto a wire: src → new node → dst, one undo step (None when it cannot sit there)."""
        spec = get_spec(type_id)
        if spec is None or not spec.inputs or not spec.outputs:
            return None
        self.stack.beginMacro(f"Insert {type_id} into {edge}")
        cut = Snapshot(edges=(edge,), edge_indices=(self.doc.edges.index(edge),))  # undo puts it back in place
        self.stack.push(SnapshotCommand(self.doc, cut, "cut wire", insert=False))
        node_id = self.add_node(type_id, pos)
        for wire in (Edge(edge.src, edge.src_port, node_id, spec.inputs[0].name),
                     Edge(node_id, spec.outputs[0].name, edge.dst, edge.dst_port)):
            self.stack.push(SnapshotCommand(self.doc, Snapshot(edges=(wire,)), f"Connect {wire}"))
        self.stack.endMacro()
        return node_id

    def disconnect_node(self, node_id: str) -> None:
        """Remove every wire of a node (the node stays)."""
        wires = tuple(e for e in self.doc.edges if node_id in (e.src, e.dst))
        if wires:
            snapshot = Snapshot(edges=wires, edge_indices=tuple(self.doc.edges.index(e) for e in wires))
            self.stack.push(SnapshotCommand(self.doc, snapshot, f"Disconnect {node_id}", insert=False))

    def delete_selection(self) -> None:
        """Delete what is selected; with nothing selected inside a block, Backspace goes up a level."""
        nodes, edges = self.scene.selected_node_ids(), self.scene.selected_edges()
        if not nodes and not edges:
            self.scene.go_up()
        else:
            snapshot = Snapshot.capture(self.doc, nodes, extra_edges=edges)
            label = ", ".join(nodes) if nodes else f"{len(edges)} wire(s)"
            self.stack.beginMacro(f"Delete {label}")
            self.stack.push(SnapshotCommand(self.doc, snapshot, f"Delete {label}", insert=False))
            self._retune(lambda node_id: None if node_id in nodes else node_id)
            self.stack.endMacro()

    # -- fine-tuning: training.frozen and training.lr_scale name nodes ----------------------
    def set_frozen(self, node_ids: list[str], frozen: bool) -> None:
        """Freeze or unfreeze nodes (or block instances) for training, as one undo step."""
        current = list(self.doc.training.get("frozen") or [])
        new = [i for i in current if i not in node_ids] + (list(node_ids) if frozen else [])
        if set(new) != set(current):
            self.stack.push(SetTrainingCommand(self.doc, "frozen", new))

    def set_lr_scale(self, node_ids: list[str], factor: float | None) -> None:
        """Train these nodes at `factor` times the learning rate (None: at the learning rate), one undo step."""
        scales = {k: v for k, v in (self.doc.training.get("lr_scale") or {}).items() if k not in node_ids}
        if factor is not None and factor != 1.0:
            scales.update(dict.fromkeys(node_ids, factor))
        if scales != (self.doc.training.get("lr_scale") or {}):
            self.stack.push(SetTrainingCommand(self.doc, "lr_scale", scales))

    def _retune(self, renamed) -> None:
        """Make the fine-tuning settings follow renamed nodes and forget deleted ones (`renamed` → None)."""
        frozen = self.doc.training.get("frozen") or []
        new_frozen = [n for n in map(renamed, frozen) if n is not None]
        if new_frozen != frozen:
            self.stack.push(SetTrainingCommand(self.doc, "frozen", new_frozen))
        scales = self.doc.training.get("lr_scale") or {}
        new_scales = {renamed(k): v for k, v in scales.items() if renamed(k) is not None}
        if new_scales != scales:
            self.stack.push(SetTrainingCommand(self.doc, "lr_scale", new_scales))

    def _follow_exposed(self, renamed) -> None:
        """Inside a block: the params it exposes point at a renamed node by its new id (every instance keeps
        the values it sets: they are set by the exposed name, which stays)."""
        for name, targets in list(self.doc.exposed.items()):
            moved = [f"{renamed(node_id)}.{param}" for node_id, param in map(split_target, targets)]
            if moved != targets:
                self.stack.push(SetExposedCommand(self.doc, name, moved))

    def move(self, moves: dict[str, tuple[Position, Position]]) -> None:
        self.stack.push(MoveCommand(self.doc, moves))

    def nudge(self, dx: float, dy: float) -> None:
        """Arrow keys: consecutive nudges of the same selection merge into one undo step."""
        moves = {n: (p := self.doc.nodes[n].position, (p[0] + dx, p[1] + dy)) for n in self.scene.selected_node_ids()}
        if moves:
            self.stack.push(MoveCommand(self.doc, moves, "Nudge", mergeable=True))

    def replace_node(self, node_id: str, type_id: str) -> None:
        """A `type_id` node (default params) in `node_id`'s place — same id, position and wires — as one undo step
        (the problems panel's fix of a loss that does not fit the task)."""
        old = Snapshot.capture(self.doc, [node_id])
        new = Snapshot(tuple(dataclasses.replace(n, type_id=type_id, params={}) for n in old.nodes), old.edges,
                       old.edge_indices)
        self.stack.beginMacro(f"Replace {node_id} with {type_id}")
        self.stack.push(SnapshotCommand(self.doc, old, f"Remove {node_id}", insert=False))
        self.stack.push(SnapshotCommand(self.doc, new, f"Add {type_id}"))
        self.stack.endMacro()

    def set_param(self, node_id: str, name: str, value) -> None:
        if node_id in self.doc.nodes and self.doc.nodes[node_id].params.get(name) != value:
            self.stack.push(SetParamCommand(self.doc, node_id, name, value))

    def rename_graph(self, name: str) -> None:
        name = name.strip()
        if not name:
            self.message.emit("A graph's name cannot be empty.")
        elif problem := text_problem(name):
            self.message.emit(f"A graph's name cannot be that: it {problem}.")
        elif name != self.doc.name:
            self.stack.push(RenameGraphCommand(self.doc, name))

    def auto_layout(self) -> None:
        """Lay the graph out now: one undo step."""
        self._apply_layout(run_steps(self._layout_steps()))

    def spread_pile(self) -> bool:
        """Lay out a document whose nodes pile up on a few spots (engine.layout.piled_up), as part of opening
        it: no undo step, and the file is not marked changed. Returns whether it did."""
        if not piled_up(self.doc):
            return False
        self.doc.move_nodes(run_steps(self._layout_steps()))
        self.scene.finish_moves()  # a wire still waiting lies in the pile, where painting it is slow
        self.message.emit(f"Laid out the {len(self.doc.nodes):,} nodes: the file gave most of them one position.")
        return True

    def start_auto_layout(self, done: Callable[[], None]) -> None:
        """Lay the graph out a slice at a time between turns of the event loop (a 5,000-node graph takes a
        few tenths of a second), push it as one undo step and call `done`; an edit meanwhile starts it over."""
        revision = self.scene.revision

        def finished(target: dict[str, Position]) -> None:
            if len(target) > LAYOUT_NOTICE_NODES:  # a turn of its own: applying it is work enough
                QTimer.singleShot(0, lambda: apply(target))
            else:
                apply(target)

        def apply(target: dict[str, Position]) -> None:
            if self.scene.revision != revision:
                self.start_auto_layout(done)
                return
            self._apply_layout(target)
            done()

        if len(self.doc.nodes) > LAYOUT_NOTICE_NODES:
            self.message.emit(f"Laying out {len(self.doc.nodes):,} nodes…")
        self._laying_out.start(self._layout_steps(), finished)

    def _layout_steps(self):
        sizes = {n: (WIDTH, item.height) for n, item in self.scene.items_by_id.items()}
        return layout_steps(self.doc, sizes)

    def _apply_layout(self, target: dict[str, Position]) -> None:
        moves = {n: (self.doc.nodes[n].position, p) for n, p in target.items() if self.doc.nodes[n].position != p}
        if moves:
            self.stack.push(MoveCommand(self.doc, moves, "Auto-layout"))

    # -- wires ------------------------------------------------------------------------------
    def connect(self, edge: Edge) -> str | None:
        """Add the wire, or explain why not (returned and sent to `message`)."""
        reason = wire_refusal(self.scene, edge)
        if reason:
            self.message.emit(f"Cannot connect: {reason}")
            return reason
        self.stack.push(SnapshotCommand(self.doc, Snapshot(edges=(edge,)), f"Connect {edge}"))
        return None

    # -- clipboard --------------------------------------------------------------------------
    def copy(self) -> bool:
        nodes = self.scene.selected_node_ids()
        if nodes:
            QApplication.clipboard().setMimeData(clipboard.to_mime(self.doc, nodes))
        return bool(nodes)

    def cut(self) -> None:
        if self.copy():
            self.delete_selection()

    def paste(self, anchor: Position | None = None) -> list[str]:
        return self._insert_copy(QApplication.clipboard().mimeData(), anchor, "Paste")

    def duplicate(self) -> list[str]:
        nodes = self.scene.selected_node_ids()
        return self._insert_copy(clipboard.to_mime(self.doc, nodes), None, "Duplicate") if nodes else []

    def _insert_copy(self, mime, anchor: Position | None, text: str) -> list[str]:
        snapshot = clipboard.from_mime(mime, self.doc, anchor) if mime is not None else None
        if snapshot is None:
            self.message.emit("Nothing to paste: the clipboard holds no Layerloom nodes")
            return []
        self.stack.push(SnapshotCommand(self.doc, snapshot, f"{text} {len(snapshot.nodes)} node(s)"))
        ids = [n.node_id for n in snapshot.nodes]
        self.scene.select_nodes(ids)
        return ids
