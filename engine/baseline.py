"""The baseline to beat: scikit-learn models trained on the run's own split, scored on its validation rows.

A network on a table earns its keep only if it beats what a one-line scikit-learn model gets on the same
data. After a classification or regression run, `baseline_scores(split)` trains

    classification  logistic regression and gradient boosting (HistGradientBoosting)
    regression      ridge regression and gradient boosting (one target column only)

on the run's training part — the very arrays the network trained on, standardised and encoded the same way,
oversampled when the run oversampled, with class weights "balanced" when the run weighs its classes — and
scores them on the run's validation part with engine/metrics.py: accuracy, macro F1, per-class recall and, for
two classes, ROC AUC; MAE / RMSE / R² in the target's own units for a regression.

It must stay cheap beside the run: a dataset past MAX_CELLS training values (samples × features) or
MAX_FEATURES features, one read lazily from files, token ids or a target per time step is not fitted, and
the answer says why (`{"skipped": reason}`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .metrics import per_class, regression_scores, roc_auc
from .preprocessing import destandardise

MAX_CELLS = 2_000_000  # training samples × features a baseline is fitted on (a few seconds at most)
MAX_FEATURES = 4096
BOOSTING_ROUNDS = 100
LOGISTIC_ITERATIONS = 500


def baseline_scores(split) -> dict[str, Any]:
    """{"task", "train_samples", "val_samples", "models": [{"name", "seconds", scores…}]} for a DataSplit, or
    {"task", "skipped": why} when fitting would be too costly or means nothing for this data."""
    arrays = _arrays(split)
    if isinstance(arrays, str):
        return {"task": split.task, "skipped": arrays}
    (x_train, y_train), (x_val, y_val) = arrays
    models = _classifiers(split) if split.task == "classification" else _regressors(y_train)
    results = []
    for name, model in models:
        started = time.perf_counter()
        model.fit(x_train, y_train if y_train.ndim == 1 or y_train.shape[1] > 1 else y_train[:, 0])
        scores = _score(split, model, x_val, y_val)
        results.append({"name": name, "seconds": round(time.perf_counter() - started, 3), **scores})
    return {"task": split.task, "train_samples": len(x_train), "val_samples": len(x_val), "models": results}


def _arrays(split) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | str:
    """The split's (x flattened to (N, features), y) as numpy, or why no baseline is fitted."""
    tensors = [getattr(part, "tensors", None) for part in (split.train, split.val)]
    if any(t is None for t in tensors):
        return "the data is read lazily from files — too large for a baseline beside the run"
    (x_train, y_train), (x_val, y_val) = tensors
    if split.vocab or not x_train.is_floating_point():
        return "the inputs are token ids, which a linear model or gradient boosting cannot read as features"
    if split.task == "classification" and y_train.ndim != 1:
        return "a baseline needs one class per sample, and this data has one per time step"
    features = int(np.prod(split.input_shape))
    if features > MAX_FEATURES or features * len(x_train) > MAX_CELLS:
        return (f"too large for a quick baseline: {len(x_train)} training samples × {features} features "
                f"(at most {MAX_CELLS:,} values and {MAX_FEATURES} features)")
    flat = (lambda x: x.reshape(len(x), -1).double().numpy())
    return (flat(x_train), y_train.numpy()), (flat(x_val), y_val.numpy())


def _classifiers(split) -> list[tuple[str, Any]]:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    weights = "balanced" if getattr(split, "class_weights", None) else None
    return [("logistic regression", LogisticRegression(max_iter=LOGISTIC_ITERATIONS, class_weight=weights)),
            ("gradient boosting", HistGradientBoostingClassifier(max_iter=BOOSTING_ROUNDS, class_weight=weights,
                                                                 random_state=0))]


def _regressors(y_train: np.ndarray) -> list[tuple[str, Any]]:
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import Ridge

    models: list[tuple[str, Any]] = [("ridge regression", Ridge())]
    if y_train.ndim == 1 or y_train.shape[1] == 1:  # gradient boosting predicts one target column
        models.append(("gradient boosting", HistGradientBoostingRegressor(max_iter=BOOSTING_ROUNDS, random_state=0)))
    return models


def _score(split, model, x_val: np.ndarray, y_val: np.ndarray) -> dict[str, Any]:
    if split.task == "classification":
        classes = split.num_classes or int(max(y_val.max(), model.classes_.max())) + 1
        predicted = model.predict(x_val)
        counts = np.bincount(y_val * classes + predicted, minlength=classes * classes).reshape(classes, classes)
        scores = per_class(counts)
        out = {"accuracy": float((predicted == y_val).mean()), "macro_f1": scores["macro_f1"],
               "recall": scores["recall"]}
        if classes == 2 and len(model.classes_) == 2:
            out["roc_auc"] = roc_auc(model.predict_proba(x_val)[:, 1], y_val == 1)
        return out
    predicted = model.predict(x_val).reshape(y_val.shape)
    units: Callable[[np.ndarray], np.ndarray] = (lambda y: destandardise(split.target_normalization, y))
    return regression_scores(units(y_val.astype(np.float64)), units(predicted.astype(np.float64)))
