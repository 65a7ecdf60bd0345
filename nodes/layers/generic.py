"""The module behind the generic Op node: one ATen operator called on the node's inputs."""

from __future__ import annotations

import torch
from torch import nn


class AtenOp(nn.Module):
    """`op(a[, b[, c]], *args, **kwargs)`: `op` an ATen operator checked by nodes.generic.resolve_op, `args`
    and `kwargs` constants."""

    def __init__(self, op, inputs: int, args: tuple, kwargs: dict):
        super().__init__()
        self.op, self.inputs, self.args, self.kwargs = op, inputs, tuple(args), dict(kwargs)
        # Set by the compiler (engine/compile.py) when the op makes floats of integer inputs — torch converts inside
        # (aten.erf of int64 gives float32) but ONNX has no such op (Erf of int64 is invalid): the inputs are cast
        # to that element type first, which computes the same.
        self.cast_inputs: str | None = None

    def forward(self, a, b=None, c=None):
        tensors = (a, b, c)[: self.inputs]
        if self.cast_inputs is not None:
            tensors = tuple(t.to(getattr(torch, self.cast_inputs)) for t in tensors)
        return self.op(*tensors, *self.args, **self.kwargs)

    def extra_repr(self) -> str:
        args = [repr(v) for v in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return ", ".join([f"aten.{self.op.__name__}", *args])
