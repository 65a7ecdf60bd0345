"""Results list a table classifier's mistakes as rows of its file with their raw cells, all of them under the
matrix and a clicked cell's alone; other classifiers' as validation sample positions."""

from __future__ import annotations

from app.training.evaluation import ResultsPanel
from app.training.runs import RunRecord

ROW_23 = {"customer_id": "C-0042", "contract": "month-to-month", "total_charges": "", "churn": "yes"}
MISTAKES = [
    {"index": 3, "true": 1, "predicted": 0, "confidence": 0.81, "row": "row 23", "cells": ROW_23},
    {"index": 8, "true": 0, "predicted": 1, "confidence": 0.6, "row": "row 41",
     "cells": {"customer_id": "C-<b>", "contract": "two year", "total_charges": "812.5", "churn": "no"}},
]
EVALUATION = {"class_names": ["no", "yes"], "confusion": [[5, 1], [1, 3]], "accuracy": 0.8, "samples": [],
              "mistakes": MISTAKES}


def _panel(qtbot) -> ResultsPanel:
    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.expects_evaluation(RunRecord("run", task_kind="classification"))
    return panel


def test_mistakes_are_listed_as_csv_rows_and_a_cell_click_lists_its_own(qtbot):
    panel = _panel(qtbot)
    panel.show_evaluation(EVALUATION)
    text = panel.mistakes.text()
    assert "2 listed" in text
    assert ("row 23 — true yes, predicted no (81%): customer_id <b>C-0042</b> · contract <b>month-to-month</b> · "
            "total_charges <b>(empty)</b> · churn <b>yes</b>") in text
    assert "customer_id <b>C-&lt;b&gt;</b>" in text  # a cell's text is shown, never read as markup
    panel.matrix.cellClicked.emit(1, 0)
    text = panel.mistakes.text()
    assert text.startswith("True <b>yes</b>, predicted <b>no</b>: 1 sample") and "row 23" in text
    assert "row 41" not in text
    panel.matrix.cellClicked.emit(0, 0)
    assert panel.mistakes.text() == "True <b>no</b>, predicted <b>no</b>: 5 samples, classified right " \
                                    "(only mistakes are listed)"
    panel.clear()
    assert panel.mistakes.text() == ""


def test_other_classifiers_mistakes_are_validation_positions(qtbot):
    panel = _panel(qtbot)
    panel.show_evaluation({**EVALUATION, "mistakes": [{"index": 5, "true": 1, "predicted": 0, "confidence": 0.5}]})
    assert "validation sample #5 — true yes, predicted no (50%)" in panel.mistakes.text()
