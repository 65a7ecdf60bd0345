"""The generic Op node: the last resort for an operation no dedicated node covers (an ONNX or PyTorch import's
Erf, CumSum, Where…), so no model is refused for one missing op.

It calls one ATen operator, `torch.ops.aten.<op>(a[, b[, c]], *args)` or `(…, **args)`, with constant
arguments written as JSON. The name is looked up in `torch.ops.aten` only after it is checked to be an ATen
operator's name that computes a new tensor (never in-place), so nothing read from a file is evaluated. Shapes
and element types come from running the operator on meta-device tensors (no memory, no compute), so they are
exactly what torch would give: twice, with the unknown sizes (the batch) set to two different values, and a
size that differs between the runs is unknown again. The node must keep the batch first.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from .common import expect_min_rank
from .registry import register
from .spec import NodeSpec, Param, Port, ShapeError, format_shape

CATEGORY = "Math"
_NAME = re.compile(r"_?[a-z][a-z0-9_]*")
# torch constants an argument may name, written as Python spells them ("torch.float32"): element types and
# memory layouts — the only non-JSON constants ATen arguments take besides devices, which the compiler decides
_TORCH_CONSTANTS = ("float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool",
                    "complex64", "contiguous_format", "channels_last", "preserve_format")
_PLACEMENT = ("device", "layout", "pin_memory")  # where a result lives, not what it is: left to the compiler
_PROBES = (7, 11)  # two stand-ins for the unknown sizes: a size that follows them is unknown too
_PORTS = ("a", "b", "c")
# element types tried, in order, to find an op's shapes when only shapes are known (the import, the catalogue):
# floats; a boolean condition first (where); integers; booleans (logical ops)
_GUESSES = (("float32",) * 3, ("bool", "float32", "float32"), ("int64",) * 3, ("bool",) * 3)


class _BatchMoved(ValueError):
    """The op runs, but its output does not keep the batch first (a sum over every dim)."""


def resolve_op(name: str):
    """`torch.ops.aten.<name>` once `name` is checked to be an out-of-place ATen operator; raises ValueError
    saying why not."""
    import torch

    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"op {name!r} is not an ATen operator name (lower-case letters, digits and _, e.g. erf, "
                         "cumsum, floor)")
    packet = getattr(torch.ops.aten, name, None)
    if not isinstance(packet, torch._ops.OpOverloadPacket):
        raise ValueError(f"op {name!r} is not an ATen operator (torch.ops.aten has no {name!r}) — e.g. erf, cumsum, "
                         "floor")
    if all(getattr(packet, overload)._schema.is_mutable for overload in packet.overloads()):
        raise ValueError(f"op {name!r} writes into its inputs; use the out-of-place form ({name.rstrip('_')})")
    return packet


def parse_args(text: str) -> tuple[tuple, dict[str, Any]]:
    """(positional, keyword) constant arguments from the `args` param: a JSON list or object; a string naming a
    torch constant ("torch.float32") becomes it. Raises ValueError saying what is wrong."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"args {text!r} is not JSON ({exc}) — write a list like [1] or an object like "
                         '{"dim": 1}') from None
    if isinstance(value, list):
        return tuple(_constant(v) for v in value), {}
    if isinstance(value, dict):
        return (), {k: _constant(v) for k, v in value.items()}
    raise ValueError(f"args {text!r} must be a JSON list (positional) or object (keywords)")


def _constant(value: Any) -> Any:
    if isinstance(value, list):
        return [_constant(v) for v in value]
    if isinstance(value, str) and value.removeprefix("torch.") in _TORCH_CONSTANTS and value.startswith("torch."):
        import torch

        return getattr(torch, value.removeprefix("torch."))
    return value


def op_params(op: Any, args: Sequence = (), kwargs: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The Op node's params for an ATen call — what the PyTorch importer gives an fx node it has no node for.

    `op` is the call's target (an OpOverload such as `torch.ops.aten.cumsum.default`, its packet) or its name
    ("aten.cumsum.default", "aten::cumsum", "cumsum"); `args` are the constant positional arguments after the
    tensor inputs, `kwargs` the constant keyword arguments (`device`, `layout` and `pin_memory` are dropped: the
    compiler places tensors). Both at once are written as keywords, named by the overload's schema. Raises
    ValueError naming the op and the argument that is not a constant Layerloom can write down."""
    name = _op_name(op)
    resolve_op(name)
    kwargs = {k: v for k, v in (kwargs or {}).items() if k not in _PLACEMENT}
    if args and kwargs:
        kwargs = _named(op, name, args) | kwargs
        args = ()
    value = {k: _written(name, k, v) for k, v in kwargs.items()} if kwargs else \
        [_written(name, str(i), v) for i, v in enumerate(args)]
    return {"op": name, "args": json.dumps(value)}


def _op_name(op: Any) -> str:
    name = getattr(getattr(op, "overloadpacket", op), "__name__", None) if not isinstance(op, str) else op
    if not isinstance(name, str):
        raise ValueError(f"{op!r} is not an ATen operator")
    name = name.replace("::", ".")
    return name.removeprefix("aten.").split(".")[0]


def _named(op: Any, name: str, args: Sequence) -> dict[str, Any]:
    """Positional constants as keywords: the schema's positional arguments after its leading tensors."""
    schema = getattr(op, "_schema", None)
    if schema is None:
        raise ValueError(f"op {name!r}: positional and keyword arguments together need the overload (e.g. "
                         f"torch.ops.aten.{name}.default) to name them")
    positional = [a for a in schema.arguments if not a.kwarg_only]
    first = next((i for i, a in enumerate(positional) if str(a.type) != "Tensor"), len(positional))
    if first + len(args) > len(positional):
        raise ValueError(f"op {name!r}: {len(args)} constant arguments do not fit its schema {schema}")
    return {a.name: v for a, v in zip(positional[first:], args, strict=False)}


def _written(name: str, key: str, value: Any) -> Any:
    """`value` as JSON data, or ValueError naming the argument."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_written(name, key, v) for v in value]
    if str(value).removeprefix("torch.") in _TORCH_CONSTANTS and str(value).startswith("torch."):
        return str(value)
    raise ValueError(f"op {name!r}: argument {key} = {value!r} is not a constant (a number, text, list, element "
                     "type or memory format)")


# -- shapes and element types --------------------------------------------------------------------------------

def _connected(in_shapes: Mapping) -> list[str]:
    ports = [p for p in _PORTS if p in in_shapes]
    if ports != list(_PORTS[: len(ports)]):
        missing = next(p for p in _PORTS if p not in in_shapes)
        raise ShapeError(ports[-1], f"{ports[-1]} is wired but {missing} is not — wire the inputs in order a, b, c")
    for port in ports:
        expect_min_rank(port, in_shapes[port], 1, "(N, …)")
    return ports


def _infer_typed(params, in_shapes, in_dtypes):
    """Output shape and element type, from running the op on meta tensors of these shapes and types."""
    ports = _connected(in_shapes)
    shapes = tuple(tuple(in_shapes[p]) for p in ports)
    dtypes = tuple(in_dtypes.get(p, "float32") for p in ports)
    try:
        shape, dtype = _run_meta(params["op"], params["args"], shapes, dtypes)
    except ValueError as exc:
        raise ShapeError("a", str(exc), stricter="batch" if isinstance(exc, _BatchMoved) else "") from None
    return {"out": shape}, {"out": dtype}


def _infer(params, in_shapes):
    """Output shape when only shapes are known: the first guess of element types (_GUESSES) the op runs on."""
    ports = _connected(in_shapes)
    refusals = []
    for guess in _GUESSES:
        try:
            return _infer_typed(params, in_shapes, dict(zip(ports, guess, strict=False)))[0]
        except ShapeError as exc:
            refusals.append(exc)
    raise refusals[0]  # what float32 inputs, the usual case, are refused for


@functools.lru_cache(maxsize=4096)
def _run_meta(name: str, args_text: str, shapes: tuple, dtypes: tuple) -> tuple[tuple, str]:
    import torch

    op = resolve_op(name)
    args, kwargs = parse_args(args_text)
    runs = []
    for probe in _PROBES:
        tensors = [torch.empty([probe if d is None else d for d in shape], dtype=getattr(torch, dtype), device="meta")
                   for shape, dtype in zip(shapes, dtypes, strict=True)]
        try:
            out = op(*tensors, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 — torch's refusal of these inputs, whatever its type, is the message
            detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            given = ", ".join(f"{format_shape(s)} {t}" for s, t in zip(shapes, dtypes, strict=True))
            raise ValueError(f"aten.{name} refuses {given} with args {args_text}: {detail} — check the inputs and "
                             "args") from None
        if not isinstance(out, torch.Tensor):
            count = f"{len(out)} values" if isinstance(out, (tuple, list)) else type(out).__name__
            raise ValueError(f"aten.{name} gives {count}; an Op node has one tensor output — pick an overload that "
                             "returns one tensor")
        batch = probe if shapes[0][0] is None else shapes[0][0]
        if out.dim() == 0 or out.shape[0] != batch:
            raise _BatchMoved(f"aten.{name} gives {tuple(out.shape)} from a batch of {batch}: it does not keep the "
                             "batch first — reduce or reshape only the dims after it")
        runs.append(out)
    first, second = runs
    if first.dim() != second.dim():
        raise _BatchMoved(f"aten.{name} gives a rank that depends on the batch size")
    pairs = enumerate(zip(first.shape, second.shape, strict=True))
    shape = tuple(None if i == 0 or x != y else x for i, (x, y) in pairs)
    return shape, str(first.dtype).removeprefix("torch.")


def _macs(params, in_shapes, out_shapes) -> int:
    """Multiply-adds as torch's FlopCounterMode counts them (a matrix product's; none for element-wise ops), from a
    meta run — no closed form fits every operator."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    ports = _connected(in_shapes)
    args, kwargs = parse_args(params["args"])
    for guess in _GUESSES:
        typed = zip(ports, guess, strict=False)
        tensors = [torch.empty(in_shapes[p], dtype=getattr(torch, t), device="meta") for p, t in typed]
        try:
            with FlopCounterMode(display=False) as counter:
                resolve_op(params["op"])(*tensors, *args, **kwargs)
        except Exception:  # noqa: BLE001 — these element types are not the op's; try the next guess
            continue
        return counter.get_total_flops() // 2
    return 0


def _build(params, in_shapes):
    from .layers.generic import AtenOp

    return AtenOp(resolve_op(params["op"]), len(_connected(in_shapes)), *parse_args(params["args"]))


OP = register(NodeSpec(
    type_id="Op", title="Op (generic ATen)", category=CATEGORY, id_prefix="op",
    doc="Generic: one PyTorch ATen operator that has no node of its own, called as torch.ops.aten.<op>(a, b, c, "
        "*args) — what an import uses for an op Layerloom has no node for. Its shape and element type are torch's "
        "own (worked out on the meta device); it trains and exports like any node, but has no help of its own.",
    inputs=(Port("a", "(N, …)", dtype="any"), Port("b", "(N, …)", optional=True, dtype="any"),
            Port("c", "(N, …)", optional=True, dtype="any")),
    outputs=(Port("out"),),
    params=(Param("op", "str", "erf", "the ATen operator's name, e.g. erf, cumsum, floor, where (torch.ops.aten.<op>)"),
            Param("args", "str", "[]", 'its constant arguments after the inputs, as JSON: a list ([1]) or keywords '
                  '({"dim": 1, "keepdim": true}); element types as "torch.float32"')),
    infer=_infer, build=_build, typed_infer=_infer_typed, macs=_macs, example_inputs={"a": (None, 3, 4)},
))
