"""The baseline to beat: scikit-learn models fitted on the run's own split, scored on its validation rows, and
recorded in the run (a `baseline` artifact and summary.json) — or a word on why none was fitted."""

import json

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from table_files import churn_rows, house_rows, write_csv
from test_table_training import mlp
from train_harness import of_type, run

from engine import baseline
from engine.baseline import baseline_scores
from engine.data import load_dataset


def test_a_run_records_baselines_fitted_on_its_own_split(tmp_path):
    header, rows = churn_rows(600, seed=1)
    write_csv(tmp_path / "churn.csv", header, rows)
    dataset = {"name": "csv", "path": "churn.csv"}
    split = load_dataset(dataset, seed=3, base_dir=tmp_path)  # the run's split: its seed is 3
    doc = mlp(split.input_shape[0], 2, "CrossEntropyLoss", {"shape": [], "dtype": "int64"}, dataset=dataset,
              epochs=1, seed=3)
    result, events = run(doc, tmp_path / "run", base_dir=tmp_path, baseline=True)
    assert result.state == "finished"
    artifact = [e for e in of_type(events, "artifact") if e["tag"] == "baseline"][-1]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["baseline"] == artifact["data"]
    assert json.loads((tmp_path / "run" / artifact["path"]).read_text()) == artifact["data"]
    scores = summary["baseline"]
    assert [m["name"] for m in scores["models"]] == ["logistic regression", "gradient boosting"]
    assert (scores["train_samples"], scores["val_samples"]) == (len(split.train), len(split.val))
    # the same validation rows: a logistic regression fitted here on the seed-3 split scores what the run recorded
    (x_train, y_train), (x_val, y_val) = (t.tensors for t in (split.train, split.val))
    fitted = LogisticRegression(max_iter=baseline.LOGISTIC_ITERATIONS).fit(x_train.double().numpy(), y_train.numpy())
    assert scores["models"][0]["accuracy"] == pytest.approx(fitted.score(x_val.double().numpy(), y_val.numpy()))
    other = load_dataset(dataset, seed=0, base_dir=tmp_path)  # another seed's split: other rows, another figure
    assert not np.array_equal(other.val.tensors[0].numpy(), x_val.numpy())
    assert 0.5 < scores["models"][0]["roc_auc"] <= 1 and len(scores["models"][1]["recall"]) == 2


def test_a_regression_baseline_scores_in_the_targets_own_units(tmp_path):
    header, rows, prices = house_rows(400)
    write_csv(tmp_path / "houses.csv", header, rows)
    scores = baseline_scores(load_dataset({"name": "csv", "path": "houses.csv"}, seed=0, base_dir=tmp_path))
    ridge, boosting = scores["models"]
    assert (ridge["name"], boosting["name"]) == ("ridge regression", "gradient boosting")
    assert ridge["r2"] > 0.9  # the price is linear in the features
    spread = float(np.abs(prices - prices.mean()).mean())
    assert 1000 < ridge["mae"] < 0.3 * spread  # in currency, not in standard deviations


def test_a_dataset_too_large_or_of_token_ids_is_skipped_saying_why(monkeypatch):
    monkeypatch.setattr(baseline, "MAX_CELLS", 1000)
    scores = baseline_scores(load_dataset({"name": "iris"}, seed=0))  # 120 samples × 4 features fit
    assert [m["name"] for m in scores["models"]] == ["logistic regression", "gradient boosting"]
    digits = baseline_scores(load_dataset({"name": "digits"}, seed=0))  # 1437 × 64 do not
    assert digits == {"task": "classification", "skipped": digits["skipped"]}
    assert "too large for a quick baseline: 1437 training samples × 64 features" in digits["skipped"]
    text = baseline_scores(load_dataset({"name": "text"}, seed=0))
    assert "token ids" in text["skipped"]
