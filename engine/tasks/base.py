"""Task kinds: what a run's training means, and what it shows at the end of each epoch.

A kind (one module each in this package, registered in `__init__`) is chosen once per run by
`kind_for` from the data and the graph. It gives

    metrics(setup, sample)         numbers for the epoch event's `metrics` (every epoch)
    artifacts(setup, sample, out)  files under `<run_dir>/artifacts/` and `artifact` events (throttled)

Both look at a fixed `Sample` of the validation split (its first SUBSET samples, taken once), so
epochs compare and the per-epoch cost stays small whatever the dataset's size. A kind with
`whole_split` (the classifier's confusion matrix) is given the whole split's predicted classes
instead (`Classified`): the trainer's own validation pass keeps them, so counting every validation
sample costs no forward pass of its own. report.py runs them on the main rank only, in eval mode,
without gradients, and with torch's RNG forked, so a run trains exactly as it would without them.
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


@dataclass
class Classified:
    """The whole validation split as the model classified it this epoch: targets and predicted class
    indices (the same shape, on the device), and each sample's position in the split."""

    y: torch.Tensor
    predicted: torch.Tensor
    indices: list[int]

    @classmethod
    def of(cls, setup, dataset) -> Classified:
        """The split through the model a batch at a time: for when the trainer's validation pass cannot
        give it (under DDP each rank validates only its shard)."""
        ys, guesses, size, batch = [], [], len(dataset), setup.config.batch_size
        for start in range(0, size, batch):
            x, y = take(dataset, list(range(start, min(start + batch, size))))
            x, y = x.to(setup.device), y.to(setup.device)
            ys.append(y)
            guesses.append(scores(setup, x, y).argmax(-1))
        return cls(torch.cat(ys), torch.cat(guesses), list(range(size)))


class TaskKind:
    """A run with nothing to add beyond its losses (e.g. a classification dataset whose Output is no
    class scores); the other kinds refine it."""

    name = "plain"
    interval_s = ARTIFACT_INTERVAL_S
    # True: `artifacts` gets the whole validation split's `Classified` instead of the fixed Sample
    whole_split = False

    def metrics(self, setup, sample: Sample) -> dict[str, float]:
        return {}

    def artifacts(self, setup, sample: Sample, out) -> None:
        return None


def predictions(setup, sample: Sample) -> torch.Tensor:
    """The Output the run scores, for the sample, through the unwrapped compiled module (float32)."""
    return scores(setup, sample.x, sample.y)


def scores(setup, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The Output the run scores for the batch (x, y), through the unwrapped compiled module (float32)."""
    with setup.autocast():
        out: dict[str, Any] = setup.compiled.module(*setup.arguments(x, y))
    return out[setup.prediction].float()
