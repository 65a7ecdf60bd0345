"""Blocks: reusable sub-graphs with named ports, placed as instance nodes.

A **definition** is a `GraphDocument` kept in the main document's `blocks` (by name). Besides
ordinary layer nodes it holds *port nodes*: a `BlockInput` node per input port and a `BlockOutput`
node per output port, the node id being the port's name (`x`, `fc2_out`). Their order in the
definition is the order of the instance's ports. Definitions may hold instances of other
definitions (nesting); a definition that contains itself, directly or through others, is refused.

An **instance** is a node of type `Block` whose params name its definition and how often it runs:
`NodeState("Block", {"block": "Encoder", "repeat": 6})`. Its ports are the definition's port
names; with `repeat` N > 1 the definition runs N times in sequence (output i of one copy feeds
input i of the next, weights not shared), so it needs as many inputs as outputs.

**Parameters**: a definition may expose inner parameters as its instances' own (`definition.exposed`,
name → targets `node.param`): `{"channels": ["conv1.out_channels", "conv2.out_channels"], "stride":
["conv1.stride"]}`. An instance sets them among its params (`{"block": "BasicBlock", "repeat": 1,
"channels": 128, "stride": 2}`); one it leaves out (or sets to None) takes the definition's default, the value its first
target holds in the definition. A target may be an inner instance's param — its `block` (choosing which
definition it places, e.g. a downsampling shortcut or none), `repeat`, or a parameter its block exposes;
a value pushed onto an inner instance whose block does not expose that name is ignored there.

Port nodes and instances have no `NodeSpec` in the node registry: they exist only in documents.
When validating or compiling, `engine.block_expand` replaces every instance by a scoped copy of
its definition (`block3.fc1`, `block3.0.fc1`…) and every port node by a pass-through of type
`PORT_SPEC`; `spec_of` finds that spec for the engine's own checks.

The instance type id `BLOCK`, `instance_block` and the rules every definition obeys (its name, no
definition containing itself) belong to `engine.document`, which enforces them on every edit; this
module builds on the document and is never imported by it.
"""

from __future__ import annotations

from typing import Any

from nodes import NodeSpec, Param, Port, get_spec

from .document import BLOCK, INSTANCE_KEYS, MAX_BLOCK_DEPTH, GraphDocument, NodeState, instance_block, used_blocks

BLOCK_INPUT = "BlockInput"  # type id of an input port node inside a definition
BLOCK_OUTPUT = "BlockOutput"  # type id of an output port node inside a definition
PASS = "layerloom.port"  # type id of a port node once expanded: a pass-through
MAX_REPEAT = 1000
MAX_EXPANDED_NODES = 100_000  # the layers a document may expand to: a hostile file cannot exhaust memory
# How many definitions may sit inside each other (the graph places level 1). Expansion, export and the
# document's own checks walk the nesting one level per call, so a file is refused past it at load
# (engine.fileformat) and expansion reports an instance past it instead of expanding it.

# What the inspector shows for an instance (its `block` param names the definition).
INSTANCE_PARAMS = (
    Param("repeat", "int", 1, "run the block this many times in sequence (weights not shared)", min=1,
          max=MAX_REPEAT),
)


def _identity(params, in_shapes):
    import torch

    return torch.nn.Identity()


PORT_SPEC = NodeSpec(
    type_id=PASS, title="Block port", category="Shape", id_prefix="port",
    doc="A block's port once the block is expanded: passes its input through unchanged.",
    inputs=(Port("in"),), outputs=(Port("out"),), params=(),
    infer=lambda params, in_shapes: {"out": in_shapes["in"]}, build=_identity,
)


def spec_of(type_id: str) -> NodeSpec | None:
    """The registry's spec, or the engine's own pass-through spec for expanded port nodes."""
    return PORT_SPEC if type_id == PASS else get_spec(type_id)


def is_instance(node: NodeState) -> bool:
    return node.type_id == BLOCK


def is_port(node: NodeState) -> bool:
    return node.type_id in (BLOCK_INPUT, BLOCK_OUTPUT)


def has_blocks(doc: GraphDocument) -> bool:
    """True when `doc` places any instance (then validation and compile expand it)."""
    return any(node.type_id == BLOCK for node in doc.nodes.values())


def input_ports(definition: GraphDocument) -> list[str]:
    return [n for n, node in definition.nodes.items() if node.type_id == BLOCK_INPUT]


def output_ports(definition: GraphDocument) -> list[str]:
    return [n for n, node in definition.nodes.items() if node.type_id == BLOCK_OUTPUT]


def instance_repeat(node: NodeState) -> int:
    """The repeat count, 1 when the param is missing or invalid (validation reports that)."""
    value = node.params.get("repeat", 1)
    return value if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_REPEAT else 1


def expanded_size(blocks: dict[str, GraphDocument], doc: GraphDocument) -> int:
    """How many nodes `doc` expands to (capped just past MAX_EXPANDED_NODES; cycles count as one).

    Iterative (a definition's size once the ones it places are known), so no nesting depth recurses."""
    memo: dict[str, int] = {}
    active: set[str] = set()  # the definitions being sized: one placed again inside itself counts as one node

    def size(d: GraphDocument) -> int:
        total = 0
        for node in d.nodes.values():
            name = instance_block(node) if node.type_id == BLOCK else None
            total += 1 if name is None or name not in memo else instance_repeat(node) * memo[name]
            if total > MAX_EXPANDED_NODES:
                return MAX_EXPANDED_NODES + 1
        return total

    for root in used_blocks(doc):
        if root not in blocks or root in memo:
            continue
        active.add(root)
        stack = [(root, iter(used_blocks(blocks[root])))]
        while stack:
            name, inner = stack[-1]
            child = next((c for c in inner if c in blocks and c not in memo and c not in active), None)
            if child is None:
                stack.pop()
                active.discard(name)
                memo[name] = size(blocks[name])
            else:
                active.add(child)
                stack.append((child, iter(used_blocks(blocks[child]))))
    return size(doc)




def split_target(target: str) -> tuple[str, str]:
    """`conv1.out_channels` → ("conv1", "out_channels")."""
    node_id, _, param = target.partition(".")
    return node_id, param


def exposed_default(blocks: dict[str, GraphDocument], definition: GraphDocument, name: str, depth: int = 0) -> Any:
    """The value an instance of `definition` takes for `name` when it sets none: what its first target
    holds in the definition (an inner instance's own value, else its block's default) — the next target's
    where that is nothing (an inner block that does not expose it) — None if no target holds one."""
    for target in definition.exposed.get(name, ()):
        node_id, param = split_target(target)
        node = definition.nodes.get(node_id)
        inner = blocks.get(instance_block(node) or "") if node is not None and node.type_id == BLOCK else None
        if node is not None and (param in node.params or inner is None):
            value = node.params.get(param)
        else:  # an inner instance's default is its block's: one level deeper, bounded like the nesting
            value = exposed_default(blocks, inner, param, depth + 1) if inner and depth < MAX_BLOCK_DEPTH else None
        if value is not None:
            return value
    return None


def instance_values(blocks: dict[str, GraphDocument], node: NodeState) -> dict[str, Any]:
    """Every parameter the instance's block exposes, with the instance's value or the default."""
    definition = blocks.get(instance_block(node) or "")
    if definition is None:
        return {}
    return {name: node.params[name] if node.params.get(name) is not None else
            exposed_default(blocks, definition, name) for name in definition.exposed}


def inner_params(definition: GraphDocument, values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """What `values` (exposed name → value) set inside `definition`: node id → {param: value}."""
    found: dict[str, dict[str, Any]] = {}
    for name, value in values.items():
        for target in definition.exposed.get(name, ()):
            node_id, param = split_target(target)
            found.setdefault(node_id, {})[param] = value
    return found


def unknown_params(blocks: dict[str, GraphDocument], node: NodeState) -> list[str]:
    """The params an instance sets (None: unset) that are neither its own nor exposed by its block."""
    definition = blocks.get(instance_block(node) or "")
    exposed = definition.exposed if definition is not None else {}
    return [name for name, value in node.params.items()
            if name not in INSTANCE_KEYS and name not in exposed and value is not None]


def exposure_problems(definition: GraphDocument) -> list[tuple[str, str]]:
    """(exposed name, what is wrong) for each target that names no inner param, or is exposed twice."""
    problems, seen = [], {}
    for name, targets in definition.exposed.items():
        for target in targets:
            node_id, param = split_target(target)
            node = definition.nodes.get(node_id)
            spec = get_spec(node.type_id) if node is not None else None
            if node is None or is_port(node):
                problems.append((name, f"block {definition.name!r} exposes {name} as {target}, but it has no "
                                       f"layer {node_id!r} — remove {target} from {name} or restore the node"))
            elif node.type_id != BLOCK and (spec is None or spec.param(param) is None):
                problems.append((name, f"block {definition.name!r} exposes {name} as {target}, but {node_id} "
                                       f"({node.type_id}) has no parameter {param!r}"))
            elif target in seen:
                problems.append((name, f"block {definition.name!r} exposes {target} twice ({seen[target]} and "
                                       f"{name}) — keep one"))
            seen.setdefault(target, name)
    return problems


def exposed_param(blocks: dict[str, GraphDocument], definition: GraphDocument, name: str) -> Param | None:
    """How an instance's param `name` is edited: its first target's `Param` (kind, range, choices) under
    the exposed name, its default the definition's; a `block` target chooses among the definitions.
    None when the first target names nothing editable (validation says why)."""
    shown, default = name, exposed_default(blocks, definition, name)
    doc = f"sets {', '.join(definition.exposed.get(name, ()))} inside the block"
    found = None
    for _ in range(MAX_BLOCK_DEPTH + 1):
        targets = definition.exposed.get(name)
        node = definition.nodes.get(split_target(targets[0])[0]) if targets else None
        param = split_target(targets[0])[1] if targets else ""
        if node is None or node.type_id != BLOCK:
            spec = get_spec(node.type_id) if node is not None else None
            found = spec.param(param) if spec else None
            break
        if param in INSTANCE_KEYS:
            found = Param("block", "choice", default, choices=tuple(blocks)) if param == "block" and \
                default in blocks else INSTANCE_PARAMS[0] if param == "repeat" else None
            break
        definition, name = blocks.get(instance_block(node) or "", GraphDocument()), param
    if found is None:
        return None
    usable = default is not None and found.problem(default) is None
    return Param(shown, found.kind, default if usable else found.default, doc, found.min, found.max, found.choices)


def chosen_blocks(doc: GraphDocument, name: str) -> set[str]:
    """The definitions that instances of `name` (anywhere in `doc`) choose for an inner instance through
    an exposed `block` parameter: what definition `name` needs besides those it places."""
    definition = doc.blocks[name]
    choosers = [exposed for exposed, targets in definition.exposed.items()
                if any(split_target(t)[1] == "block" for t in targets)]
    found = set()
    for inside, node_id in doc.instances_of(name) if choosers else ():
        node = (doc if inside is None else doc.blocks[inside]).nodes[node_id]
        found.update(value for exposed in choosers if isinstance(value := node.params.get(exposed), str))
    return found


def path_definitions(root: GraphDocument, path: list[str]) -> list[str]:
    """The definitions a way down (`["block2", "shortcut"]`: an instance of the graph, then one inside its
    definition…) leads through, as far as it leads, with the blocks the instances' exposed values choose."""
    names: list[str] = []
    d, params = root, {}
    for node_id in path:
        own = d.nodes.get(node_id)
        if own is None or not is_instance(own):
            break
        node = NodeState(own.type_id, {**own.params, **params.get(node_id, {})})
        name = instance_block(node)
        if name is None or name not in root.blocks:
            break
        names.append(name)
        d = root.blocks[name]
        params = inner_params(d, instance_values(root.blocks, node))
    return names
