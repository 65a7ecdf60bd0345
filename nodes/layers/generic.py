"""The module behind the generic Op node: one ATen operator called on the node's inputs."""

from __future__ import annotations

from torch import nn

from ..generic import resolve_op


class AtenOp(nn.Module):
    """`torch.ops.aten.<name>(a[, b[, c]], *args, **kwargs)` with constant `args`/`kwargs` (see nodes/generic.py)."""

    def __init__(self, name: str, inputs: int, args: tuple, kwargs: dict):
        super().__init__()
        self.name, self.inputs, self.args, self.kwargs = name, inputs, tuple(args), dict(kwargs)
        self.op = resolve_op(name)

    def forward(self, a, b=None, c=None):
        return self.op(*(a, b, c)[: self.inputs], *self.args, **self.kwargs)

    def extra_repr(self) -> str:
        args = [repr(v) for v in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return ", ".join([f"aten.{self.name}", *args])
