"""Block edits as single undo steps: group, ungroup, make unique, rename a block, place a library block,
expose an inner param.

Each of these is one call into the engine that touches several graphs at once (the graph or a
definition, and the document's definitions). The command records the whole document's structure
before and after — every graph's nodes (with their place in the order), its wires (in order), a
definition's exposed params, and the definitions (the same objects, in order) — and undo/redo move the
document from one to the other with ordinary document methods, so the scene follows from the events
and the result is exactly the recorded document, order included. (The engine's ops keep the relative
order of the nodes and wires they leave alone, which is what lets inserting the missing ones at their
recorded places restore it.)
"""

from __future__ import annotations

import bisect
import copy
from dataclasses import dataclass

from PySide6.QtGui import QUndoCommand

from engine.document import Edge, GraphDocument

from ..commands import SnapNode


@dataclass(frozen=True)
class GraphState:
    nodes: tuple[SnapNode, ...]
    edges: tuple[Edge, ...]
    exposed: tuple[tuple[str, tuple[str, ...]], ...] = ()  # a definition's exposed params, in order

    @classmethod
    def capture(cls, doc: GraphDocument) -> GraphState:
        return cls(tuple(SnapNode(n, node.type_id, copy.deepcopy(node.params), node.position, index)
                         for index, (n, node) in enumerate(doc.nodes.items())), tuple(doc.edges),
                   tuple((name, tuple(targets)) for name, targets in doc.exposed.items()))

    def restore(self, doc: GraphDocument) -> None:
        self._restore_graph(doc)
        if tuple((name, tuple(targets)) for name, targets in doc.exposed.items()) != self.exposed:
            for name in list(doc.exposed):
                doc.set_exposed(name, None)
            for name, targets in self.exposed:
                doc.set_exposed(name, list(targets))

    def _restore_graph(self, doc: GraphDocument) -> None:
        wanted = {n.node_id: n for n in self.nodes}
        kept = set(self.edges)
        for edge in [e for e in doc.edges if e not in kept]:
            doc.remove_edge(edge)
        for node_id, node in list(doc.nodes.items()):
            if node_id not in wanted or wanted[node_id].type_id != node.type_id:
                doc.remove_node(node_id)
        for node_id in _out_of_order(list(doc.nodes), [n.node_id for n in self.nodes]):
            doc.remove_node(node_id)  # a new node under a recorded one's id (group gives block1's id to the
            # new instance once block1 went into the block) sits elsewhere in the order: it is added back in place
        for n in self.nodes:  # ascending places: each lands where it was
            if n.node_id not in doc.nodes:
                doc.add_node(n.type_id, n.params, n.position, node_id=n.node_id, index=n.index)
                continue
            node = doc.nodes[n.node_id]
            for name, value in n.params.items():
                if node.params.get(name) != value:
                    doc.set_param(n.node_id, name, copy.deepcopy(value))
            if node.position != n.position:
                doc.move_node(n.node_id, n.position)
        for index, edge in enumerate(self.edges):
            if not doc.has_edge(edge):
                doc.add_edge(edge, index)


def _out_of_order(present: list[str], recorded: list[str]) -> list[str]:
    """The fewest of `present`'s nodes to take out so that the rest stand in `recorded`'s order: those
    outside a longest run of them already in that order (the nodes recorded, in present order)."""
    place = {node_id: i for i, node_id in enumerate(recorded)}
    kept = [node_id for node_id in present if node_id in place]
    tails: list[int] = []  # tails[k]: index into `kept` of the smallest last place of an ordered run of k + 1
    tail_places: list[int] = []  # the places of those (ascending: bisect finds where a node extends a run)
    before: list[int | None] = []
    for i, node_id in enumerate(kept):
        k = bisect.bisect_left(tail_places, place[node_id])
        before.append(tails[k - 1] if k else None)
        tails[k:k + 1], tail_places[k:k + 1] = [i], [place[node_id]]
    in_order, i = set(), tails[-1] if tails else None
    while i is not None:
        in_order.add(kept[i])
        i = before[i]
    return [node_id for node_id in kept if node_id not in in_order]


@dataclass(frozen=True)
class DocumentState:
    graph: GraphState
    blocks: tuple[tuple[str, GraphDocument, GraphState], ...]

    @classmethod
    def capture(cls, root: GraphDocument) -> DocumentState:
        return cls(GraphState.capture(root),
                   tuple((name, d, GraphState.capture(d)) for name, d in root.blocks.items()))

    def restore(self, root: GraphDocument) -> None:
        """Definitions first come back (instances may need them), then every graph, then extra ones go."""
        for index, (name, definition, _) in enumerate(self.blocks):
            if name not in root.blocks:
                root.add_block(name, definition, index)
        for name, _, state in self.blocks:
            state.restore(root.blocks[name])
        self.graph.restore(root)
        wanted = {name for name, _, _ in self.blocks}
        for name in [n for n in root.blocks if n not in wanted]:
            root.remove_block(name)


class DocumentEditCommand(QUndoCommand):
    """An edit already made (between `before` and `after`); pushing it does nothing more."""

    def __init__(self, root: GraphDocument, before: DocumentState, after: DocumentState, text: str):
        super().__init__(text)
        self.root, self.before, self.after = root, before, after
        self._fresh = True

    def redo(self) -> None:
        if self._fresh:
            self._fresh = False
            return
        self.after.restore(self.root)

    def undo(self) -> None:
        self.before.restore(self.root)
