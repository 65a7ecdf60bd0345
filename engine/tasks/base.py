"""Task kinds: what a run's training means, and what it shows at the end of each epoch.

A kind (one module each in this package, registered in `__init__`) is chosen once per run by
`kind_for` from the data and the graph. It gives

    metrics(setup, sample)         numbers for the epoch event's `metrics` (every epoch)
    artifacts(setup, sample, out)  files under `<run_dir>/artifacts/` and `artifact` events (throttled)

Both look at a fixed `Sample` of the validation split (its first SUBSET samples, taken once), so
epochs compare and the per-epoch cost stays small whatever the dataset's size. report.py runs them
on the main rank only, in eval mode, without gradients, and with torch's RNG forked, so a run
trains exactly as it would without them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..data.batches import take

SUBSET = 256  # validation samples a kind looks at per epoch
ARTIFACT_INTERVAL_S = 30.0  # in a long run, a kind writes its artifacts at most this often (report.py)


@dataclass
class Sample:
    """The fixed validation subset: x and y on the device, and their positions in the validation split."""

    x: torch.Tensor
    y: torch.Tensor
    indices: list[int]

    @classmethod
    def of(cls, dataset, device: torch.device, size: int = SUBSET) -> Sample:
        indices = list(range(min(size, len(dataset))))
        x, y = take(dataset, indices)  # a TensorDataset, or an image folder read lazily
        return cls(x.to(device), y.to(device), indices)


class TaskKind:
    """A run with nothing to add beyond its losses (e.g. a classification dataset whose Output is no
    class scores); the other kinds refine it."""

    name = "plain"
    interval_s = ARTIFACT_INTERVAL_S

    def metrics(self, setup, sample: Sample) -> dict[str, float]:
        return {}

    def artifacts(self, setup, sample: Sample, out) -> None:
        return None


def predictions(setup, sample: Sample) -> torch.Tensor:
    """The Output the run scores, for the sample, through the unwrapped compiled module (float32)."""
    with setup.autocast():
        out: dict[str, Any] = setup.compiled.module(*setup.arguments(sample.x, sample.y))
    return out[setup.prediction].float()
