"""Classification: a confusion matrix, the accuracy of each class, and which samples fill each cell.

The artifact `confusion` (data) holds, over the fixed validation sample (base.py):

    class_names        the dataset's class names
    confusion          confusion[true][predicted] = how many targets
    per_class_accuracy the diagonal over each row's total (None for a class absent from the sample)
    misclassified      misclassified[true][predicted] = the samples counted in that off-diagonal cell: their
                       positions in the validation split, or [position, index in the sequence] when a
                       sample has one target per time step; the diagonal lists are empty
"""

from __future__ import annotations

import torch

from .base import Sample, TaskKind, predictions


class Classification(TaskKind):
    name = "classification"

    def artifacts(self, setup, sample: Sample, out) -> None:
        out.data("confusion", confusion(predictions(setup, sample).argmax(-1), sample,
                                        setup.data.class_names or [str(i) for i in range(setup.data.num_classes)]))


def confusion(predicted: torch.Tensor, sample: Sample, class_names: list[str]) -> dict:
    """The confusion data of predicted class indices against the sample's targets (same shape)."""
    classes = len(class_names)
    true, guess = sample.y.reshape(-1).cpu(), predicted.reshape(-1).cpu()
    counts = (true * classes + guess).bincount(minlength=classes * classes).view(classes, classes)
    per_target = sample.y[0].numel()  # targets per sample: 1, or one per time step
    cells: list[list[list]] = [[[] for _ in range(classes)] for _ in range(classes)]
    wrong = (true != guess).nonzero().flatten().tolist()
    for flat, t, g in zip(wrong, true[wrong].tolist(), guess[wrong].tolist(), strict=True):
        position = sample.indices[flat // per_target]
        cells[t][g].append(position if per_target == 1 else [position, flat % per_target])
    rows = counts.sum(1)
    return {"class_names": class_names, "confusion": counts.tolist(),
            "per_class_accuracy": [float(counts[i, i] / rows[i]) if rows[i] else None for i in range(classes)],
            "misclassified": cells}
