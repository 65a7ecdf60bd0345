"""A table run's results read like the table: try-it shows a row's columns with their raw values, and the
classifier's views give each class's precision, recall and F1 beside the accuracy."""

from __future__ import annotations

import json

from app.training.evaluation import ResultsPanel
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
