"""Loss functions that need more than torch.nn.functional's: cross-entropy over every step of a sequence."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def cross_entropy(pred, target, label_smoothing: float = 0.0, weight: tuple[float, ...] | None = None):
    """Cross-entropy for pred (N, C) with target (N,), or per step for pred (N, T, C) with target (N, T);
    `weight` gives each class's weight (class_balance "weights": engine/train/class_weights.py)."""
    # (N, C) stays as is; (N, T, C) → (N·T, C) so every step is one sample.
    scale = None if weight is None else torch.tensor(weight, device=pred.device,
                                                     dtype=torch.promote_types(pred.dtype, torch.float32))
    return F.cross_entropy(pred.flatten(0, -2), target.flatten(), weight=scale, label_smoothing=label_smoothing)
