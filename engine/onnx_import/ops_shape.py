"""Mappings of ONNX ops that move values around: reshapes, transposes, slices, splits, joins, pads
and reductions. Layerloom keeps the batch as axis 0 everywhere, so an op that moves or mixes the
batch axis is refused, except a Reshape folding whole rows of each sample into the batch or out of it (a
Reshape node's batch merge and split); a target shape is read from ONNX shape inference, so a shape computed at run
time (`Shape → Gather → Concat → Reshape`) maps like a stored one.
"""

from __future__ import annotations

import math

import numpy as np

from . import sizes, tables
from .builder import Refusal, handles
from .loading import OnnxNode
from .ops_layers import embedding

REDUCTIONS = {"ReduceMean": "mean", "ReduceSum": "sum", "ReduceMax": "max", "ReduceMin": "min"}


def int_list(b, node: OnnxNode, name: str, index: int) -> list[int] | None:
    """An int-list argument given as an attribute (old opsets) or a constant input (new ones)."""
    if name in node.attrs:
        return [int(v) for v in node.attrs[name]]
    if index < len(node.inputs) and node.inputs[index] in b.sizes:  # computed from sizes: fixed, or refused
        return [int(v) for v in sizes.fixed(b, node.inputs[index], name)]
    if index < len(node.inputs) and node.inputs[index]:
        return [int(v) for v in b.const(node, index, name).reshape(-1)]
    return None


def not_batch(axis: int, rank: int, what: str) -> int:
    axis %= rank
    if axis == 0:
        raise Refusal(f"{what} the batch axis; Layerloom keeps the batch as axis 0 of every tensor")
    return axis


def _size(shape: tuple, axis: int) -> int:
    if not isinstance(shape[axis], int):
        raise Refusal(f"the size of axis {axis} of {list(shape)} is not fixed")
    return shape[axis]


def _same_batch(b, node: OnnxNode) -> tuple:
    """The output shape, after checking that axis 0 is still the input's batch: the sizes after it
    hold as many values before and after (a symbolic axis 0 may come out under a new name). A Reshape
    whose sizes shape inference left unknown has them worked out (sizes.py)."""
    before, after = b.onnx_shape(node.inputs[0]), b.model.shapes.get(node.outputs[0])
    if node.op == "Reshape" and (after is None or not all(isinstance(d, int) for d in after[1:])):
        after = sizes.reshaped(b, node)
    after = after if after is not None else b.onnx_shape(node.outputs[0])
    if not all(isinstance(d, int) for d in (*before[1:], *after[1:])):
        raise Refusal(f"gives {list(after)}, whose sizes after the batch are not fixed")
    if math.prod(before[1:]) != math.prod(after[1:]):
        raise Refusal(f"turns {list(before)} into {list(after)}, mixing the batch axis with others; Layerloom "
                      "keeps the batch as axis 0 of every tensor")
    return after


def _batch_moved(b, node: OnnxNode) -> tuple[str, int, tuple] | None:
    """("merge" | "split", A, ONNX output shape) for a Reshape that folds A rows of each sample into the batch,
    (N, …) → (N·A, …), or unfolds them, (N·A, …) → (N, …); None for one that keeps the batch (or whose sizes
    shape inference left unknown: `_same_batch` works those out or refuses)."""
    if node.op != "Reshape":
        return None
    before, after = b.onnx_shape(node.inputs[0]), b.model.shapes.get(node.outputs[0])
    if (after is None or not all(isinstance(d, int) for d in after[1:])) and b.row_factors.get(
            b.refs.get(node.inputs[0])):  # an unfold whose sizes are read at run time (TorchScript's export)
        try:
            after = sizes.reshaped(b, node)
        except Refusal:
            return None
    if after is None or not all(isinstance(d, int) for d in (*before[1:], *after[1:])):
        return None
    have, give = math.prod(before[1:]), math.prod(after[1:])
    mode, factor = ("merge", have // give) if give and have % give == 0 else ("split", give // have) \
        if have and give % have == 0 else ("keep", 1)
    if factor < 2:
        return None
    grows = (after[0], before[0]) if mode == "split" else (before[0], after[0])
    if all(isinstance(d, int) for d in grows) and grows[0] * factor != grows[1]:
        return None  # a fixed batch that does not scale by A: mixed otherwise, and refused
    return mode, factor, tuple(after)


def _reshape_batch(b, node: OnnxNode, mode: str, factor: int, after: tuple) -> None:
    """A batch merge (a Reshape first brings the A rows to fold next to the batch, where they are not already) or
    a batch split (a Reshape after it gives the exporter's shape, where it differs from (N, A, …))."""
    source, out = node.inputs[0], node.outputs[0]
    if mode == "merge":
        if b.shape(source)[1] != factor:
            rows = f"{out}/rows"
            b.emit(node, "Reshape", {"shape": [factor, *after[1:]]}, [source], outputs={"out": rows},
                   check_shapes=False)
            source = rows
        b.emit(node, "Reshape", {"batch": "merge", "shape": list(after[1:])}, [source])
        return
    if len(after) > 1 and after[1] == factor:
        b.emit(node, "Reshape", {"batch": "split", "batch_split": factor, "shape": list(after[2:])}, [source])
        return
    rows = f"{out}/rows"
    b.emit(node, "Reshape", {"batch": "split", "batch_split": factor, "shape": [-1]}, [source],
           outputs={"out": rows}, check_shapes=False)
    b.emit(node, "Reshape", {"shape": list(after[1:])}, [rows])


def reshape_to(b, node: OnnxNode) -> None:
    if tables.follow(b, node):
        return
    if moved := _batch_moved(b, node):
        _reshape_batch(b, node, *moved)
        return
    after = _same_batch(b, node)
    if tuple(after[1:]) == tuple(b.shape(node.inputs[0])[1:]):
        b.alias(node.outputs[0], node.inputs[0])
    else:
        b.emit(node, "Reshape", {"shape": list(after[1:])}, [node.inputs[0]])


handles("Reshape", "Squeeze", "Unsqueeze")(reshape_to)


@handles("Flatten")
def flatten(b, node: OnnxNode) -> None:
    if int(node.attrs.get("axis", 1)) % max(len(b.shape(node.inputs[0])), 1) != 1:
        raise Refusal("flattens into two axes split elsewhere than after the batch")
    b.emit(node, "Flatten", {"start_dim": 1}, [node.inputs[0]])


@handles("Transpose")
def transpose(b, node: OnnxNode) -> None:
    rank = len(b.shape(node.inputs[0]))
    perm = [int(p) for p in node.attrs.get("perm", range(rank - 1, -1, -1))]
    if perm[0] != 0:
        raise Refusal(f"perm {perm} moves the batch axis; Layerloom keeps the batch as axis 0")
    if perm == sorted(perm):
        b.alias(node.outputs[0], node.inputs[0])
    else:
        b.emit(node, "Permute", {"dims": perm[1:]}, [node.inputs[0]])


@handles("Concat")
def concat(b, node: OnnxNode) -> None:
    """Up to four inputs in one Concat node, more in a chain of them."""
    inputs = list(node.inputs)
    for name in inputs:
        if b.is_const(name):
            raise Refusal("joins a stored constant; Layerloom's Concat joins computed tensors")
    rank = len(b.shape(inputs[0]))
    dim = not_batch(int(node.attrs["axis"]), rank, "joins along")
    if len(inputs) == 1:
        b.alias(node.outputs[0], inputs[0])
        return
    while len(inputs) > 4:
        partial = f"{node.outputs[0]}/part{len(inputs)}"
        b.emit(node, "Concat", {"dim": dim}, inputs[:4], ports=("a", "b", "c", "d"), outputs={"out": partial})
        inputs = [partial, *inputs[4:]]
    b.emit(node, "Concat", {"dim": dim}, inputs, ports=("a", "b", "c", "d")[:len(inputs)])


@handles("Split")
def split(b, node: OnnxNode) -> None:
    """Two pieces in one Split node, more in a chain of them (each cutting the rest in two)."""
    shape = b.onnx_shape(node.inputs[0])
    dim = not_batch(int(node.attrs.get("axis", 0)), len(shape), "cuts")
    sizes = [b.onnx_shape(out)[dim] for out in node.outputs]
    rest = node.inputs[0]
    for index, (out, size) in enumerate(zip(node.outputs[:-1], sizes, strict=False)):
        last = index == len(node.outputs) - 2
        remainder = node.outputs[-1] if last else f"{node.outputs[0]}/rest{index}"
        b.emit(node, "Split", {"dim": dim, "index": int(size)}, [rest], outputs={"a": out, "b": remainder})
        rest = remainder
    if len(node.outputs) == 1:
        b.alias(node.outputs[0], node.inputs[0])


@handles("Slice")
def slice_(b, node: OnnxNode) -> None:
    """A step-1 slice of one or more axes after the batch: one Slice node per axis."""
    if node.outputs[0] in b.model.table_reads:
        tables.read(b, node)
        return
    shape = b.onnx_shape(node.inputs[0])
    starts, ends = int_list(b, node, "starts", 1), int_list(b, node, "ends", 2)
    axes = int_list(b, node, "axes", 3) or list(range(len(starts)))
    steps = int_list(b, node, "steps", 4) or [1] * len(starts)
    if set(steps) != {1}:
        raise Refusal(f"steps {steps} skip values; Layerloom's Slice keeps consecutive positions")
    source = node.inputs[0]
    cuts = [(not_batch(a, len(shape), "slices"), s, e) for a, s, e in zip(axes, starts, ends, strict=True)]
    cuts = [(a, s, e) for a, s, e in cuts if not (s in (0, -_size(shape, a)) and e >= shape[a])]  # whole axes stay
    if not cuts:
        b.alias(node.outputs[0], source)
        return
    for index, (axis, start, end) in enumerate(cuts):
        out = node.outputs[0] if index == len(cuts) - 1 else f"{node.outputs[0]}/axis{axis}"
        b.emit(node, "Slice", {"dim": axis, "start": start, "end": _end(end, shape[axis])}, [source],
               outputs={"out": out}, check_shapes=index == len(cuts) - 1)
        source = out


def _end(end: int, size: int) -> int:
    """An ONNX end as Layerloom's Slice takes it: 0 means "to the end"."""
    return 0 if end >= size else end


@handles("Gather")
def gather(b, node: OnnxNode) -> None:
    """A lookup in a stored table is an Embedding; one fixed position of a computed tensor, a Slice
    (then a Reshape when the axis goes away)."""
    if node.outputs[0] in b.model.table_reads:
        tables.read(b, node)
        return
    if b.is_const(node.inputs[0]):
        embedding(b, node)
        return
    index = b.const(node, 1, "indices")
    shape = b.onnx_shape(node.inputs[0])
    axis = not_batch(int(node.attrs.get("axis", 0)), len(shape), "picks along")
    if index.size != 1:
        raise Refusal(f"picks {index.size} positions; Layerloom maps picking one (a Slice)")
    position = int(index.reshape(-1)[0])
    end = 0 if position in (-1, _size(shape, axis) - 1) else position + 1
    kept = f"{node.outputs[0]}/slice" if index.ndim == 0 else node.outputs[0]
    b.emit(node, "Slice", {"dim": axis, "start": position, "end": end}, [node.inputs[0]], outputs={"out": kept},
           check_shapes=index.ndim != 0)
    if index.ndim == 0:
        b.emit(node, "Reshape", {"shape": list(b.onnx_shape(node.outputs[0])[1:])}, [kept])


@handles("Pad")
def pad(b, node: OnnxNode) -> None:
    rank = len(b.shape(node.inputs[0]))
    pads = int_list(b, node, "pads", 1)
    axes = int_list(b, node, "axes", 3) or list(range(rank))
    begins, ends = dict(zip((a % rank for a in axes), pads[:len(axes)], strict=True)), dict(
        zip((a % rank for a in axes), pads[len(axes):], strict=True))
    if begins.get(0) or ends.get(0):
        raise Refusal("pads the batch axis; Layerloom keeps every sample as it is")
    if min(pads) < 0:
        raise Refusal("negative pads crop; Layerloom's Pad only adds values")
    mode = {"constant": "constant", "reflect": "reflect", "edge": "replicate"}.get(node.attrs.get("mode", "constant"))
    if mode is None:
        raise Refusal(f"mode {node.attrs['mode']!r} has no Layerloom equivalent (constant, reflect and edge do)")
    value = np.array(node.attrs["value"]) if "value" in node.attrs else b.optional_const(node, 2, "padding value")
    first = min((a for a in range(1, rank) if begins.get(a) or ends.get(a)), default=rank - 1)
    padding = [p for a in range(rank - 1, first - 1, -1) for p in (begins.get(a, 0), ends.get(a, 0))]
    params = {"padding": padding, "mode": mode, "value": float(value.reshape(-1)[0]) if value is not None else 0.0}
    b.emit(node, "Pad", params, [node.inputs[0]])


@handles(*REDUCTIONS)
def reduce(b, node: OnnxNode) -> None:
    """A reduction over axes after the batch: one Reduce node per axis, the last axis first."""
    rank = len(b.shape(node.inputs[0]))
    axes = int_list(b, node, "axes", 1)
    if not axes:
        raise Refusal("reduces every axis, the batch included; Layerloom never mixes samples")
    keep = bool(node.attrs.get("keepdims", 1))
    axes = sorted({not_batch(a, rank, "reduces") for a in axes}, reverse=True)
    source = node.inputs[0]
    for index, axis in enumerate(axes):
        out = node.outputs[0] if index == len(axes) - 1 else f"{node.outputs[0]}/axis{axis}"
        b.emit(node, "Reduce", {"mode": REDUCTIONS[node.op], "dim": axis, "keepdim": keep}, [source],
               outputs={"out": out}, check_shapes=index == len(axes) - 1)
        source = out
