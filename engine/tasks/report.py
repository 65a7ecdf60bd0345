"""When a run's task kind looks at the model: metrics every epoch, artifacts throttled by wall time.

The trainer owns one `TaskReport` and calls `metrics()` before it emits an epoch event and
`artifacts(epoch, step, final)` at the end of the epoch; for a kind with `whole_split` its validation
pass hands over what it predicted first (`classified`, else the report classifies the split itself).
Off the main rank all do nothing; under FSDP too (each rank holds only a shard of the weights, so the
main rank cannot run the model alone).
Artifacts are written after every epoch of a short run (at most EVERY_EPOCH_UP_TO epochs); a longer
one writes them for its first epoch, then at most every `kind.interval_s` seconds, and always for its
final epoch, so many quick epochs do not spend their time drawing pictures.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import torch

from .artifacts import ArtifactWriter
from .base import Classified, Sample, TaskKind

EVERY_EPOCH_UP_TO = 20


class TaskReport:
    def __init__(self, kind: TaskKind, setup, run_dir: Path, emit: Callable[..., None]):
        self.kind, self.s, self.run_dir, self.emit = kind, setup, run_dir, emit
        dist = setup.dist
        self.active = dist.is_main and not (dist.active and dist.strategy == "fsdp")
        self._sample: Sample | None = None
        self._classified: Classified | None = None  # this epoch's, from the trainer's validation pass
        self._last: float | None = None  # time.monotonic() of the last artifacts
        self.every_epoch = setup.config.epochs <= EVERY_EPOCH_UP_TO

    def metrics(self) -> dict[str, float]:
        if not self.active:
            return {}
        with self._evaluating():
            return self.kind.metrics(self.s, self.sample)

    def artifacts(self, epoch: int, step: int, final: bool) -> None:
        now = time.monotonic()
        due = self.every_epoch or final or self._last is None or now - self._last >= self.kind.interval_s
        if not (self.active and due):
            return
        self._last = now
        classified, self._classified = self._classified, None
        with self._evaluating():
            if self.kind.whole_split:
                source = classified or Classified.of(self.s, self.s.data.val)
            else:
                source = self.sample
            self.kind.artifacts(self.s, source, ArtifactWriter(self.run_dir, self.emit, epoch, step))

    @property
    def wants_classes(self) -> bool:
        """Whether the kind wants the classes the validation pass predicts (handed over by `classified`)."""
        return self.active and self.kind.whole_split

    def classified(self, y: torch.Tensor, predicted: torch.Tensor, indices) -> None:
        """The epoch's validation pass classified the whole split: targets, predicted classes, positions."""
        if self.wants_classes:
            self._classified = Classified(y, predicted, list(indices))

    @property
    def sample(self) -> Sample:
        if self._sample is None:
            self._sample = Sample.of(self.s.data.val, self.s.device)
        return self._sample

    @contextmanager
    def _evaluating(self):
        """Eval mode, no gradients, and torch's RNG as it was afterwards (noise Inputs draw from it)."""
        model = self.s.model
        devices = [self.s.device] if self.s.device.type == "cuda" else []
        model.eval()
        try:
            with torch.no_grad(), torch.random.fork_rng(devices=devices):
                yield
        finally:
            model.train()
