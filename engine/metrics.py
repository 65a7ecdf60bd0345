"""Scores of a model's predictions against the truth, in numpy alone (`layerloom predict` runs without torch).

    per_class(confusion)                precision, recall, F1 and support of each class, and the macro F1
    roc_auc(positive_scores, is_positive)  the area under the ROC curve of a two-class model
    curves(positive_scores, is_positive)   its ROC and precision–recall curves, as points to plot
    regression_scores(true, predicted)  MAE, RMSE and R²

Precision of a class is the share of its predictions that were right, recall the share of its samples
found: with 22 % churners, a model answering "no churn" always has 78 % accuracy and a churn recall
of 0 — the figure a user of an imbalanced table must see.
"""

from __future__ import annotations

import numpy as np


def per_class(confusion) -> dict:
    """From confusion[true][predicted] counts: {"precision": […], "recall": […], "f1": […], "support": […],
    "macro_f1": x} — None for a class with no predictions (precision) or no samples (recall, F1)."""
    counts = np.asarray(confusion, dtype=np.float64)
    hits, predicted, actual = np.diag(counts), counts.sum(axis=0), counts.sum(axis=1)
    precision = [float(h / p) if p else None for h, p in zip(hits, predicted, strict=True)]
    recall = [float(h / a) if a else None for h, a in zip(hits, actual, strict=True)]
    f1 = [None if r is None else (2 * p * r / (p + r) if p and r else 0.0) for p, r in zip(precision, recall,
                                                                                          strict=True)]
    present = [v for v in f1 if v is not None]
    return {"precision": precision, "recall": recall, "f1": f1, "support": actual.astype(int).tolist(),
            "macro_f1": float(np.mean(present)) if present else None}


def roc_auc(positive_scores, is_positive) -> float | None:
    """The probability that a random positive scores above a random negative (ties count half); None without
    both kinds of sample."""
    scores, positive = np.asarray(positive_scores, dtype=np.float64), np.asarray(is_positive, dtype=bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if not n_pos or not n_neg:
        return None
    order = scores.argsort(kind="mergesort")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    sorted_scores = scores[order]
    _, first, size = np.unique(sorted_scores, return_index=True, return_counts=True)
    for start, count in zip(first, size, strict=True):  # tied scores share their mean rank
        if count > 1:
            ranks[order[start:start + count]] = start + (count + 1) / 2
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def curves(positive_scores, is_positive, points: int = 200) -> dict | None:
    """{"roc": {"fpr", "tpr"}, "pr": {"recall", "precision"}}: one point per distinct score taken as the threshold
    (highest first), thinned to at most `points`; the ROC starts at (0, 0). None without both kinds of sample."""
    scores, positive = np.asarray(positive_scores, dtype=np.float64), np.asarray(is_positive, dtype=bool)
    n_pos = int(positive.sum())
    if not n_pos or n_pos == len(positive):
        return None
    order = np.argsort(-scores, kind="mergesort")
    scores, positive = scores[order], positive[order]
    last = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]  # the last sample of each distinct score
    tp = np.cumsum(positive)[last]
    fp = last + 1 - tp
    keep = np.unique(np.linspace(0, len(last) - 1, min(points, len(last))).round().astype(int))
    tp, fp = tp[keep], fp[keep]
    recall = tp / n_pos
    return {"roc": {"fpr": [0.0, *(fp / (len(positive) - n_pos)).tolist()], "tpr": [0.0, *recall.tolist()]},
            "pr": {"recall": recall.tolist(), "precision": (tp / (tp + fp)).tolist()}}


def regression_scores(true, predicted) -> dict:
    """MAE, RMSE and R² (1 − squared error over the target's variance; None for a constant target)."""
    true, predicted = np.asarray(true, dtype=np.float64), np.asarray(predicted, dtype=np.float64)
    error = predicted - true
    variance = float(np.square(true - true.mean()).sum())
    return {"mae": float(np.abs(error).mean()), "rmse": float(np.sqrt(np.square(error).mean())),
            "r2": 1.0 - float(np.square(error).sum()) / variance if variance > 0 else None}
