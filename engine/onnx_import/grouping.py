"""Repeated structures of an imported graph become blocks: a 12-layer encoder opens as one node ×12.

An exporter flattens a model's modules into one long graph; this finds the repeats again from the graph
alone, whichever exporter wrote it (their node names differ too much to rely on):

1. **Units.** Walking the layers in topological order, a *cut* is a point where exactly one tensor is
   alive (made before, read after): the stream between two blocks of a ResNet or two layers of a
   Transformer. A tensor of an Input or a source layer (a Parameter, a Constant) read by `BROADCAST`
   or more layers is not counted (an attention mask every layer reads); a source layer joins the unit
   that reads it. The layers between two cuts form a unit with one
   output tensor.
2. **Patterns.** A unit's signature is its structure: node types, param names (not values) and wires,
   inside and from outside. A pattern always followed by the same other pattern absorbs it — when that
   one is too small for a block or never stands alone (a post-norm Transformer layer cuts after its
   attention half; a ResNet block after its Add, before the last ReLU) — until nothing changes.
3. **Blocks.** Each pattern with two or more occurrences of at least `MIN_BLOCK` layers becomes one
   definition; params whose values differ between occurrences are exposed (`out_channels`, `stride`…,
   one name for the inner params that always agree), and each occurrence becomes an instance setting
   its values. Instances of one definition that follow each other with the same values, one port in and
   out, become one instance repeated ×N.

The imported weights are renamed to the instances' paths (`block3.conv1.weight`, `block2.5.fc1.bias`),
the compiled module's names. A graph of fewer than `MIN_NODES` layers is left as it is (it reads well
flat), and if the grouped graph did not validate the import keeps the flat one.
"""

from __future__ import annotations

import heapq
import re
from collections import Counter
from dataclasses import dataclass
from typing import Protocol

from nodes import get_spec

from ..blocks import BLOCK_INPUT, BLOCK_OUTPUT
from ..document import BLOCK, Edge, GraphDocument, NodeState, exposed_name_problem, node_id_problem
from ..layout import layered_positions

MIN_NODES = 30  # layers a graph needs before its repeats are grouped
MIN_BLOCK = 3  # layers a repeated structure needs to become a block
BROADCAST = 3  # readers of an Input's (or a source layer's) tensor that make it one every block may read: a mask
NODE_SIZE = (180.0, 90.0)  # a typical node's size, for laying out a definition
Tensor = tuple[str, str]  # (node id, output port)


class Naming(Protocol):
    """How grouped nodes are named when the importer knows more than the wiring (a PyTorch model's module tree:
    engine/torch_import/naming.py). Each method may answer None: the names below are used then."""

    def instance(self, occurrence: list[str]) -> str | None:
        """The instance id for an occurrence's nodes (`layer1_0`; default `block3`)."""

    def inner(self, node_id: str, instance: str) -> str | None:
        """A node's id inside the definition (`conv1`; default a fresh id after its type)."""

    def block(self, occurrence: list[str]) -> str | None:
        """The definition's name (`BasicBlock`; default after what it holds: `ResidualBlock`)."""

    def folded(self, chain: list[str]) -> str | None:
        """The id of a chain of instances folded into one repeated instance (`layer1`; default the first's)."""


def group_repeats(doc: GraphDocument, weights: dict, naming: Naming | None = None) -> dict:
    """Group `doc`'s repeated structures into blocks (in place); returns `weights` under the new names."""
    layers = [n for n, node in doc.nodes.items() if _is_layer(node)]
    if len(layers) < MIN_NODES or any(node.type_id == BLOCK for node in doc.nodes.values()):
        return weights
    graph = _Graph(doc)
    units = _merge(graph, graph.units())
    counts = Counter(graph.signature(unit) for unit in units)
    work = GraphDocument(doc.name, doc.description)  # grouped apart: the import keeps the flat graph if it fails
    work.training = doc.training
    placed: dict[str, _Placed] = {}  # each grouped node → the instance standing for its occurrence
    for signature in dict.fromkeys(graph.signature(unit) for unit in units):
        found = [unit for unit in units if graph.signature(unit) == signature]
        if signature is not None and counts[signature] >= 2 and len(found[0]) >= MIN_BLOCK:
            placed |= _make_block(work, graph, found, naming)
    if not placed:
        return weights
    _rebuild(work, graph, placed)
    renames = _fold_repeats(work, {n: f"{p.instance}.{p.inner}" for n, p in placed.items()}, naming)
    from ..validate import validate  # the layer above the importer's own modules: imported where used

    if validate(work).errors:
        return weights
    doc.replace_with(work)
    return {_renamed(key, renames): value for key, value in weights.items()}


@dataclass(frozen=True)
class _Placed:
    """Where a grouped node went: its occurrence's instance (id, params, ports), its id inside the block."""

    instance: str
    inner: str
    params: dict
    ports: dict[Tensor, str]  # the tensors the occurrence reads → the instance's input ports
    first: bool  # the occurrence's first node (the instance takes its place in the order)


def _is_layer(node: NodeState) -> bool:
    spec = get_spec(node.type_id)
    return spec is not None and spec.role == "layer"


def _renamed(key: str, renames: dict[str, str]) -> str:
    node_id, dot, rest = key.partition(".")
    return f"{renames[node_id]}{dot}{rest}" if node_id in renames else key


class _Graph:
    """The document's wiring, read once: order, producers and readers of each tensor."""

    def __init__(self, doc: GraphDocument):
        self.doc = doc
        self.into: dict[str, list[Edge]] = {n: [] for n in doc.nodes}
        self.readers: dict[Tensor, list[Edge]] = {}
        for edge in doc.edges:
            self.into[edge.dst].append(edge)
            self.readers.setdefault((edge.src, edge.src_port), []).append(edge)
        self.order = _topological(doc, self.into)
        self.sources = {n for n in doc.nodes if not self.into[n]}
        # nodes a param names (a tied Linear's `tie`): they keep their ids, so neither goes into a block
        self.named = {v for node in doc.nodes.values() for v in node.params.values() if isinstance(v, str)
                      and v in doc.nodes}
        self._signatures: dict[tuple[str, ...], tuple] = {}
        self._instances = 0
        self._taken: set[str] = set()

    def new_instance_id(self, wanted: str | None = None) -> str:
        """`wanted` when no node of the graph and no instance has it yet, else `block1`, `block2`…"""
        if wanted and not node_id_problem(wanted) and wanted not in self.doc.nodes and wanted not in self._taken:
            self._taken.add(wanted)
            return wanted
        self._instances += 1
        while f"block{self._instances}" in self.doc.nodes or f"block{self._instances}" in self._taken:
            self._instances += 1
        self._taken.add(f"block{self._instances}")
        return f"block{self._instances}"

    def units(self) -> list[list[str]]:
        """The layers between cuts (see the module docstring), each with the source layers only it reads."""
        place = {n: i for i, n in enumerate(self.order)}
        change = [0] * (len(self.order) + 1)
        for tensor, readers in self.readers.items():
            if tensor[0] not in self.sources or len(readers) < BROADCAST:
                change[place[tensor[0]]] += 1
                change[max(place[e.dst] for e in readers)] -= 1
        units, current, alive = [], [], 0
        for i, node_id in enumerate(self.order):
            alive += change[i]
            node = self.doc.nodes[node_id]
            if node_id in self.sources:
                continue
            if not _is_layer(node):
                units, current = units + [current] if current else units, []
                continue
            current.append(node_id)
            if alive == 1:
                units.append(current)
                current = []
        if current:
            units.append(current)
        owner = {n: k for k, unit in enumerate(units) for n in unit}
        for source in (n for n in self.order if n in self.sources and _is_layer(self.doc.nodes[n])):
            homes = {owner.get(e.dst) for tensor in self._outputs(source) for e in self.readers[tensor]}
            if len(homes) == 1 and None not in homes:
                units[homes.pop()].insert(0, source)
        return units

    def _outputs(self, node_id: str) -> list[Tensor]:
        return [t for t in self.readers if t[0] == node_id] if node_id in self.sources else []

    def outside(self, unit: list[str]) -> tuple[list[Tensor], list[Tensor]]:
        """The tensors a unit reads from outside (in first-read order) and those read outside it."""
        inside = set(unit)
        reads = list(dict.fromkeys((e.src, e.src_port) for n in unit for e in sorted(self.into[n], key=_port_key)
                                   if e.src not in inside))
        feeds = list(dict.fromkeys((e.src, e.src_port) for n in unit for tensor in self._produced(n)
                                   for e in self.readers[tensor] if e.dst not in inside))
        return reads, feeds

    def _produced(self, node_id: str) -> list[Tensor]:
        spec = get_spec(self.doc.nodes[node_id].type_id)
        return [(node_id, p.name) for p in spec.outputs if (node_id, p.name) in self.readers]

    def signature(self, unit: list[str]) -> tuple | None:
        """The unit's structure; None when it cannot be a block (not one output, or a param naming a node)."""
        key = tuple(unit)
        if key not in self._signatures:
            self._signatures[key] = self._signature(unit)
        return self._signatures[key]

    def _signature(self, unit: list[str]) -> tuple | None:
        reads, feeds = self.outside(unit)
        index = {n: i for i, n in enumerate(unit)}
        if len(feeds) != 1 or not reads or any(n in self.named or any(
                isinstance(v, str) and v in self.doc.nodes for v in self.doc.nodes[n].params.values()) for n in unit):
            return None
        ext = {tensor: k for k, tensor in enumerate(reads)}
        nodes = tuple((self.doc.nodes[n].type_id, tuple(sorted(self.doc.nodes[n].params))) for n in unit)
        wires = tuple((("ext", ext[(e.src, e.src_port)]) if e.src not in index else (index[e.src], e.src_port),
                       index[n], e.dst_port) for n in unit for e in sorted(self.into[n], key=_port_key))
        return nodes, wires, (index[feeds[0][0]], feeds[0][1])


def _port_key(edge: Edge) -> tuple[str, str, str]:
    return edge.dst_port, edge.src, edge.src_port


def _topological(doc: GraphDocument, into: dict[str, list[Edge]]) -> list[str]:
    """The nodes in an order every wire goes forward in, the document's order kept where it allows."""
    waiting = {n: len({e.src for e in edges}) for n, edges in into.items()}
    after: dict[str, set[str]] = {}
    for n, edges in into.items():
        for e in edges:
            after.setdefault(e.src, set()).add(n)
    rank = {n: i for i, n in enumerate(doc.nodes)}
    ready = [(rank[n], n) for n, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, n = heapq.heappop(ready)
        order.append(n)
        for m in after.get(n, ()):
            waiting[m] -= 1
            if waiting[m] == 0:
                heapq.heappush(ready, (rank[m], m))
    return order


def _merge(graph: _Graph, units: list[list[str]]) -> list[list[str]]:
    """Units whose pattern is always followed by one same other pattern absorb it, until none does."""
    while True:
        signatures = [graph.signature(u) if graph.signature(u) is not None else ("unit", k)
                      for k, u in enumerate(units)]
        counts = Counter(signatures)
        candidates = sorted((s for s in dict.fromkeys(signatures) if counts[s] >= 2),
                            key=lambda s: -len(s[0]))
        for pattern in candidates:
            at = [i for i, s in enumerate(signatures) if s == pattern]
            follow = {signatures[i + 1] if i + 1 < len(units) else None for i in at}
            if len(follow) != 1 or None in follow or pattern in follow:
                continue
            after = follow.pop()
            if len(units[at[0] + 1]) >= MIN_BLOCK and counts[after] != len(at):
                continue  # a block of its own that also stands alone: kept apart (ResNet's plain, downsampling)
            merged = [units[i] + units[i + 1] for i in at]
            if any(graph.signature(m) is None for m in merged):
                continue
            for i, unit in zip(reversed(at), reversed(merged), strict=True):
                units[i:i + 2] = [unit]
            break
        else:
            return units


def _make_block(work: GraphDocument, graph: _Graph, occurrences: list[list[str]],
                naming: Naming | None = None) -> dict[str, _Placed]:
    """One definition in `work` for `occurrences` (units of one signature) and an instance for each."""
    nodes, first = graph.doc.nodes, occurrences[0]
    instances = [graph.new_instance_id(naming.instance(occurrence) if naming else None) for occurrence in occurrences]
    definition = GraphDocument("block")
    reads, feeds = graph.outside(first)
    ports = ["x" if k == 0 else f"x{k + 1}" for k in range(len(reads))]
    for port in ports:
        definition.add_node(BLOCK_INPUT, node_id=port)
    inner = {}
    for n in first:
        wanted = naming.inner(n, instances[0]) if naming else None
        if not wanted or node_id_problem(wanted) or wanted in definition.nodes:
            wanted = definition.new_id(nodes[n].type_id)
        inner[n] = definition.add_node(nodes[n].type_id, nodes[n].params, node_id=wanted)
    definition.add_node(BLOCK_OUTPUT, node_id="y")
    ext = dict(zip(reads, ports, strict=True))
    for n in first:
        for e in sorted(graph.into[n], key=_port_key):
            src = (ext[(e.src, e.src_port)], "out") if e.src not in inner else (inner[e.src], e.src_port)
            definition.add_edge(Edge(*src, inner[n], e.dst_port))
    definition.add_edge(Edge(inner[feeds[0][0]], feeds[0][1], "y", "in"))
    for node_id, position in layered_positions(definition, dict.fromkeys(definition.nodes, NODE_SIZE)).items():
        definition.nodes[node_id].position = position

    inner_ids = [inner[n] for n in first]
    exposed = _exposed(nodes, occurrences, inner_ids)
    named = naming.block(first) if naming else None
    name = work.new_block_name(_distinguished(work, named, definition) if named else _block_name(definition))
    work.add_block(name, definition)
    for exposed_name, targets in exposed.items():
        definition.set_exposed(exposed_name, [target for target, _ in targets])
    placed = {}
    for occurrence, instance in zip(occurrences, instances, strict=True):
        values = {}
        for exposed_name, targets in exposed.items():
            target, j = targets[0]
            inner_id, param = target.split(".", 1)
            if (value := nodes[occurrence[j]].params[param]) != definition.nodes[inner_id].params[param]:
                values[exposed_name] = value
        reads, _ = graph.outside(occurrence)
        ports = {tensor: "x" if k == 0 else f"x{k + 1}" for k, tensor in enumerate(reads)}
        params = {"block": name, "repeat": 1, **values}
        placed |= {n: _Placed(instance, inner_ids[j], params, ports, j == 0)
                   for j, n in enumerate(occurrence)}
    return placed


def _exposed(nodes: dict[str, NodeState], occurrences: list[list[str]], ids: list[str]
             ) -> dict[str, list[tuple[str, int]]]:
    """The params whose values differ between occurrences: exposed name → [(target `node.param`, index)].
    Inner params that always agree share a name: the param's own, or `<node>_<param>` where it is ambiguous."""
    groups: dict[tuple, list[tuple[str, int]]] = {}
    for j, inner_id in enumerate(ids):
        for param in nodes[occurrences[0][j]].params:
            values = tuple(repr(nodes[o[j]].params[param]) for o in occurrences)
            if len(set(values)) > 1:
                groups.setdefault((param, values), []).append((f"{inner_id}.{param}", j))
    per_param = Counter(param for param, _ in groups)
    exposed = {}
    for (param, _), targets in groups.items():
        name = param if per_param[param] == 1 else f"{targets[0][0].split('.')[0]}_{param}"
        if exposed_name_problem(name) or name in exposed:
            name = f"{targets[0][0].replace('.', '_')}"
        exposed[name] = targets
    return exposed


def _distinguished(work: GraphDocument, name: str, definition: GraphDocument) -> str:
    """A module class whose instances have two structures (torchvision's BasicBlock with and without its
    `downsample`) gets a definition per structure: the second is named by the first layer it has more
    (`BasicBlockDownsample`), not numbered."""
    if name not in work.blocks:
        return name
    extra = [node_id for node_id in definition.nodes if node_id not in work.block(name).nodes]
    word = re.split(r"[^A-Za-z]", extra[0])[0] if extra else ""
    return f"{name}{word[:1].upper()}{word[1:]}" if word else name


def _block_name(definition: GraphDocument) -> str:
    types = {node.type_id for node in definition.nodes.values()}
    if any("Attention" in t for t in types):
        return "TransformerLayer"
    if "Add" in types and any(t.startswith("Conv") for t in types):
        return "ResidualBlock"
    return "Block"


def _rebuild(work: GraphDocument, graph: _Graph, placed: dict[str, _Placed]) -> None:
    """Fill `work` with the graph's nodes and wires, each grouped occurrence replaced by its instance: one
    pass over the nodes and one over the wires."""
    spots: dict[str, list[tuple[float, float]]] = {}  # instance → its layers' positions (it takes their middle)
    for node_id, where in placed.items():
        spots.setdefault(where.instance, []).append(graph.doc.nodes[node_id].position)
    for node_id, node in graph.doc.nodes.items():
        where = placed.get(node_id)
        if where is None:
            work.add_node(node.type_id, node.params, node.position, node_id=node_id)
        elif where.first:
            xs = spots[where.instance]
            work.add_node(BLOCK, where.params, (sum(p[0] for p in xs) / len(xs), sum(p[1] for p in xs) / len(xs)),
                          node_id=where.instance)
    edges = []
    for e in graph.doc.edges:
        src, dst = placed.get(e.src), placed.get(e.dst)
        if src is not None and dst is not None and src.instance == dst.instance:
            continue  # inside one occurrence: the definition holds it
        tail = (src.instance, "y") if src is not None else (e.src, e.src_port)
        head = (dst.instance, dst.ports[(e.src, e.src_port)]) if dst is not None else (e.dst, e.dst_port)
        edges.append(Edge(*tail, *head))
    for edge in dict.fromkeys(edges):  # an outside tensor read by several layers of one occurrence: one wire
        work.add_edge(edge)


def _fold_repeats(doc: GraphDocument, renames: dict[str, str], naming: Naming | None = None) -> dict[str, str]:
    """Chains of instances of one definition with the same values and one port each way become one
    instance repeated ×N; returns `renames` with their layers' paths (`block2.3.fc1`)."""
    placed = {n: node for n, node in doc.nodes.items() if node.type_id == BLOCK}
    copies: dict[str, tuple[str, int]] = {}  # folded instance → (the instance kept, its copy index)
    for head in list(placed):
        if head not in doc.nodes or head in copies:
            continue
        definition = doc.blocks[placed[head].params["block"]]
        if len([n for n in definition.nodes.values() if n.type_id in (BLOCK_INPUT, BLOCK_OUTPUT)]) != 2:
            continue
        chain = [head]
        while True:
            out = [e for e in doc.edges if e.src == chain[-1]]
            nxt = out[0].dst if len(out) == 1 else None
            if nxt is None or placed.get(nxt) is None or placed[nxt].params != placed[head].params or \
                    len(doc.edges_into(nxt)) != 1:
                break
            chain.append(nxt)
        if len(chain) < 2:
            continue
        tail_out = [e for e in doc.edges if e.src == chain[-1]]
        for n in chain[1:]:
            doc.remove_node(n)
        for e in tail_out:
            doc.add_edge(Edge(head, e.src_port, e.dst, e.dst_port))
        doc.set_param(head, "repeat", len(chain))
        kept = _renamed_instance(doc, head, naming.folded(chain) if naming else None)
        copies |= {n: (kept, k) for k, n in enumerate(chain)}
    if not copies:
        return renames
    result = {}
    for old, path in renames.items():
        instance, _, inner = path.partition(".")
        kept, k = copies.get(instance, (instance, None))
        result[old] = f"{kept}.{k}.{inner}" if k is not None else path
    return result


def _renamed_instance(doc: GraphDocument, node_id: str, wanted: str | None) -> str:
    """Give instance `node_id` the id `wanted` (its wires follow) when that id is free; returns the id it has."""
    if not wanted or wanted == node_id or wanted in doc.nodes or node_id_problem(wanted):
        return node_id
    node, index = doc.nodes[node_id], list(doc.nodes).index(node_id)
    wires = [e for e in doc.edges if node_id in (e.src, e.dst)]
    doc.remove_node(node_id)
    doc.add_node(node.type_id, node.params, node.position, node_id=wanted, index=index)
    for e in wires:
        doc.add_edge(Edge(wanted if e.src == node_id else e.src, e.src_port,
                          wanted if e.dst == node_id else e.dst, e.dst_port))
    return wanted
