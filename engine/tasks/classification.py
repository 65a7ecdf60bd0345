"""Classification: a confusion matrix, the accuracy of each class, and which samples fill each cell.

Written every epoch, over the whole validation split as the epoch's validation pass classified it
(base.Classified): counting what that pass predicted needs no forward pass of its own, so the matrix
follows training and its total and diagonal agree with the epoch's val_accuracy. The artifact
`confusion` (data) holds:

    class_names        the dataset's class names
    confusion          confusion[true][predicted] = how many targets
    per_class_accuracy the diagonal over each row's total (None for a class absent from the sample)
    precision, recall, f1, support, macro_f1   per class (engine/metrics.py: `per_class`), so an
                       imbalanced table's rare class is seen, not hidden in the accuracy
    misclassified      misclassified[true][predicted] = the samples counted in that off-diagonal cell: their
                       positions in the validation split, or [position, index in the sequence] when a
                       sample has one target per time step; the diagonal lists are empty
"""

from __future__ import annotations

import torch

from ..metrics import per_class
from .base import Classified, TaskKind


class Classification(TaskKind):
    name = "classification"
    whole_split = True
    interval_s = 0.0  # every epoch: a few counts of predictions already made, and a small JSON file

    def artifacts(self, setup, classified: Classified, out) -> None:
        out.data("confusion", confusion(classified.predicted, classified,
                                        setup.data.class_names or [str(i) for i in range(setup.data.num_classes)]))


def confusion(predicted: torch.Tensor, sample: Classified, class_names: list[str]) -> dict:
    """The confusion data of predicted class indices against the sample's targets (same shape); `sample`
    is anything with the targets `y` and the samples' positions `indices` (a Classified, a base.Sample)."""
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
            **per_class(counts.numpy()), "misclassified": cells}
