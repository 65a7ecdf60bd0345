"""Learning-rate schedules as pure functions of the optimizer step.

The trainer calls `schedule.apply(optimizer, step)` before every step, so the learning rate is a
function of the step count alone: resuming needs nothing but the step, and the GUI can plot the
whole curve before training starts (`[schedule.lr(s) for s in range(schedule.total_steps)]`).
Lengths in the config are in epochs and converted to steps here.
"""

from __future__ import annotations

import math

from ..config import ScheduleConfig

ONECYCLE_START_DIV = 25.0  # onecycle starts at lr / 25, as torch's OneCycleLR
ONECYCLE_RISE = 0.3  # fraction of the run spent rising when warmup_epochs is 0


class Schedule:
    def __init__(self, config: ScheduleConfig, base_lr: float, steps_per_epoch: int, epochs: int):
        self.config, self.base_lr = config, base_lr
        self.steps_per_epoch = max(1, steps_per_epoch)
        self.total_steps = self.steps_per_epoch * epochs

    def lr(self, step: int) -> float:
        """The learning rate for the 0-based optimizer step `step`."""
        c, base = self.config, self.base_lr
        total = self.total_steps
        if c.name == "constant":
            return base
        if c.name == "step":
            return base * c.gamma ** math.floor(step / (c.step_size * self.steps_per_epoch))
        if c.name == "cosine":
            return _anneal(base, c.min_lr, step / total)
        if c.name == "warmup_cosine":
            warmup = round(c.warmup_epochs * self.steps_per_epoch)
            if step < warmup:
                return base * (step + 1) / warmup
            return _anneal(base, c.min_lr, (step - warmup) / max(1, total - warmup))
        if c.name == "onecycle":
            rise = round(c.warmup_epochs * self.steps_per_epoch) or max(1, round(ONECYCLE_RISE * total))
            if step < rise:
                return _anneal(base / ONECYCLE_START_DIV, base, step / rise)
            return _anneal(base, c.min_lr, (step - rise) / max(1, total - rise))
        if c.name == "cyclic":
            half = c.step_size * self.steps_per_epoch
            phase = (step % (2 * half)) / half  # 0 → 2 over one cycle
            return c.min_lr + (base - c.min_lr) * (phase if phase <= 1 else 2 - phase)
        raise ValueError(f"unknown schedule {c.name!r}")

    def apply(self, optimizer, step: int) -> float:
        lr = self.lr(step)
        for group in optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)  # training.lr_scale (engine/train/finetune.py)
        return lr


def _anneal(start: float, end: float, progress: float) -> float:
    """`start` at progress 0, `end` at progress 1, half a cosine in between."""
    progress = min(max(progress, 0.0), 1.0)
    return end + (start - end) * (1 + math.cos(math.pi * progress)) / 2
