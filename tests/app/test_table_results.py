"""A table run's results read like the table: try-it shows a row's columns with their raw values, and the
classifier's views give each class's precision, recall and F1 beside the accuracy."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from app.training.evaluation import ResultsPanel
from app.training.kind_views import classification
from app.training.kind_views.classification import ConfusionPanel
from app.training.runs import RunRecord
from engine.data.tables import TableEncoding
from engine.metrics import per_class

COLUMNS = [{"name": "tenure", "kind": "number", "fill": 12.0},
           {"name": "contract", "kind": "category", "values": ["monthly", "one year", "two year"], "fill": "monthly",
            "indicator": True},
           {"name": "paperless", "kind": "binary", "values": ["no", "yes"], "fill": "yes"}]
CONFUSION = [[50, 10], [5, 15]]  # no / yes: 15 of 20 churners found


def test_try_it_shows_a_table_row_as_its_columns_raw_values(qtbot, tmp_path):
    encoding = TableEncoding.from_record(COLUMNS)
    raw = encoding.encode({"tenure": ["30"], "contract": [""], "paperless": ["no"]}, ["row 2"], "t.csv")[0]
    mean, std = [10.0, 0.5, 0.2, 0.1, 0.1, 0.5], [5.0, 0.5, 0.4, 0.3, 0.3, 0.5]
    (tmp_path / "data.json").write_text(json.dumps({"raw": {"kind": "table", "columns": COLUMNS},
                                                    "normalization": {"mean": mean, "std": std, "axis": 0}}))
    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.show()
    assert panel.expects_evaluation(RunRecord("run", run_dir=tmp_path, task_kind="classification"))
    x = [(v - m) / s for v, m, s in zip(raw.tolist(), mean, std, strict=True)]  # as the model saw it
    panel.show_evaluation({"class_names": ["no", "yes"], "confusion": CONFUSION, "accuracy": 65 / 80,
                           "samples": [{"x": x, "shape": [6], "label": 1, "top": [[1, 0.7], [0, 0.3]]}]})
    text = panel.prediction.text()
    assert "tenure: <b>30</b>" in text and "contract: <b>(empty)</b>" in text and "paperless: <b>no</b>" in text
    assert "true: <b>yes</b>" in text and not panel.sequence.isVisible() and not panel.image.isVisible()
    assert "yes: precision 60% · recall 75% · F1 67% (20 samples)" in panel.summary.text()


def test_the_live_confusion_heading_lists_each_class_recall(qtbot):
    panel = ConfusionPanel()
    qtbot.addWidget(panel)
    record = RunRecord("run", task_kind="classification")
    record.artifacts.append({"tag": "confusion", "epoch": 3, "data": {
        "class_names": ["no", "yes"], "confusion": CONFUSION, "misclassified": [[[], []], [[], []]],
        "per_class_accuracy": [50 / 60, 15 / 20], **per_class(CONFUSION)}})
    panel.show_record(record)
    assert "yes: precision 60% · recall 75% · F1 67%" in panel.heading.text()
    assert "no: precision 91% · recall 83%" in panel.heading.text()


BASELINE = {"task": "classification", "train_samples": 320, "val_samples": 80, "models": [
    {"name": "logistic regression", "seconds": 0.1, "accuracy": 0.7, "macro_f1": 0.6, "roc_auc": 0.81},
    {"name": "gradient boosting", "seconds": 0.3, "accuracy": 0.775, "macro_f1": 0.7, "roc_auc": 0.84}]}


def test_results_show_the_baselines_beside_the_networks_figure(qtbot, tmp_path):
    panel = ResultsPanel()
    qtbot.addWidget(panel)
    record = RunRecord("run", run_dir=tmp_path, task_kind="classification")
    record.artifacts.append({"tag": "baseline", "epoch": 4, "data": BASELINE})
    for tag, epoch in (("last", 4), ("best", 3)):
        record.add({"type": "checkpoint", "tag": tag, "path": f"{tag}.safetensors", "epoch": epoch, "step": 40})
    assert panel.expects_evaluation(record)
    panel.show_evaluation({"class_names": ["no", "yes"], "confusion": CONFUSION, "accuracy": 65 / 80,
                           "roc_auc": 0.9, "samples": []})
    text = panel.summary.text()
    assert "Validation accuracy <b>81.2%</b> of 80 samples (best checkpoint, epoch 3)" in text  # what it scores
    assert "same split (320 training, 80 validation samples)" in text
    assert "<b>this network</b>: accuracy 81.2% · macro F1 76.8% · ROC AUC 0.9" in text
    assert "logistic regression: accuracy 70.0% · macro F1 60.0% · ROC AUC 0.81" in text
    assert "gradient boosting: accuracy 77.5%" in text


def test_a_regressions_results_compare_its_last_errors_with_the_baselines(qtbot, tmp_path):
    panel = ResultsPanel()
    qtbot.addWidget(panel)
    record = RunRecord("run", run_dir=tmp_path, task_kind="regression")
    record.epochs.append({"epoch": 3, "metrics": {"mae": 12000.0, "rmse": 15000.0, "r2": 0.93}})
    record.artifacts.append({"tag": "baseline", "epoch": 3, "data": {
        "task": "regression", "train_samples": 320, "val_samples": 80,
        "models": [{"name": "ridge regression", "mae": 11000.0, "rmse": 14000.0, "r2": 0.95}]}})
    assert not panel.expects_evaluation(record)
    text = panel.summary.text()
    assert "<b>this network</b>: MAE 1.2e+04 · RMSE 1.5e+04 · R² 0.93" in text
    assert "ridge regression: MAE 1.1e+04 · RMSE 1.4e+04 · R² 0.95" in text
    record.artifacts.append({"tag": "baseline", "epoch": 3, "data": {"task": "regression", "skipped": "too large"}})
    panel.expects_evaluation(record)
    assert "No scikit-learn baseline: too large." in panel.summary.text()


def test_a_two_class_evaluation_draws_its_roc_and_precision_recall_curves(qtbot, tmp_path):
    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.expects_evaluation(RunRecord("run", run_dir=tmp_path, task_kind="classification"))
    curves = {"roc": {"fpr": [0.0, 0.1, 1.0], "tpr": [0.0, 0.7, 1.0]},
              "pr": {"recall": [0.7, 1.0], "precision": [0.8, 0.25]}}
    panel.show_evaluation({"class_names": ["no", "yes"], "confusion": CONFUSION, "accuracy": 65 / 80,
                           "roc_auc": 0.885, "curves": curves, "samples": []})
    assert panel.curves.isVisible()
    xs, ys = panel.curves.roc_curve.getData()
    assert xs.tolist() == [0.0, 0.1, 1.0] and ys.tolist() == [0.0, 0.7, 1.0]
    assert panel.curves.pr_curve.getData()[1].tolist() == [0.8, 0.25]
    assert panel.curves.base_rate.getData()[1].tolist() == [0.25, 0.25]  # the share of positives
    assert "ROC of 'yes' · AUC 0.885" in panel.curves.roc.getPlotItem().titleLabel.text
    panel.show_evaluation({"class_names": ["a", "b", "c"], "confusion": [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
                           "accuracy": 1.0, "samples": []})
    assert not panel.curves.isVisible()  # three classes: no curves


def _live_panel(qtbot, record: RunRecord) -> ConfusionPanel:
    panel = ConfusionPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.show_record(record)
    return panel


def _click(qtbot, panel: ConfusionPanel, row: int, column: int) -> dict:
    matrix = panel.matrix
    with qtbot.waitSignal(panel.request) as asked:
        qtbot.mouseClick(matrix.viewport(), Qt.MouseButton.LeftButton,
                         pos=matrix.visualItemRect(matrix.item(row, column)).center())
    return asked.args[0]


def _confusion_record(misclassified) -> RunRecord:
    record = RunRecord("run", task_kind="classification")
    record.artifacts.append({"tag": "confusion", "epoch": 3, "data": {
        "class_names": ["no", "yes"], "confusion": [[5, 1], [3, 2]], "misclassified": misclassified}})
    return record


def test_a_live_confusion_cell_lists_a_tables_samples_as_rows_of_its_file(qtbot, monkeypatch):
    monkeypatch.setattr(classification, "MAX_SAMPLES", 2)  # a cell with more samples than are fetched
    panel = _live_panel(qtbot, _confusion_record([[[], [7]], [[2, 4, 9], []]]))
    assert _click(qtbot, panel, 0, 1) == {"cmd": "samples", "indices": [7]}
    assert _click(qtbot, panel, 1, 0) == {"cmd": "samples", "indices": [2, 4]}
    assert panel.listing.text().endswith("validation samples #2, #4, #9")  # until the worker names them
    cells = [{"customer_id": "C-0042", "contract": "month-to-month", "total_charges": "", "churn": "yes"},
             {"customer_id": "C-<b>", "contract": "two year", "total_charges": "812.5", "churn": "yes"}]
    reply = [{"index": i, "x": [0.1] * 6, "shape": [6], "text": None, "label": "yes", "row": row, "cells": c}
             for i, row, c in ((2, "row 23", cells[0]), (4, "row 41", cells[1]))]
    panel.reply({"type": "samples", "samples": [{**reply[0], "index": 7}]})  # the first click's, late: ignored
    assert "row 23" not in panel.listing.text() and panel.listing.text().endswith("#9")
    panel.reply({"type": "samples", "samples": reply})
    lines = panel.listing.text().split("<br>")
    assert lines[0] == "true <b>yes</b>, predicted <b>no</b>: 3 samples, rows of the file:"
    assert lines[1] == ("row 23: customer_id <b>C-0042</b> · contract <b>month-to-month</b> · total_charges "
                        "<b>(empty)</b> · churn <b>yes</b>")  # as Results list a mistake's row
    assert lines[2].startswith("row 41: customer_id <b>C-&lt;b&gt;</b>")  # a cell's text is never markup
    assert lines[3] == "… and 1 more" and panel.samples.entries == []  # no strip of standardised numbers


def test_a_live_confusion_cell_names_an_image_folders_samples_by_their_files(qtbot):
    panel = _live_panel(qtbot, _confusion_record([[[], [7]], [[2, 4, 9], []]]))
    assert _click(qtbot, panel, 0, 1) == {"cmd": "samples", "indices": [7]}
    pixels = [float(v) for v in range(64)]
    panel.reply({"type": "samples", "samples": [{"index": 7, "x": pixels, "shape": [1, 8, 8], "text": None,
                                                 "label": "no", "row": "no/cat & dog.png", "cells": {}}]})
    assert panel.listing.text() == "true <b>no</b>, predicted <b>yes</b>: 1 sample — no/cat &amp; dog.png"
    (entry,) = panel.samples.entries
    assert entry.findChildren(QLabel)[-1].text() == "no/cat & dog.png"  # the thumbnail's caption


def test_the_live_heading_says_when_results_score_an_earlier_checkpoint(qtbot):
    record = _confusion_record([[[], [7]], [[2, 4, 9], []]])  # the matrix of epoch 3
    for tag, epoch in (("best", 2), ("last", 3)):
        record.add({"type": "checkpoint", "tag": tag, "path": f"{tag}.safetensors", "epoch": epoch, "step": 30})
    panel = _live_panel(qtbot, record)  # a run in progress
    assert "epoch 3 · 63.6% of 11 validation samples right" in panel.heading.text()
    assert "Results score" not in panel.heading.text()  # while it trains, the best checkpoint may still move
    record.add({"type": "status", "state": "finished", "reason": None, "message": "done"})
    panel.show_record(record)
    assert "These are the weights after epoch 3; Results score the best checkpoint (epoch 2)" in panel.heading.text()
    record.add({"type": "checkpoint", "tag": "best", "path": "best.safetensors", "epoch": 3, "step": 30})
    panel.show_record(record)
    assert "Results score" not in panel.heading.text()  # the same weights: one figure, nothing to explain
