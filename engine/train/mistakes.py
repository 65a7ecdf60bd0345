"""A classifier's mistakes on the validation split, as the user can look them up.

`evaluate` (worker.py) sends them to the Results panel: each wrong sample's position in the split, its
true and predicted class and the probability given to the prediction; for a table also its row as a
spreadsheet shows it and its raw cells (`DataSplit.val_source`), so "row 23: contract month-to-month…"
can be found in the file instead of "validation sample #5"; for an image folder its file ("cat/007.png"). The
live confusion matrix names a clicked cell's samples the same way (the worker's `samples` sends `SourceRows.row`).
"""

from __future__ import annotations

import numpy as np

from ..data.split import SourceRows

MAX_MISTAKES = 50  # listed per confusion cell at most (all are counted): the reply stays small for a large table


def list_mistakes(y: np.ndarray, probabilities: np.ndarray, source: SourceRows | None) -> list[dict]:
    """The wrongly classified samples (one label each: `y` (N,), `probabilities` (N, classes)), in split order,
    the first MAX_MISTAKES of every confusion cell."""
    predicted = probabilities.argmax(-1)
    listed: dict[tuple[int, int], int] = {}
    found = []
    for i in np.flatnonzero(predicted != y).tolist():
        cell = (int(y[i]), int(predicted[i]))
        if listed.setdefault(cell, 0) >= MAX_MISTAKES:
            continue
        listed[cell] += 1
        found.append({"index": i, "true": cell[0], "predicted": cell[1],
                      "confidence": float(probabilities[i, cell[1]]), **(source.row(i) if source else {})})
    return found
