"""Loss modules that need more than torch.nn's: cross-entropy over every step of a sequence."""

from __future__ import annotations

from torch import nn


class CrossEntropy(nn.CrossEntropyLoss):
    """Cross-entropy for pred (N, C) with target (N,), or per step for pred (N, T, C) with target (N, T)."""

    def forward(self, pred, target):
        # (N, C) stays as is; (N, T, C) → (N·T, C) so every step is one sample.
        return super().forward(pred.flatten(0, -2), target.flatten())
