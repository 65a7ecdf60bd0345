"""The module behind the generic Op node: one ATen operator called on the node's inputs."""

from __future__ import annotations

from torch import nn


class AtenOp(nn.Module):
    """`op(a[, b[, c]], *args, **kwargs)`: `op` an ATen operator checked by nodes.generic.resolve_op, `args`
    and `kwargs` constants."""

    def __init__(self, op, inputs: int, args: tuple, kwargs: dict):
        super().__init__()
        self.op, self.inputs, self.args, self.kwargs = op, inputs, tuple(args), dict(kwargs)

    def forward(self, a, b=None, c=None):
        return self.op(*(a, b, c)[: self.inputs], *self.args, **self.kwargs)

    def extra_repr(self) -> str:
        args = [repr(v) for v in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return ", ".join([f"aten.{self.op.__name__}", *args])
