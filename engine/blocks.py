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

from collections.abc import Sequence

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
MAX_BLOCK_DEPTH = 64

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


def chain_text(names: Sequence[str], keep: int = 3) -> str:
    """`A → B → C → … (58 more) → X → Y → Z`: a chain of definitions, shortened in the middle."""
    if len(names) <= 2 * keep + 1:
        return " → ".join(names)
    return " → ".join((*names[:keep], f"… ({len(names) - 2 * keep} more)", *names[-keep:]))


def nesting_problem(chain: Sequence[str]) -> str:
    """What is said of a chain of definitions nested past MAX_BLOCK_DEPTH."""
    return f"blocks nest more than {MAX_BLOCK_DEPTH} deep ({chain_text(chain)}) — ungroup some of them"


def definition_cycle(blocks: dict[str, GraphDocument], start: str, done: set[str] | None = None) -> list[str] | None:
    """A chain `[A, …, A]` of definitions containing each other that `start` leads to, or None.

    `engine.document.containment_cycle` walked iteratively (the same chain, however deep the nesting).
    `done` may carry the definitions already found to lead to no cycle from one call to the next."""
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
