"""A Linear layer that uses another node's weight matrix: weight tying.

GPT's output projection reads the token embedding's (vocabulary, dim) table as its (out, in) weight:
one tensor, trained once, saved once. The layer holds the owner module outside its own registered
children, so the weight belongs to the owner alone — `parameters()` and `state_dict()` list it once
(under the owner's key, `tok.weight`), checkpoints and safetensors need nothing special, the ONNX
exporter writes one initializer, and fx finds the shared parameter under the owner's name.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class TiedLinear(nn.Module):
    """y = x·Wᵀ + b with W the `weight` of the module given to `tie`; only the bias is its own."""

    def __init__(self, in_features: int, out_features: int, bias: bool):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        self._owner: tuple[nn.Module, ...] = ()  # a tuple, so nn.Module does not register the owner as a child

    def tie(self, owner: nn.Module) -> None:
        weight = getattr(owner, "weight", None)
        if not isinstance(weight, nn.Parameter) or tuple(weight.shape) != (self.out_features, self.in_features):
            shape = tuple(weight.shape) if isinstance(weight, torch.Tensor) else None
            raise ValueError(f"needs a weight of shape ({self.out_features}, {self.in_features}) to share, but "
                             f"{type(owner).__name__} has {shape}")
        self._owner = (owner,)

    def forward(self, x):
        if not self._owner:
            raise RuntimeError("TiedLinear used before tie(): the compiler binds it to the weight's owner")
        return F.linear(x, self._owner[0].weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


def shares_weights(module: nn.Module) -> bool:
    """Whether any layer in `module` uses another's weight. The TorchScript ONNX exporter's constant folding
    would write a transposed copy of such a weight beside the original, so exports of these skip it."""
    return any(isinstance(layer, TiedLinear) for layer in module.modules())
