"""Undoable edits. Every command only calls GraphDocument methods; the scene follows the events.

A `Snapshot` is a piece of a document (nodes with their params and positions, plus wires). The
same snapshot inserted is "add node", "paste", "duplicate" or "connect"; removed, it is "delete"
or "disconnect" — and each one's undo is the other, so delete restores exactly what it took.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from engine.document import Edge, GraphDocument

Position = tuple[float, float]
MOVE_ID, PARAM_ID = 1001, 1002
PARAM_MERGE_SECONDS = 1.5  # edits of one param closer than this (spin box arrows, typing) are one step


@dataclass(frozen=True)
class SnapNode:
    node_id: str
    type_id: str
    params: dict[str, Any]
    position: Position
    index: int | None = None  # place in the document's node order; None appends


@dataclass(frozen=True)
class Snapshot:
    nodes: tuple[SnapNode, ...] = ()
    edges: tuple[Edge, ...] = ()
    edge_indices: tuple[int, ...] = ()  # each wire's place in the document's wire order, when captured

    @classmethod
    def capture(cls, doc: GraphDocument, node_ids, extra_edges=(), touching: bool = True) -> Snapshot:
        """The given nodes, plus the wires touching them (`touching`) or only those between them."""
        chosen = set(node_ids)
        nodes = tuple(SnapNode(n, node.type_id, copy.deepcopy(node.params), node.position, index)
                      for index, (n, node) in enumerate(doc.nodes.items()) if n in chosen)
        keep = (lambda e: e.src in chosen or e.dst in chosen) if touching else \
            (lambda e: e.src in chosen and e.dst in chosen)
        extra = set(map(Edge._make, extra_edges))
        kept = [(i, e) for i, e in enumerate(doc.edges) if keep(e) or e in extra]
        return cls(nodes, tuple(e for _, e in kept), tuple(i for i, _ in kept))

    def insert(self, doc: GraphDocument) -> None:
        """Add the nodes and wires back, each at its captured place (ascending, so places hold)."""
        for n in self.nodes:
            doc.add_node(n.type_id, n.params, n.position, node_id=n.node_id, index=n.index)
        indices = self.edge_indices or (None,) * len(self.edges)
        for edge, index in zip(self.edges, indices, strict=True):
            doc.add_edge(edge, index)

    def remove(self, doc: GraphDocument) -> None:
        for edge in self.edges:
            if doc.has_edge(edge):
                doc.remove_edge(edge)
        for n in reversed(self.nodes):
            doc.remove_node(n.node_id)


class SnapshotCommand(QUndoCommand):
    """Insert (add, paste, connect) or remove (delete, disconnect) a snapshot."""

    def __init__(self, doc: GraphDocument, snapshot: Snapshot, text: str, insert: bool = True):
        super().__init__(text)
        self.doc, self.snapshot, self.inserting = doc, snapshot, insert

    def redo(self) -> None:
        (self.snapshot.insert if self.inserting else self.snapshot.remove)(self.doc)

    def undo(self) -> None:
        (self.snapshot.remove if self.inserting else self.snapshot.insert)(self.doc)


class MoveCommand(QUndoCommand):
    """Move nodes from old to new positions. One command per drag; consecutive nudges merge."""

    def __init__(self, doc: GraphDocument, moves: dict[str, tuple[Position, Position]], text: str = "Move",
                 mergeable: bool = False):
        super().__init__(text)
        self.doc, self.moves, self.mergeable = doc, dict(moves), mergeable

    def id(self) -> int:
        return MOVE_ID

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not (self.mergeable and getattr(other, "mergeable", False) and other.moves.keys() == self.moves.keys()):
            return False
        self.moves = {n: (self.moves[n][0], other.moves[n][1]) for n in self.moves}
        return True

    def redo(self) -> None:
        self.doc.move_nodes({node_id: new for node_id, (_, new) in self.moves.items()})

    def undo(self) -> None:
        self.doc.move_nodes({node_id: old for node_id, (old, _) in self.moves.items()})


class SetParamCommand(QUndoCommand):
    """Change one param; quick successive edits of the same param merge into one undo step."""

    def __init__(self, doc: GraphDocument, node_id: str, name: str, value: Any):
        super().__init__(f"Set {node_id}.{name}")
        self.doc, self.node_id, self.name = doc, node_id, name
        self.old = copy.deepcopy(doc.node(node_id).params.get(name))
        self.new = copy.deepcopy(value)
        self.stamp = time.monotonic()

    def id(self) -> int:
        return PARAM_ID

    def mergeWith(self, other: QUndoCommand) -> bool:
        same = (other.node_id, other.name) == (self.node_id, self.name)
        if not same or other.stamp - self.stamp > PARAM_MERGE_SECONDS:
            return False
        self.new, self.stamp = other.new, other.stamp
        return True

    def redo(self) -> None:
        self.doc.set_param(self.node_id, self.name, copy.deepcopy(self.new))

    def undo(self) -> None:
        self.doc.set_param(self.node_id, self.name, copy.deepcopy(self.old))


class SetExposedCommand(QUndoCommand):
    """Point a block definition's exposed param at other targets (a node inside the block was renamed)."""

    def __init__(self, doc: GraphDocument, name: str, targets: list[str]):
        super().__init__(f"Expose {name}")
        self.doc, self.name = doc, name
        self.old, self.new = list(doc.exposed.get(name, ())), list(targets)

    def redo(self) -> None:
        self.doc.set_exposed(self.name, self.new)

    def undo(self) -> None:
        self.doc.set_exposed(self.name, self.old)


class RenameGraphCommand(QUndoCommand):
    allowed_while_locked = True  # a run trains a snapshot; the name is not part of it (Save As renames)

    def __init__(self, doc: GraphDocument, name: str):
        super().__init__(f"Rename graph to {name!r}")
        self.doc, self.old, self.new = doc, doc.name, name

    def redo(self) -> None:
        self.doc.set_name(self.new)

    def undo(self) -> None:
        self.doc.set_name(self.old)


class EditStack(QUndoStack):
    """The undo stack every edit is pushed on, with a lock: while locked (a run is training the
    graph) pushes are refused with a `refused` message, whatever the caller (but for commands that say
    `allowed_while_locked`). Undo/Redo actions are
    disabled by the lock's owner; Qt's own actions call the C++ slots directly."""

    refused = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.locked_reason: str | None = None

    def push(self, command: QUndoCommand) -> None:
        if self.locked_reason and not getattr(command, "allowed_while_locked", False):
            self.refused.emit(f"{command.text()} refused: {self.locked_reason}")
            return
        super().push(command)
