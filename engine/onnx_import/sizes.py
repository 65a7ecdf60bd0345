"""Sizes computed at run time, worked out for two batch sizes.

Exporters write `x.flatten(2)`, `cls.expand(N, -1, -1)` and `x.view(N, T, h, d)` as a Reshape or Expand whose
target is computed from `Shape` of some tensor; where ONNX shape inference leaves such a size unknown (it cannot
cancel the symbolic batch out of a -1), the computation is run here on the sizes it reads — each wire's shape
is known but for the batch — once with the batch 2 and once with 3. An axis that is the batch both times is the
batch, one that keeps its size is fixed, anything else mixes the batch with other axes and is refused.
"""

from __future__ import annotations

import math

import numpy as np

from .builder import Refusal
from .loading import OnnxNode

BATCHES = (2, 3)


def value(b, name: str, batch: int) -> np.ndarray:
    """The value of size tensor `name` when the batch is `batch`."""
    cache = b.size_values.setdefault(batch, {})
    if name in cache:
        return cache[name]
    if name in b.model.constants:
        return b.model.constants[name]
    node = b.producers.get(name)
    if node is None:
        raise Refusal(f"the size {name!r} is read from outside the graph")
    if node.op == "Shape":
        dims = sample_shape(b, node.inputs[0], batch)
        result = np.array(dims[node.attrs.get("start", 0):node.attrs.get("end", len(dims))], np.int64)
    else:
        from onnx.reference import ReferenceEvaluator

        feeds = {i: value(b, i, batch) for i in node.inputs if i}
        try:
            result = ReferenceEvaluator(node.proto).run(None, feeds)[node.outputs.index(name)]
        except Exception as exc:  # noqa: BLE001 — the reference runtime raises many types
            raise Refusal(f"the size {name!r} cannot be worked out ({type(exc).__name__})") from None
    cache[name] = np.asarray(result)
    return cache[name]


def fixed(b, name: str, what: str) -> np.ndarray:
    """The value of size tensor `name`, which must not depend on the batch (ShuffleNet's channel split
    `x[:, :C // 2]` with C read off the input)."""
    two, three = (value(b, name, batch).reshape(-1) for batch in BATCHES)
    if not np.array_equal(two, three):
        raise Refusal(f"its {what} {two.tolist()} change with the batch size; Layerloom takes fixed ones")
    return two


def sample_shape(b, name: str, batch: int) -> tuple[int, ...]:
    """The shape of tensor `name` with the batch `batch`: its wire's (batch × A rows after a batch merge), else
    what ONNX inferred."""
    dims = b.ll_shapes[b.refs[name]] if name in b.refs else b.model.shapes.get(name)
    if dims is None or any(not isinstance(d, int) for d in dims[1:]):
        raise Refusal(f"the shape of {name!r} is not known after shape inference")
    rows = b.row_factors.get(b.refs[name], 1) if name in b.refs else 1  # a merged batch holds N·A rows
    return (batch * rows, *dims[1:])


def reshaped(b, node: OnnxNode) -> tuple:
    """The shape a Reshape gives, ('N', …) with the batch first; refused when the batch moves or mixes."""
    outs = []
    for batch in BATCHES:
        before = sample_shape(b, node.inputs[0], batch)
        target = [int(d) for d in value(b, node.inputs[1], batch).reshape(-1)]
        if not node.attrs.get("allowzero", 0):
            target = [before[i] if d == 0 and i < len(before) else d for i, d in enumerate(target)]
        if target.count(-1) == 1:
            known = math.prod(d for d in target if d != -1)
            target[target.index(-1)] = math.prod(before) // known if known else 0
        outs.append(tuple(target))
    return batch_first(node, *outs)


def expanded(b, node: OnnxNode, stored: tuple[int, ...]) -> tuple:
    """The shape an Expand of a tensor of shape `stored` gives, ('N', …) with the batch first."""
    outs = [np.broadcast_shapes(stored, tuple(int(d) for d in value(b, node.inputs[1], batch).reshape(-1)))
            for batch in BATCHES]
    return batch_first(node, *outs)


def batch_first(node: OnnxNode, two: tuple, three: tuple) -> tuple:
    if len(two) == len(three) and two and (two[0], three[0]) == BATCHES and two[1:] == three[1:]:
        return ("N", *two[1:])
    raise Refusal(f"gives {list(two)} for a batch of 2 and {list(three)} for 3: the batch does not stay axis 0 "
                  "alone; Layerloom keeps the batch as axis 0 of every tensor")
