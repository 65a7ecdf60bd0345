"""An ExportedProgram's ATen ops grouped into *calls*: one call of a built-in layer module (all the
ops a `torch.nn.Conv2d` or `torch.nn.MultiheadAttention` ran, become one node), or one functional
op written in a module's forward (`x + y`, `torch.flatten`), each its own call.

`nn_module_stack` tags every op with the module calls it sits in, innermost last; its keys tell
repeated calls of one module apart (`…relu` and `…relu@1` — torchvision's BasicBlock calls its
ReLU twice), and its values give the module's path (`layer1.0.relu`) and class.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from torch import fx


@dataclass
class Call:
    key: str  # the module call's key in nn_module_stack, or the op's own name for a functional call
    path: str  # the module's path ("layer1.0.conv1"); a functional call: the path of the module it is written in
    kind: str  # the module's class ("torch.nn.modules.conv.Conv2d"), or "" for a functional op
    ops: list[fx.Node] = field(default_factory=list)
    inputs: list[fx.Node] = field(default_factory=list)  # tensors from outside the call, in order of use
    output: fx.Node | None = None  # the op whose value leaves the call

    @property
    def repeat(self) -> int:
        """0 for a module's first call, n for its call `@n`."""
        _, _, count = self.key.rpartition("@")
        return int(count) if "@" in self.key and count.isdigit() else 0

    def op(self, *targets: str) -> fx.Node | None:
        """The first op of the call whose ATen name (`conv2d`, `batch_norm`) is one of `targets`."""
        return next((node for node in self.ops if aten_name(node) in targets), None)


def aten_name(node: fx.Node) -> str:
    """`aten.conv2d.default` → `conv2d`, an in-place `aten.relu_` → `relu`; other call targets
    (operator.getitem…) by their __name__."""
    target = node.target
    packet = getattr(target, "_overloadpacket", None)
    name = getattr(packet, "__name__", None) or getattr(target, "__name__", str(target))
    return name[:-1] if name.endswith("_") and not name.startswith("_") else name


ATTENTION = "attention"  # the kind of a call that is a module's attention written out (see attention_modules)


def group_calls(program: torch.export.ExportedProgram, leaf_kinds: set[str]) -> list[Call]:
    """The calls of `program` in graph order; modules of `leaf_kinds` (class names) are one call each, and
    so is each module that writes attention out (kind ATTENTION)."""
    calls: list[Call] = []
    current: Call | None = None
    attention = attention_modules(program, leaf_kinds)
    for node in program.graph.nodes:
        if node.op != "call_function":
            continue
        stack = node.meta.get("nn_module_stack") or {}
        leaf = _innermost_leaf(stack, leaf_kinds, attention)
        if leaf is not None and current is not None and current.key == leaf[0]:
            current.ops.append(node)
            continue
        if leaf is not None:
            key, (path, kind) = leaf
            current = Call(key, path, kind, [node])
        else:
            path = _path(list(stack.values())[-1]) if stack else ""
            current = Call(node.name, path, "", [node])
        calls.append(current)
    for call in calls:
        _connect(call)
    return calls


def attention_modules(program: torch.export.ExportedProgram, leaf_kinds: set[str]) -> set[str]:
    """The module calls (nn_module_stack keys) that are one attention written out, as GPTs write it: the
    innermost module around a scaled_dot_product_attention that holds no other one and at least two
    linear projections (q/k/v, fused or not, and the output's — which BERT keeps in the next module)."""
    ops_under: dict[str, list[fx.Node]] = {}
    for node in program.graph.nodes:
        for key in (node.meta.get("nn_module_stack") or {}) if node.op == "call_function" else ():
            ops_under.setdefault(key, []).append(node)
    found = set()
    for node in program.graph.nodes:
        if node.op != "call_function" or aten_name(node) != "scaled_dot_product_attention":
            continue
        stack = node.meta.get("nn_module_stack") or {}
        for key in reversed(stack):
            if _kind(stack[key]) in leaf_kinds:
                break  # inside torch's own MultiheadAttention: a leaf already
            names = [aten_name(op) for op in ops_under[key]]
            projections = names.count("linear") + names.count("addmm")  # addmm: Hugging Face's Conv1D (GPT-2)
            if names.count("scaled_dot_product_attention") == 1 and projections >= 2:
                found.add(key)
                break
    return found


def _innermost_leaf(stack: dict, leaf_kinds: set[str], attention: set[str]):
    """The outermost module of the stack that is a leaf layer (a leaf's own submodules, such as
    MultiheadAttention's out_proj, belong to it) or a written-out attention, as (key, (path, kind)), or None."""
    for key, value in stack.items():
        path, kind = _path(value), _kind(value)
        if kind in leaf_kinds:
            return key, (path, kind)
        if key in attention:
            return key, (path, ATTENTION)
    return None


def _path(value) -> str:
    return value[0] if isinstance(value, tuple) else str(value)


def _kind(value) -> str:
    kind = value[1] if isinstance(value, tuple) else ""
    return kind if isinstance(kind, str) else f"{kind.__module__}.{kind.__qualname__}"


def _connect(call: Call) -> None:
    members = set(call.ops)
    for node in call.ops:
        for arg in node.all_input_nodes:
            if arg not in members and arg not in call.inputs:
                call.inputs.append(arg)
    leaving = [node for node in call.ops if any(user not in members for user in node.users)]
    call.output = leaving[-1] if leaving else call.ops[-1]
