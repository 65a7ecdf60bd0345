"""ROC and precision–recall curves of a two-class model: computed in numpy as scikit-learn computes them, and
returned with the ROC AUC by the worker's evaluation of the run's validation split."""

import numpy as np
import pytest
from sklearn.metrics import precision_recall_curve, roc_curve
from test_table_training import mlp
from train_harness import run

from engine.metrics import curves
from engine.train.worker import evaluate


def test_curves_match_scikit_learns_and_are_thinned():
    rng = np.random.default_rng(0)
    positive = rng.random(500) < 0.3
    scores = np.round(positive * 0.8 + rng.random(500), 2)  # rounded: tied scores share a threshold
    full = curves(scores, positive, points=10**6)
    fpr, tpr, _ = roc_curve(positive, scores, drop_intermediate=False)
    precision, recall, _ = precision_recall_curve(positive, scores)
    assert full["roc"]["fpr"] == pytest.approx(fpr.tolist()) and full["roc"]["tpr"] == pytest.approx(tpr.tolist())
    assert full["pr"]["precision"] == pytest.approx(precision[::-1][1:].tolist())
    assert full["pr"]["recall"] == pytest.approx(recall[::-1][1:].tolist())
    thin = curves(scores, positive, points=20)
    assert len(thin["roc"]["fpr"]) == 21 and thin["roc"]["tpr"][-1] == 1.0 and thin["pr"]["recall"][-1] == 1.0
    assert curves(scores, np.zeros(500, bool)) is None


def test_the_evaluation_of_a_two_class_run_returns_its_curves_and_auc(tmp_path):
    doc = mlp(30, 2, "CrossEntropyLoss", {"shape": [], "dtype": "int64"}, dataset={"name": "breast_cancer"},
              epochs=1)
    run(doc, tmp_path / "run")
    reply = evaluate(doc, str(tmp_path / "run"), None, None)
    roc, pr = reply["curves"]["roc"], reply["curves"]["pr"]
    assert roc["fpr"][0] == roc["tpr"][0] == 0.0 and roc["fpr"][-1] == roc["tpr"][-1] == 1.0
    assert all(0 <= p <= 1 for p in pr["precision"]) and pr["recall"] == sorted(pr["recall"])
    assert reply["roc_auc"] > 0.9  # tumours separate well after one epoch
    assert reply["roc_auc"] == pytest.approx(float(np.trapezoid(roc["tpr"], roc["fpr"])), abs=0.02)

