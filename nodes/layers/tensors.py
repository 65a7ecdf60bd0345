"""A tensor held by the graph itself — learned (a class token, a layer scale, a positional table) or fixed — and
repeated over the batch of the wire it is given, so it meets the other wires with the batch first."""

from __future__ import annotations

import torch
from torch import nn

INITS = {
    "zeros": torch.nn.init.zeros_,
    "ones": torch.nn.init.ones_,
    "normal": lambda t: torch.nn.init.normal_(t, std=0.02),  # ViT's class token and position table
}


class Repeated(nn.Module):
    """`value` (a Parameter, or a buffer when fixed) as (N, *shape), N the batch of the input; the input's values
    are never read."""

    def __init__(self, shape: tuple[int, ...], init: str, fill: float, learned: bool):
        super().__init__()
        self.shape = tuple(shape)
        value = torch.empty(shape)
        torch.nn.init.constant_(value, fill) if init == "constant" else INITS[init](value)
        if learned:
            self.value = nn.Parameter(value)
        else:
            self.register_buffer("value", value)

    def forward(self, like):
        # a copy, not a view: a view of a Parameter requires grad even under no_grad, and inference reads it out
        return torch.broadcast_to(self.value, (like.shape[0], *self.shape)).clone()

    def extra_repr(self) -> str:
        return f"shape={self.shape}, learned={isinstance(self.value, nn.Parameter)}"
