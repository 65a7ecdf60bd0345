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

Port nodes and instances have no `NodeSpec` in the node registry: they exist only in documents.
When validating or compiling, `engine.block_expand` replaces every instance by a scoped copy of
its definition (`block3.fc1`, `block3.0.fc1`…) and every port node by a pass-through of type
`PORT_SPEC`; `spec_of` finds that spec for the engine's own checks.

The instance type id `BLOCK`, `instance_block` and the rules every definition obeys (its name, no
definition containing itself) belong to `engine.document`, which enforces them on every edit; this
module builds on the document and is never imported by it.
"""

from __future__ import annotations

from nodes import NodeSpec, Param, Port, get_spec

from .document import BLOCK, GraphDocument, NodeState, instance_block, used_blocks

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


