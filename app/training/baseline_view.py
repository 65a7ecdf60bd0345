"""The baseline line of the Results: the run's scikit-learn baselines beside the network's own figure.

A classification or regression run trained from the app ends with a `baseline` artifact (engine/baseline.py:
logistic or ridge regression and gradient boosting, fitted on the run's split and scored on its validation
rows). This turns it into one paragraph of HTML — or says why no baseline was fitted — so a user sees at once
whether the network earns its keep.
"""

from __future__ import annotations

from .kind_views.widgets import latest
from .runs import RunRecord


def baseline_of(record: RunRecord | None) -> dict | None:
    """The run's baseline scores (the artifact's data), None for a run without one."""
    event = latest(record, "baseline") if record is not None else None
    return event["data"] if event is not None else None


def baseline_html(baseline: dict | None, network: dict[str, float | None]) -> str:
    """"<br>Baselines on the same split …" for the scores `baseline`, against the network's `network` figures
    (accuracy; or mae, rmse, r2); empty without a baseline."""
    if not baseline:
        return ""
    if baseline.get("skipped"):
        return f"<br><i>No scikit-learn baseline: {baseline['skipped']}.</i>"
    classify = baseline["task"] == "classification"
    keys = ("accuracy", "macro_f1", "roc_auc") if classify else ("mae", "rmse", "r2")
    rows = [("<b>this network</b>", network)] + [(model["name"], model) for model in baseline["models"]]
    lines = [f"{name}: " + " · ".join(_figure(key, scores.get(key)) for key in keys if scores.get(key) is not None)
             for name, scores in rows]
    return (f"<br>Baselines trained on the same split ({baseline['train_samples']} training, "
            f"{baseline['val_samples']} validation samples):<br>" + "<br>".join(lines))


def _figure(key: str, value: float) -> str:
    if key in ("accuracy", "macro_f1"):
        return f"{'accuracy' if key == 'accuracy' else 'macro F1'} {value:.1%}"
    return {"roc_auc": "ROC AUC", "r2": "R²"}.get(key, key.upper()) + f" {value:.3g}"
