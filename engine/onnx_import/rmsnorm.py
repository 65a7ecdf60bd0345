"""RMSNorm spelt out in ONNX ops, imported as one RMSNorm node.

ONNX has no RMSNormalization before opset 23, so torch writes x·rsqrt(mean(x², last axis) + eps)·weight
as Pow(x, 2) (or Mul(x, x)), ReduceMean, Add(eps), Sqrt, a reciprocal (Reciprocal or Div(1, ·)), Mul by
x and Mul by the weight — or divides x by the root directly. The anchor is the ReduceMean of a square
over the last axis; the region runs from x to the first tensor of x's shape after it, widest first (the
weight's Mul included). eps is the constant the Add adds, the weight the one value per feature a Mul
multiplies by (ones without it), and the region must reproduce Layerloom's RMSNorm on sample data.
"""

from __future__ import annotations

import numpy as np

from .builder import tidy
from .regions import Dataflow, Region, chain_forward, first_proven, named, same

STEPS = {"Add", "Sqrt", "Reciprocal", "Div", "Mul"}


def match(flow: Dataflow, index: int) -> Region | str | None:
    """The RMSNorm region around ReduceMean node `index`; a reason when it does not reproduce one; None
    when the ReduceMean does not average a square over the last axis."""
    anchor = flow.model.nodes[index]
    x = _squared(flow, anchor) if anchor.op == "ReduceMean" else None
    rank = flow.rank(x) if x else None
    if x is None or rank is None or rank < 2 or not _last_axis(flow, anchor, rank):
        return None
    ys = chain_forward(flow, [anchor.outputs[0]], lambda node: node.op in STEPS, ranks=(rank,))

    def propose(_x, y, members, output):
        nodes = [flow.model.nodes[i] for i in members]
        sample = flow.sample(x)
        if output.shape != sample.shape:
            return "the root mean square is not applied back to its input"
        eps = [flow.model.constants[i] for n in nodes if n.op == "Add" for i in n.inputs if i in flow.model.constants]
        if len(eps) != 1 or eps[0].size != 1:
            return "no single constant is added to the mean square (its eps)"
        features = sample.shape[-1]
        scales = [flow.model.constants[i] for n in nodes if n.op == "Mul" for i in n.inputs
                  if i in flow.model.constants and flow.model.constants[i].size == features]
        weight = (scales[0] if len(scales) == 1 else np.ones(features)).reshape(-1).astype(np.float32)
        epsilon = float(eps[0].reshape(()))
        expected = sample / np.sqrt(np.mean(sample * sample, axis=-1, keepdims=True) + np.float32(epsilon)) * weight
        if not same(expected.astype(np.float32), output):
            return "the ops around it do not amount to x / sqrt(mean(x², last axis) + eps) · weight"
        return Region(members, flow.producer[y], lambda b: b.emit(
            named(flow, members, anchor), "RMSNorm", {"eps": tidy(epsilon)}, [x], weights={"weight": weight},
            outputs={"out": y}))

    return first_proven(flow, [x], ys, propose)


def _squared(flow: Dataflow, mean) -> str | None:
    """The tensor the ReduceMean's input squares: Pow(x, 2) or Mul(x, x)."""
    producer = flow.producer.get(mean.inputs[0])
    node = flow.model.nodes[producer] if producer is not None else None
    if node is None:
        return None
    if node.op == "Mul" and node.inputs[0] == node.inputs[1]:
        return node.inputs[0]
    exponent = flow.model.constants.get(node.inputs[1]) if node.op == "Pow" else None
    if exponent is not None and exponent.size == 1 and float(exponent.reshape(())) == 2.0:
        return node.inputs[0]
    return None


def _last_axis(flow: Dataflow, mean, rank: int) -> bool:
    """The ReduceMean averages the last axis only and keeps it (attribute before opset 18, input after)."""
    axes = mean.attrs.get("axes")
    if axes is None and len(mean.inputs) > 1 and mean.inputs[1]:
        axes = flow.model.constants.get(mean.inputs[1])
        axes = None if axes is None else axes.reshape(-1).tolist()
    return axes is not None and [a % rank for a in axes] == [rank - 1] and mean.attrs.get("keepdims", 1) == 1
