"""The graph document: the one source of truth that the canvas, validator and compiler read.

Nodes live in a dict keyed by a stable, readable id (`conv1`, `fc2`) that becomes a submodule
name, a state_dict key and a variable in generated code, so `node_id_problem` holds the one rule
every way an id enters (files, edits, paste, ONNX import) obeys. Edges are value tuples. Every
mutation goes through a method here and is announced to subscribers as a plain-Python event, so a
view (the Qt scene) can mirror the document without ever holding the truth.

Whatever a document holds must survive a JSON round trip and every consumer downstream: params are
finite numbers, valid text, bools, None and lists/objects nested at most `MAX_NESTING` deep (checked
before anything deep-copies them), positions lie within ±`MAX_COORDINATE`.

A document also holds block definitions (`blocks`, each a GraphDocument) and the instance nodes that
place them (type `BLOCK`, param `block` naming the definition). The rules that keep them sound —
a definition's name (`block_name_problem`), no definition containing itself (`containment_cycle`,
`contains`) — live here because the document enforces them on every edit; what blocks mean (ports,
repeat, expansion) is `engine.blocks`, and group/ungroup/make-unique are functions in
`engine.block_edit`. Neither is imported here: they build on the document, not the other way round.
"""

from __future__ import annotations

import copy
import keyword
import math
import re
import reprlib
import sys
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from nodes import get_spec

from .errors import DocumentError

_NODE_ID = re.compile(r"[A-Za-z][A-Za-z0-9_]*")  # ASCII: ids also name files, tensors and ONNX nodes
BLOCK = "Block"  # type id of a block instance node (see engine.blocks)
INSTANCE_KEYS = ("block", "repeat")  # an instance's own params; the others are its block's exposed ones
MAX_BLOCK_DEPTH = 64  # definitions nested in each other: deeper is refused (load, add, place, expand)
_BLOCK_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
# Attribute names of torch.nn.Module and fx.GraphModule (a submodule stored under one breaks the
# compiled or exported module); `self`, the generated code's name for the module; and `torch`, since
# fx writes torch functions by their qualified name (`torch.relu(x)`), which a variable named after
# the node would shadow. Names with a leading underscore are refused by the pattern; tests check
# this list against the installed torch.
RESERVED_IDS = frozenset("""
    T_destination add_module add_submodule apply bfloat16 buffers call_super_init children code compile cpu
    cuda delete_all_unused_submodules delete_submodule double dump_patches eval extra_repr float forward
    get_buffer get_extra_state get_parameter get_submodule graph half ipu load_state_dict meta modules mtia
    named_buffers named_children named_modules named_parameters parameters print_readable recompile
    register_backward_hook register_buffer register_forward_hook register_forward_pre_hook
    register_full_backward_hook register_full_backward_pre_hook register_load_state_dict_post_hook
    register_load_state_dict_pre_hook register_module register_parameter register_state_dict_post_hook
    register_state_dict_pre_hook requires_grad_ set_extra_state set_submodule shape_env share_memory
    state_dict to to_empty to_folder train training type xpu zero_grad self torch
""".split())
MAX_NESTING = 32  # lists/objects inside one param value; real params nest one or two levels
MAX_COORDINATE = 1e9  # canvas positions, far beyond any real layout
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # control characters other than tab and newline
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxlong = 2, 60, 60, 40
Listener = Callable[..., None]


class Edge(NamedTuple):
    """A wire from an output port to an input port."""

    src: str
    src_port: str
    dst: str
    dst_port: str

    def __str__(self) -> str:
        return f"{self.src}.{self.src_port} → {self.dst}.{self.dst_port}"


@dataclass
class NodeState:
    type_id: str
    params: dict[str, Any] = field(default_factory=dict)
    position: tuple[float, float] = (0.0, 0.0)


class GraphDocument:
    """Nodes, edges and the training section, with change events.

    Events are delivered as `listener(event, **payload)` with `event` one of: node_added(node_id),
    node_removed(node_id), edge_added(edge), edge_removed(edge), param_changed(node_id, name, value),
    node_moved(node_id, position), nodes_moved(positions: {node_id: position}) for a move of many
    nodes at once (auto-layout, undo of a drag), training_changed(key, value), name_changed(name), reset(),
    exposed_changed(name, targets) (a definition's exposed parameters, see engine.blocks),
    block_added(name), block_removed(name), and block_changed(block, change, payload) — any event
    `change` of the definition `block` (itself a GraphDocument in `blocks`), forwarded with its payload.
    Blocks (definitions, instances) are described in `engine.blocks`; group, ungroup and make-unique are
    functions over a document in `engine.block_edit`.
    """

    def __init__(self, name: str = "untitled", description: str = ""):
        self.name = name
        self.description = description
        self.nodes: dict[str, NodeState] = {}
        self.edges: list[Edge] = []  # the wire order (files keep it); change it only through the methods below
        self._edge_set: set[Edge] = set()  # the same wires, for O(1) membership: loading stays linear
        self.training: dict[str, Any] = {}
        self.blocks: dict[str, GraphDocument] = {}  # block definitions by name; change them through the methods
        # In a definition: the inner params its instances set as their own, name → targets `node.param`
        # (see engine.blocks); change it through set_exposed.
        self.exposed: dict[str, list[str]] = {}
        self._listeners: list[Listener] = []
        # Called as listener_failed(event, [exceptions]) after every listener of `event` has run; see _emit.
        self.listener_failed: Callable[[str, list[Exception]], None] | None = None
        self._forwarders: dict[str, Listener] = {}  # definition name → its listener forwarding block_changed
        self._group_memo: dict[str, tuple[list[str], list[Edge]]] = {}  # see engine.block_edit.ungroup

    # -- observers -------------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    def _emit(self, event: str, **payload: Any) -> None:
        """Hand the event to every listener, whatever one of them does: a listener that raises is recorded
        and the ones after it still run, so no view is left on the old state because another failed.
        The failures then go to `listener_failed` (the app shows and logs them); without one they are
        raised together once every listener has run (a bug in a headless caller stays loud)."""
        failures: list[Exception] = []
        for listener in list(self._listeners):
            try:
                listener(event, **payload)
            except Exception as exc:  # noqa: BLE001 - collected, reported below
                failures.append(exc)
        if failures:
            self._report_failures(event, failures)

    def _report_failures(self, event: str, failures: list[Exception]) -> None:
        if self.listener_failed is not None:
            self.listener_failed(event, failures)
        elif len(failures) == 1:
            raise failures[0]
        else:
            raise ExceptionGroup(f"{len(failures)} listeners of {event!r} failed", failures)

    # -- queries ---------------------------------------------------------------------------
    def node(self, node_id: str) -> NodeState:
        try:
            return self.nodes[node_id]
        except KeyError:
            raise DocumentError(f"there is no node {node_id!r}") from None

    def edges_of(self, node_id: str) -> list[Edge]:
        return [e for e in self.edges if node_id in (e.src, e.dst)]

    def edges_into(self, node_id: str, port: str | None = None) -> list[Edge]:
        return [e for e in self.edges if e.dst == node_id and (port is None or e.dst_port == port)]

    def new_id(self, type_id: str) -> str:
        """The first free id made of the type's prefix and a counter (`conv1`, `conv2`, …)."""
        spec = get_spec(type_id)
        return _first_free(spec.id_prefix if spec else _identifier_base(type_id.lower()), self.nodes)

    # -- mutations -------------------------------------------------------------------------
    def add_node(
        self, type_id: str, params: dict[str, Any] | None = None, position: tuple[float, float] = (0.0, 0.0),
        node_id: str | None = None, index: int | None = None,
    ) -> str:
        """Add a node with the spec's defaults overlaid by `params`; returns its id.

        `index` puts it at that place in the node order (undo restores a deleted node where it was,
        so a saved file does not change order); by default it goes last.
        """
        node_id = self.new_id(type_id) if node_id is None else node_id
        if problem := node_id_problem(node_id):
            raise DocumentError(f"node id {preview(node_id)} {problem}")
        if node_id in self.nodes:
            raise DocumentError(f"a node named {node_id!r} already exists")
        if problem := position_problem(position):
            raise DocumentError(f"{node_id}: position: {problem}")
        spec = get_spec(type_id)
        for name, value in (params or {}).items():
            _require_json_value(name, value, node_id)
        merged = (spec.defaults() if spec else {}) | copy.deepcopy(params or {})
        merged = {k: list(v) if isinstance(v, tuple) else v for k, v in merged.items()}
        self.nodes[node_id] = NodeState(type_id, merged, (float(position[0]), float(position[1])))
        if index is not None and index < len(self.nodes) - 1:
            items = list(self.nodes.items())
            items.insert(index, items.pop())
            self.nodes.clear()
            self.nodes.update(items)
        self._emit("node_added", node_id=node_id)
        return node_id

    def remove_node(self, node_id: str) -> None:
        """Remove a node and every wire touching it (each wire's removal is announced first)."""
        self.node(node_id)
        for edge in self.edges_of(node_id):
            self.remove_edge(edge)
        del self.nodes[node_id]
        self._emit("node_removed", node_id=node_id)

    def has_edge(self, edge: Edge) -> bool:
        return Edge(*edge) in self._edge_set

    def add_edge(self, edge: Edge, index: int | None = None) -> None:
        """Add a wire (at `index` in the wire order, else last).

        Structural checks only; port compatibility is validation's job."""
        edge = Edge(*edge)
        self.node(edge.src)
        self.node(edge.dst)
        if edge in self._edge_set:
            raise DocumentError(f"the wire {edge} already exists")
        self.edges.insert(len(self.edges) if index is None else index, edge)
        self._edge_set.add(edge)
        self._emit("edge_added", edge=edge)

    def remove_edge(self, edge: Edge) -> None:
        edge = Edge(*edge)
        if edge not in self._edge_set:
            raise DocumentError(f"there is no wire {edge}")
        self.edges.remove(edge)
        self._edge_set.discard(edge)
        self._emit("edge_removed", edge=edge)

    def set_param(self, node_id: str, name: str, value: Any) -> None:
        value = list(value) if isinstance(value, tuple) else value
        node = self.node(node_id)
        _require_json_value(name, value, node_id)
        node.params[name] = copy.deepcopy(value)
        self._emit("param_changed", node_id=node_id, name=name, value=value)

    def move_node(self, node_id: str, position: tuple[float, float]) -> None:
        node = self.node(node_id)
        if problem := position_problem(position):
            raise DocumentError(f"{node_id}: position: {problem}")
        node.position = (float(position[0]), float(position[1]))
        self._emit("node_moved", node_id=node_id, position=self.nodes[node_id].position)

    def move_nodes(self, positions: dict[str, tuple[float, float]]) -> None:
        """Move several nodes as one change, announced by one `nodes_moved` event: a layout of thousands of
        nodes would otherwise send thousands of events through every listener. All or nothing."""
        for node_id, position in positions.items():
            self.node(node_id)
            if problem := position_problem(position):
                raise DocumentError(f"{node_id}: position: {problem}")
        for node_id, position in positions.items():
            self.nodes[node_id].position = (float(position[0]), float(position[1]))
        self._emit("nodes_moved", positions={node_id: self.nodes[node_id].position for node_id in positions})

    def set_exposed(self, name: str, targets: Sequence[str] | None) -> None:
        """Expose `targets` (`conv1.out_channels`…) as the instances' param `name`; None or [] removes it.
        Emits exposed_changed(name, targets); an exposure already there keeps its place in the order."""
        if problem := exposed_name_problem(name):
            raise DocumentError(f"block parameter {preview(name)} {problem}")
        for target in targets or ():
            if problem := exposed_target_problem(target):
                raise DocumentError(f"block parameter {name}: {problem}")
        if targets:
            self.exposed[name] = list(targets)
        else:
            self.exposed.pop(name, None)
        self._emit("exposed_changed", name=name, targets=list(targets or ()))

    def set_training(self, key: str, value: Any) -> None:
        self.training[key] = value
        self._emit("training_changed", key=key, value=value)

    def set_name(self, name: str) -> None:
        """The graph's display name (titles, run names, exports); never empty."""
        name = name.strip()
        if not name:
            raise DocumentError("a graph's name cannot be empty")
        if problem := text_problem(name):
            raise DocumentError(f"the graph's name {problem}")
        self.name = name
        self._emit("name_changed", name=name)

    def replace_with(self, other: GraphDocument) -> None:
        """Take over `other`'s content (open, revert); listeners stay and receive `reset`."""
        self.name, self.description = other.name, other.description
        self.nodes, self.edges, self.training = other.nodes, other.edges, other.training
        self.exposed = other.exposed
        self._edge_set = set(other.edges)
        for name in list(self.blocks):
            self._detach(name)
        for name in list(other.blocks):
            definition = other._detach(name)
            self._attach(name, definition)
        self._group_memo = {}
        self._emit("reset")

    # -- blocks (see engine.blocks; editing operations in engine.block_edit) ----------------------
    def block(self, name: str) -> GraphDocument:
        """The definition `name`: a GraphDocument to edit with the ordinary methods (every instance sees
        the edit; its events come out of this document as block_changed)."""
        try:
            return self.blocks[name]
        except KeyError:
            raise DocumentError(f"there is no block definition {name!r}") from None

    def add_block(self, name: str, definition: GraphDocument, index: int | None = None) -> None:
        """Add a definition under `name` (renaming `definition` to it); `index` places it in the order."""
        if problem := block_name_problem(name):
            raise DocumentError(f"block name {preview(name)} {problem}")
        if name in self.blocks:
            raise DocumentError(f"a block named {name!r} already exists")
        definition.name = name
        blocks = {**self.blocks, name: definition}
        if cycle := containment_cycle(blocks, name):
            raise DocumentError(f"block {name!r} would contain itself ({chain_text(cycle)})")
        if chain := too_deep(blocks):
            raise DocumentError(nesting_problem(chain))
        self._attach(name, definition, index)
        self._emit("block_added", name=name)

    def remove_block(self, name: str) -> GraphDocument:
        """Remove an unused definition and return it (undo adds it back)."""
        self.block(name)
        if users := self.instances_of(name):
            where = ", ".join(f"{inside}/{node_id}" if inside else node_id for inside, node_id in users[:3])
            raise DocumentError(f"block {name!r} is still placed ({where}) — delete or ungroup those first")
        definition = self._detach(name)
        self._emit("block_removed", name=name)
        return definition

    def instances_of(self, name: str) -> list[tuple[str | None, str]]:
        """Where definition `name` is placed: (containing definition or None for the graph, node id)."""
        return [(inside, node_id) for inside, d in ((None, self), *self.blocks.items())
                for node_id, node in d.nodes.items() if node.type_id == BLOCK and node.params.get("block") == name]

    def new_block_name(self, base: str = "Block") -> str:
        return base if base not in self.blocks else _first_free(base, self.blocks)

    def place_block(self, name: str, position: tuple[float, float] = (0.0, 0.0), *, inside: str | None = None,
                    repeat: int = 1, node_id: str | None = None) -> str:
        """Add an instance of definition `name` to the graph (or to definition `inside`); returns its id."""
        self.block(name)
        container = self if inside is None else self.block(inside)
        if inside is not None and contains(self.blocks, name, inside):
            raise DocumentError(f"block {name!r} cannot be placed inside {inside!r}: it would contain itself")
        node_id = container.add_node(BLOCK, {"block": name, "repeat": repeat}, position, node_id=node_id)
        if inside is not None and (chain := too_deep(self.blocks)):
            container.remove_node(node_id)
            raise DocumentError(f"block {name!r} cannot be placed inside {inside!r}: {nesting_problem(chain)}")
        return node_id

    def _attach(self, name: str, definition: GraphDocument, index: int | None = None) -> None:
        def forward(event: str, **payload: Any) -> None:
            self._emit("block_changed", block=name, change=event, payload=payload)

        self.blocks[name] = definition
        if index is not None and index < len(self.blocks) - 1:
            items = list(self.blocks.items())
            items.insert(index, items.pop())
            self.blocks = dict(items)
        self._forwarders[name] = forward
        definition.subscribe(forward)

    def _detach(self, name: str) -> GraphDocument:
        definition = self.blocks.pop(name)
        definition.unsubscribe(self._forwarders.pop(name))
        return definition


def node_id_problem(node_id: object) -> str | None:
    """Why `node_id` cannot name a node, or None when it can.

    An id becomes a submodule attribute, a state_dict key, a variable in the compiled and exported
    forward and a class attribute of the exported `.py`, so it must be an ASCII identifier starting
    with a letter (a leading `__` would be name-mangled in the exported class), not a Python keyword
    and not a torch.nn.Module attribute. The soft keywords `match` and `case` are ordinary names
    everywhere an id appears, so they are allowed; `type` is a Module method and `_` lacks a letter.
    """
    if not isinstance(node_id, str) or not _NODE_ID.fullmatch(node_id):
        return "must start with a letter and hold only letters (A–Z), digits and _"
    if keyword.iskeyword(node_id):
        return "is a Python keyword, which generated code cannot use as a name — rename the node"
    if node_id in RESERVED_IDS:
        return "is the name of a torch module attribute, which a layer cannot be stored under — rename the node"
    return None


def block_name_problem(name: object) -> str | None:
    """Why `name` cannot name a definition: it becomes a class name in exported code and a file name
    in the library, so an ASCII identifier of at most 64 characters starting with a letter."""
    if not isinstance(name, str) or not _BLOCK_NAME.fullmatch(name):
        return "must start with a letter and hold only letters (A–Z), digits and _ (at most 64)"
    return None


def exposed_name_problem(name: object) -> str | None:
    """Why `name` cannot name a block's exposed parameter: an instance holds it beside `block` and
    `repeat`, and the exported class takes it as a keyword argument."""
    if not isinstance(name, str) or not _NODE_ID.fullmatch(name) or keyword.iskeyword(name):
        return "must start with a letter and hold only letters (A–Z), digits and _, and not be a Python keyword"
    if name in INSTANCE_KEYS:
        return f"is one of an instance's own parameters ({', '.join(INSTANCE_KEYS)}) — choose another name"
    return None


def exposed_target_problem(target: object) -> str | None:
    """Why `target` is not an inner parameter written `node.param`, or None."""
    if not isinstance(target, str):
        return f"expected 'node.param', got {preview(target)}"
    node_id, dot, param = target.partition(".")
    if not dot or node_id_problem(node_id) or not param.isidentifier():
        return f"expected 'node.param', got {preview(target)}"
    return None


def instance_block(node: NodeState) -> str | None:
    """The name of the definition an instance node places (None when its `block` param is not text)."""
    name = node.params.get("block")
    return name if isinstance(name, str) else None


def used_blocks(doc: GraphDocument) -> list[str]:
    """The definitions `doc` places directly, in node order, without repeats."""
    return list(dict.fromkeys(name for node in doc.nodes.values()
                              if node.type_id == BLOCK and (name := instance_block(node)) is not None))


def chain_text(names: Sequence[str], keep: int = 3) -> str:
    """`A → B → C → … (58 more) → X → Y → Z`: a chain of definitions, shortened in the middle."""
    if len(names) <= 2 * keep + 1:
        return " → ".join(names)
    return " → ".join((*names[:keep], f"… ({len(names) - 2 * keep} more)", *names[-keep:]))


def nesting_problem(chain: Sequence[str]) -> str:
    """What is said of a chain of definitions nested past MAX_BLOCK_DEPTH."""
    return f"blocks nest more than {MAX_BLOCK_DEPTH} deep ({chain_text(chain)}) — ungroup some of them"


def containment_cycle(blocks: dict[str, GraphDocument], start: str, done: set[str] | None = None) -> list[str] | None:
    """A chain `[A, …, A]` of definitions containing each other that `start` leads to, or None.

    Walked iteratively, so however deep the nesting nothing recurses. `done` may carry the definitions
    already found to lead to no cycle from one call to the next."""
    done = set() if done is None else done
    path: list[str] = []
    on_path: set[str] = set()
    stack = [iter((start,))]
    while stack:
        name = next(stack[-1], None)
        if name is None:
            stack.pop()
            if path:
                on_path.discard(path[-1])
                done.add(path.pop())
            continue
        if name in on_path:
            return [*path[path.index(name):], name]
        if name in done or name not in blocks:
            continue
        path.append(name)
        on_path.add(name)
        stack.append(iter(used_blocks(blocks[name])))
    return None


def too_deep(blocks: dict[str, GraphDocument]) -> list[str] | None:
    """A chain of definitions nested past MAX_BLOCK_DEPTH (each placing the next) — the longest one the
    first such definition starts — or None. Iterative, so the nesting it measures never recurses; meant
    for definitions free of cycles (a definition placed again inside itself ends a chain there)."""
    depth: dict[str, int] = {}  # the longest chain each definition starts, itself included
    deeper: dict[str, str | None] = {}  # the placed definition that chain goes on to
    for root in blocks:
        if root in depth:
            continue
        active = {root}
        stack = [(root, iter(used_blocks(blocks[root])))]
        while stack:
            name, inner = stack[-1]
            child = next((c for c in inner if c in blocks and c not in depth and c not in active), None)
            if child is not None:
                active.add(child)
                stack.append((child, iter(used_blocks(blocks[child]))))
                continue
            stack.pop()
            active.discard(name)
            best = max((c for c in used_blocks(blocks[name]) if c in depth), key=depth.__getitem__, default=None)
            depth[name], deeper[name] = 1 + (depth[best] if best is not None else 0), best
    start = next((name for name in blocks if depth[name] > MAX_BLOCK_DEPTH), None)
    if start is None:
        return None
    chain: list[str] = []
    while start is not None:
        chain.append(start)
        start = deeper[start]
    return chain


def contains(blocks: dict[str, GraphDocument], outer: str, inner: str) -> bool:
    """True when definition `outer` is `inner` or places it, directly or through other definitions."""
    seen, stack = set(), [outer]
    while stack:
        name = stack.pop()
        if name == inner:
            return True
        if name in seen or name not in blocks:
            continue
        seen.add(name)
        stack.extend(used_blocks(blocks[name]))
    return False


def make_node_id(text: str, taken: Container[str]) -> str:
    """A valid id not in `taken` made from any text — an ONNX node name, a pasted or typed id.

    Runs of other characters become `_`, a leading digit gets `n_`, and an id that is refused or
    taken gets a counter: `/class/Gemm` → `class_Gemm`, `class` → `class_1`, `7x7` → `n_7x7`.
    """
    base = _identifier_base(text)
    return base if base not in taken and node_id_problem(base) is None else _first_free(f"{base}_", taken)


def _identifier_base(text: str) -> str:
    base = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_") or "node"
    return base if base[0].isalpha() else f"n_{base}"


def _first_free(prefix: str, taken: Container[str]) -> str:
    n = 1
    while (candidate := f"{prefix}{n}") in taken or node_id_problem(candidate):
        n += 1
    return candidate


def position_problem(position: object) -> str | None:
    """Why `position` is not a canvas position `[x, y]` (two numbers within ±MAX_COORDINATE), or None."""
    if type(position) is tuple and len(position) == 2 and type(position[0]) is type(position[1]) is float \
            and abs(position[0]) <= MAX_COORDINATE and abs(position[1]) <= MAX_COORDINATE:
        return None  # the common case, tested first: a layout moves thousands of nodes at once
    ok = isinstance(position, (list, tuple)) and len(position) == 2 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) <= MAX_COORDINATE for v in position
    )  # `abs(nan) <= …` is False and an int of any size compares exactly, so no conversion can fail
    return None if ok else f"expected [x, y] with two numbers within ±{MAX_COORDINATE:g}, got {preview(position)}"


def text_problem(text: str) -> str | None:
    """Why `text` cannot be a graph's name or description: control characters (tab and newline aside)
    garble terminals, titles and generated code; lone surrogates cannot be written to any file."""
    if found := _CONTROL.search(text):
        return f"holds the control character {found.group()!r} — remove it"
    return _text_encoding_problem(text)


def json_problem(value: Any, max_depth: int = MAX_NESTING) -> tuple[str, str] | None:
    """Why `value` cannot be kept as JSON data: `(path below value, reason)`, or None when it can.

    Iterative, so no nesting can exhaust Python's stack: the depth check comes before anything
    (deepcopy, repr, validation) recurses into the value. Refused: lists/objects nested deeper than
    `max_depth`, non-text keys, non-finite floats, ints too large to be a float, lone surrogates
    (which no file can be written with), and any other type.
    """
    stack = [(value, (), 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, (list, tuple, dict)):
            if depth == max_depth:
                return _path(path), f"lists or objects nest too deeply (a value may nest {MAX_NESTING} levels)"
            children = list(item.items() if isinstance(item, dict) else enumerate(item))
            for key, _ in children:
                if isinstance(item, dict) and (problem := _key_problem(key)):
                    return _path(path), problem
            stack.extend((child, (*path, key), depth + 1) for key, child in reversed(children))
        elif problem := _scalar_problem(item):
            return _path(path), problem
    return None


def _key_problem(key: Any) -> str | None:
    if not isinstance(key, str):
        return f"keys must be text, got {preview(key)}"
    if _CONTROL.search(key):
        return f"the key {preview(key)} holds control characters"
    return _text_encoding_problem(key)


def _scalar_problem(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        return _text_encoding_problem(value)
    if isinstance(value, int):
        if abs(value) > sys.float_info.max:  # an exact int/float comparison: nothing overflows
            return f"an integer of about {round(value.bit_length() * 0.30103)} digits is too large to be a number"
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{value} is not a finite number"
    return f"{type(value).__name__} values cannot be saved"


def _text_encoding_problem(text: str) -> str | None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"{preview(text)} holds {text[exc.start]!r}, a lone surrogate that is not valid text"
    return None


def _path(keys: tuple) -> str:
    """`("params", "shape", 0)` → `.params.shape[0]`; past a few levels the rest is elided."""
    parts = [f"[{key}]" if isinstance(key, int) else f".{key}" if key.isidentifier() else f"[{preview(key)}]"
             for key in keys[:6]]
    return "".join(parts) + ("…" if len(keys) > 6 else "")


def _require_json_value(name: Any, value: Any, node_id: str) -> None:
    """A param must survive a JSON round trip (see `json_problem`); refuse it, naming it, if not."""
    if problem := _key_problem(name):
        raise DocumentError(f"{node_id}: params: {problem}")
    if found := json_problem(value):
        raise DocumentError(f"{node_id}.{name}{found[0]}: {found[1]}")


def preview(value: Any) -> str:
    """A repr for messages, short and shallow whatever a file held."""
    return _REPR.repr(value)
