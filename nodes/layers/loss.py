"""Loss functions that need more than torch.nn.functional's: cross-entropy over every step of a sequence."""

from __future__ import annotations

import torch.nn.functional as F


def cross_entropy(pred, target, label_smoothing: float = 0.0):
    """Cross-entropy for pred (N, C) with target (N,), or per step for pred (N, T, C) with target (N, T)."""
    # (N, C) stays as is; (N, T, C) → (N·T, C) so every step is one sample.
    return F.cross_entropy(pred.flatten(0, -2), target.flatten(), label_smoothing=label_smoothing)
