"""Group, ungroup, make-unique and expose: the edits that turn nodes into blocks and back.

Each is a function over a document (`group(doc, ["fc1", "relu1"], "Hidden")`), not a document method:
the document knows nothing of these operations, which build on it. Each is a sequence of the
document's ordinary mutations (so a view mirrors it from the usual events) plus block_added/block_removed,
and each is one undo step for the app's commands to wrap. `inside` names the definition to edit
(None: the graph itself).

Ports made by `group`: one input port per distinct outside output feeding the selection (it feeds
every inner input that wire reached) and one output port per distinct inner output read outside,
named after the inner node and port (`fc1_in`, `fc2_out`). `ungroup` right after `group` restores
the exact document (ids, params, positions, wires, and the order of nodes and wires in the file).
Ungrouping an instance that sets exposed parameters writes its values into the nodes it puts back.
Inside a definition, grouping nodes whose params it exposes moves those exposures down a level (the new
block exposes them under the same names, the outer one exposes them through the new instance), and
ungrouping brings them back up.

`expose` makes an inner param one of the instances' own (`expose(doc, "BasicBlock", "conv1",
"out_channels", "channels")`; exposing another target under a name already there makes that name drive
both), `unexpose` takes one back; the instances then build with the definition's own values again.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from nodes import get_spec

from .blocks import (
    BLOCK_INPUT,
    BLOCK_OUTPUT,
    exposure_problems,
    inner_params,
    instance_repeat,
    instance_values,
    is_instance,
    split_target,
)
from .document import BLOCK, Edge, GraphDocument, NodeState, instance_block, make_node_id
from .errors import DocumentError

if TYPE_CHECKING:
    from collections.abc import Iterable

PORT_GAP = 220.0  # how far port nodes sit left and right of the grouped nodes


def group(root: GraphDocument, node_ids: Iterable[str], name: str | None = None, *, inside: str | None = None) -> str:
    """Move `node_ids` of the graph (or of definition `inside`) into a new definition `name` (default
    `Block`, `Block1`…) and put one instance in their place, wired as they were; returns the instance's id."""
    doc = root if inside is None else root.block(inside)
    chosen = set(node_ids)
    if not chosen:
        raise DocumentError("select the nodes to group into a block")
    for node_id in chosen:
        node = doc.node(node_id)
        spec = get_spec(node.type_id)
        if node.type_id in (BLOCK_INPUT, BLOCK_OUTPUT) or (spec and spec.role != "layer"):
            raise DocumentError(f"{node_id} ({node.type_id}) cannot go into a block: blocks hold layers and "
                                "other blocks — leave Input, Target, Output, loss and port nodes outside")
    name = root.new_block_name() if name is None else name
    order = [n for n in doc.nodes if n in chosen]
    memo = (list(doc.nodes), list(doc.edges))

    definition = GraphDocument(name)
    for node_id in order:
        node = doc.nodes[node_id]
        definition.add_node(node.type_id, node.params, node.position, node_id=node_id)
    ins: dict[tuple[str, str], str] = {}  # outside source → input port
    outs: dict[tuple[str, str], str] = {}  # inside source → output port
    outer: list[Edge] = []  # the instance's wires, in the order of the wires they replace
    xs = [doc.nodes[n].position[0] for n in order]
    for edge in doc.edges:
        src_in, dst_in = edge.src in chosen, edge.dst in chosen
        if src_in and dst_in:
            definition.add_edge(edge)
        elif dst_in:
            port = ins.get((edge.src, edge.src_port))
            if port is None:
                port = ins[(edge.src, edge.src_port)] = make_node_id(f"{edge.dst}_{edge.dst_port}", definition.nodes)
                y = doc.nodes[edge.dst].position[1]
                definition.add_node(BLOCK_INPUT, {}, (min(xs) - PORT_GAP, y), node_id=port)
                outer.append(Edge(edge.src, edge.src_port, "", port))
            definition.add_edge(Edge(port, "out", edge.dst, edge.dst_port))
        elif src_in:
            port = outs.get((edge.src, edge.src_port))
            if port is None:
                port = outs[(edge.src, edge.src_port)] = make_node_id(f"{edge.src}_{edge.src_port}",
                                                                      definition.nodes)
                y = doc.nodes[edge.src].position[1]
                definition.add_node(BLOCK_OUTPUT, {}, (max(xs) + PORT_GAP, y), node_id=port)
                definition.add_edge(Edge(edge.src, edge.src_port, port, "in"))
            outer.append(Edge("", port, edge.dst, edge.dst_port))
    _order_ports(definition)

    index = list(doc.nodes).index(order[0])
    position = (sum(xs) / len(xs), sum(doc.nodes[n].position[1] for n in order) / len(order))
    root.add_block(name, definition)
    for node_id in order:
        doc.remove_node(node_id)
    instance = doc.add_node(BLOCK, {"block": name, "repeat": 1}, position, node_id=doc.new_id(BLOCK), index=index)
    for edge in outer:
        doc.add_edge(Edge(edge.src or instance, edge.src_port, edge.dst or instance, edge.dst_port))
    doc._group_memo[instance] = memo
    for exposed, targets in list(doc.exposed.items()):  # params exposed from the grouped nodes go down a level
        moved = [t for t in targets if split_target(t)[0] in chosen]
        if moved:
            definition.set_exposed(exposed, moved)
            at = targets.index(moved[0])  # in its place: the first target gives the default
            kept = [t for t in targets if t not in moved]
            doc.set_exposed(exposed, [*kept[:at], f"{instance}.{exposed}", *kept[at:]])
    return instance


def _order_ports(definition: GraphDocument) -> None:
    """Inputs first, layers, then outputs: the port order the instance shows (node order, no event)."""
    rank = {BLOCK_INPUT: 0, BLOCK_OUTPUT: 2}
    definition.nodes = dict(sorted(definition.nodes.items(), key=lambda item: rank.get(item[1].type_id, 1)))


def ungroup(root: GraphDocument, instance_id: str, *, inside: str | None = None,
            keep_definition: bool = False) -> list[str]:
    """Put the instance's definition nodes in its place, wired through its ports; returns their ids.

    Inner ids are kept where free, else made unique (`fc1_1`). Right after `group` the document comes
    back exactly as it was (node and wire order too). The definition is removed once nothing places
    it, unless `keep_definition`. A repeated instance must be set to repeat 1 first.
    """
    doc = root if inside is None else root.block(inside)
    node = doc.node(instance_id)
    if not is_instance(node):
        raise DocumentError(f"{instance_id} is not a block instance")
    name = instance_block(node)
    definition = root.block(name)
    if instance_repeat(node) != 1 or node.params.get("repeat", 1) != 1:
        raise DocumentError(f"{instance_id} repeats its block — set repeat to 1 before ungrouping")
    feeds = {e.dst_port: (e.src, e.src_port) for e in doc.edges_into(instance_id)}
    reads: dict[str, list[tuple[str, str]]] = {}
    for e in doc.edges:
        if e.src == instance_id:
            reads.setdefault(e.src_port, []).append((e.dst, e.dst_port))
    index = list(doc.nodes).index(instance_id)
    memo = doc._group_memo.pop(instance_id, None)
    values = inner_params(definition, instance_values(root.blocks, node))
    doc.remove_node(instance_id)

    ids: dict[str, str] = {}
    for inner_id, inner in definition.nodes.items():
        if inner.type_id in (BLOCK_INPUT, BLOCK_OUTPUT):
            continue
        new_id = inner_id if inner_id not in doc.nodes else make_node_id(inner_id, doc.nodes)
        ids[inner_id] = doc.add_node(inner.type_id, {**inner.params, **values.get(inner_id, {})}, inner.position,
                                     node_id=new_id, index=index + len(ids))
    port_type = {n: node.type_id for n, node in definition.nodes.items()}

    def sources(src: str, src_port: str) -> list[tuple[str, str]]:
        if port_type[src] == BLOCK_INPUT:
            return [feeds[src]] if src in feeds else []
        return [(ids[src], src_port)]

    def targets(dst: str, dst_port: str) -> list[tuple[str, str]]:
        return reads.get(dst, []) if port_type[dst] == BLOCK_OUTPUT else [(ids[dst], dst_port)]

    for edge in definition.edges:
        for src in sources(edge.src, edge.src_port):
            for dst in targets(edge.dst, edge.dst_port):
                if not doc.has_edge(Edge(*src, *dst)):
                    doc.add_edge(Edge(*src, *dst))
    if memo and set(memo[0]) == set(doc.nodes) and set(memo[1]) == set(doc.edges):
        doc.nodes = {node_id: doc.nodes[node_id] for node_id in memo[0]}  # the order before `group`
        doc.edges[:] = memo[1]
    for exposed, targets in list(doc.exposed.items()):  # exposed through the instance: from its layers again
        if any(split_target(t)[0] == instance_id for t in targets):
            doc.set_exposed(exposed, [inner for t in targets for inner in (
                [f"{ids[n]}.{param}" for n, param in map(split_target, definition.exposed.get(split_target(t)[1], ()))
                 if n in ids] if split_target(t)[0] == instance_id else [t])])
    if not keep_definition and not root.instances_of(name):
        root.remove_block(name)
    return list(ids.values())


def make_unique(root: GraphDocument, instance_id: str, name: str | None = None, *, inside: str | None = None) -> str:
    """Point one instance at a fresh copy of its definition (named `name`, default `<Name>2`…)."""
    doc = root if inside is None else root.block(inside)
    node = doc.node(instance_id)
    if not is_instance(node):
        raise DocumentError(f"{instance_id} is not a block instance")
    original = root.block(instance_block(node))
    name = root.new_block_name(original.name) if name is None else name
    root.add_block(name, copy_definition(original), index=list(root.blocks).index(original.name) + 1)
    doc.set_param(instance_id, "block", name)
    return name


def copy_definition(definition: GraphDocument) -> GraphDocument:
    """An independent copy of a definition (nodes, wires, order, exposed params), with no listeners."""
    fork = GraphDocument(definition.name, definition.description)
    fork.nodes = {n: NodeState(s.type_id, copy.deepcopy(s.params), s.position) for n, s in definition.nodes.items()}
    fork.edges = list(definition.edges)
    fork._edge_set = set(fork.edges)
    fork.exposed = {name: list(targets) for name, targets in definition.exposed.items()}
    return fork


def expose(root: GraphDocument, block: str, node_id: str, param: str, name: str) -> None:
    """Expose `node_id.param` of definition `block` as its instances' param `name` (added to the targets
    of `name` when the block already exposes it). Refused when that param is already exposed, or names
    nothing the block holds."""
    definition = root.block(block)
    target = f"{node_id}.{param}"
    for other, targets in definition.exposed.items():
        if target in targets:
            raise DocumentError(f"{target} is already exposed as {other!r} on block {block!r}")
    targets = [*definition.exposed.get(name, ()), target]
    trial = GraphDocument(block)
    trial.nodes, trial.exposed = definition.nodes, {name: targets}
    if problems := exposure_problems(trial):
        raise DocumentError(problems[0][1])
    definition.set_exposed(name, targets)


def unexpose(root: GraphDocument, block: str, name: str, target: str | None = None) -> None:
    """Stop exposing `target` under `name` (every target of `name` when None). Instances keep a value they
    set for a name no longer exposed; it is ignored (with a warning) until the name is exposed again."""
    definition = root.block(block)
    if name not in definition.exposed:
        raise DocumentError(f"block {block!r} exposes no parameter {name!r}")
    kept = [t for t in definition.exposed[name] if target is not None and t != target]
    definition.set_exposed(name, kept)
