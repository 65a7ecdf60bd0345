"""The learning-rate range test (Smith, "Cyclical Learning Rates", 2017; fastai's `lr_find`).

Train a fresh copy of the model for a few hundred steps while the learning rate grows exponentially
from `start_lr` to `end_lr`, recording the loss of every step; the rate where the smoothed loss falls
fastest is a good one to train at. The copy is built exactly as a run builds its model (setup.py's
`prepare`, so the graph's `init_weights` are read, never written) and stepped by the run's own trainer
(`Trainer._step`: augmentation, gradient clipping, mixed precision and a GAN's two updates included),
with this module's `ExponentialRamp` in place of the run's schedule. Nothing is written anywhere: the
graph, its weights file and its run store stay as they were.

The test stops early once the smoothed loss exceeds DIVERGENCE × its minimum, or a loss is NaN/Inf.
The suggestion is read from the smoothed curve up to its minimum (`suggest`): the steepest descent
(per decade of learning rate) when the curve falls there by MIN_DROP at least, otherwise a tenth of the
rate at the minimum.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..config import ConfigError, TrainingConfig
from ..document import GraphDocument

SMOOTHING = 0.98  # exponential moving average of the loss, bias-corrected (fastai's beta)
DIVERGENCE = 4.0  # stop once the smoothed loss exceeds this × its minimum so far
MIN_STEPS = 10  # divergence is not judged before this many steps (the average is still settling)
SKIP_START = 0.1  # the first tenth of the curve is too noisy to read a slope from
MIN_DROP = 0.05  # the smoothed loss must fall this fraction before its slope is read as a descent
NETWORKS = ("both", "generator", "discriminator")  # which of a GAN's optimizers the ramp drives


@dataclass
class LrFindResult:
    lrs: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)  # the loss of each step, as measured
    smoothed: list[float] = field(default_factory=list)
    stopped: str = "end"  # "end" (all steps taken), "diverged", "nan" or "request"
    suggestion: float | None = None
    reason: str = ""  # how the suggestion was read off the curve, for the user

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ExponentialRamp:
    """A schedule (the trainer calls `lr(step)` and `apply(optimizer, step)`) growing from start to end in
    `steps` steps; optimizers not in `swept` keep the configured rate (a GAN tested on one network)."""

    def __init__(self, start: float, end: float, steps: int, base_lr: float, swept: tuple = ()):
        self.start, self.ratio, self.steps = start, end / start, max(1, steps - 1)
        self.base_lr, self.swept = base_lr, swept

    def lr(self, step: int) -> float:
        return self.start * self.ratio ** (min(step, self.steps) / self.steps)

    def apply(self, optimizer, step: int) -> float:
        lr = self.lr(step) if not self.swept or any(optimizer is o for o in self.swept) else self.base_lr
        for group in optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)  # training.lr_scale, as the run's schedule does
        return lr


def find_lr(doc: GraphDocument, *, start_lr: float = 1e-7, end_lr: float = 10.0, steps: int = 200,
            device: str | None = None, base_dir: str | Path | None = None, networks: str = "both",
            on_point: Callable[[float, float, float], None] | None = None,
            stop: Callable[[], bool] | None = None) -> LrFindResult:
    """Run the range test on a copy of `doc`'s model; `on_point(lr, loss, smoothed)` is called after each step.

    Raises the project's errors (ConfigError, GraphInvalid, DataError…) for what a run would refuse too.
    """
    import torch

    from ..data.batches import epoch_order
    from ..train import events
    from ..train.distributed import Distributed
    from ..train.gan import GanTrainer, prepare_gan
    from ..train.loop import SupervisedTrainer
    from ..train.setup import prepare, resolve_device

    _check_range(start_lr, end_lr, steps, networks)
    overrides = {"compile": "off", **({"device": device} if device else {})}  # compiling costs more than the test
    config = TrainingConfig.from_dict({**doc.training, **overrides})
    if networks != "both" and config.mode != "gan":
        raise ConfigError(f"lr-find: --networks {networks} is for a GAN; this graph trains in "
                          f"{config.mode} mode — leave it at both")
    gan = config.mode == "gan"
    setup = (prepare_gan if gan else prepare)(doc, config, Distributed(), resolve_device(config.device), base_dir)
    picked = {"both": (0, 1), "generator": (0,), "discriminator": (1,)}[networks] if gan else (0,)
    setup.schedule = ExponentialRamp(start_lr, end_lr, steps, config.optimizer.lr,
                                     tuple(setup.optimizers[i] for i in picked))
    result = LrFindResult()
    with tempfile.TemporaryDirectory(prefix="layerloom-lr-find-") as scratch:  # the trainer's run folder: unused
        trainer = (GanTrainer if gan else SupervisedTrainer)(setup, Path(scratch), events.EventLog(None), None)
        average, best = 0.0, math.inf
        epoch = 0
        while result.stopped == "end" and len(result.lrs) < steps:
            epoch += 1
            order = epoch_order(len(setup.data.train), config.seed, epoch)
            for batch, (x, y) in enumerate(trainer.train_batches.batches(order, config.batch_size)):
                if batch >= setup.steps_per_epoch or len(result.lrs) >= steps:
                    break
                if stop is not None and stop():
                    result.stopped = "request"
                    break
                lr = trainer.s.schedule.lr(trainer.step)
                trainer._step(x, y)  # the run's own step (see the module docstring)
                loss = float(trainer.last_losses[list(picked)].sum()) if gan else float(trainer.last_losses[0])
                if not math.isfinite(loss):
                    result.stopped = "nan"
                    break
                average = SMOOTHING * average + (1 - SMOOTHING) * loss
                smoothed = average / (1 - SMOOTHING ** (len(result.lrs) + 1))
                result.lrs.append(lr)
                result.losses.append(loss)
                result.smoothed.append(smoothed)
                if on_point is not None:
                    on_point(lr, loss, smoothed)
                best = min(best, smoothed)
                if len(result.lrs) > MIN_STEPS and smoothed > DIVERGENCE * best:
                    result.stopped = "diverged"
                    break
        del trainer
    if setup.device.type == "cuda":
        torch.cuda.empty_cache()
    result.suggestion, result.reason = suggest(result.lrs, result.smoothed)
    return result


def suggest(lrs: list[float], smoothed: list[float]) -> tuple[float | None, str]:
    """The suggested learning rate and why: the steepest descent of the smoothed loss before its minimum,
    per decade of learning rate, else a tenth of the rate at the minimum."""
    if len(lrs) < 3:
        return None, "too few steps to read a slope — run more steps"
    low = min(range(len(smoothed)), key=smoothed.__getitem__)
    start = max(1, int(len(lrs) * SKIP_START))
    if low - start >= 2 and smoothed[low] < (1 - MIN_DROP) * smoothed[start]:  # a real descent, not noise
        logs = [math.log10(lr) for lr in lrs]
        slopes = [(smoothed[i + 1] - smoothed[i - 1]) / (logs[i + 1] - logs[i - 1]) for i in range(start, low)]
        steepest = min(range(len(slopes)), key=slopes.__getitem__)
        if slopes[steepest] < 0:
            return lrs[start + steepest], (f"steepest descent: the smoothed loss falls fastest here "
                                           f"({-slopes[steepest]:.3g} per decade of learning rate)")
    return lrs[low] / 10, f"a tenth of the minimum: the smoothed loss is lowest at {lrs[low]:.3g}"


def _check_range(start_lr: float, end_lr: float, steps: int, networks: str) -> None:
    if not (0 < start_lr < end_lr) or not math.isfinite(end_lr):
        raise ConfigError(f"lr-find: the range must grow from a positive start to a finite end, got "
                          f"{start_lr:g} → {end_lr:g}")
    if steps < 3:
        raise ConfigError(f"lr-find: --steps must be at least 3, got {steps}")
    if networks not in NETWORKS:
        raise ConfigError(f"lr-find: --networks must be one of {', '.join(NETWORKS)}, got {networks!r}")
