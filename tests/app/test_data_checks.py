"""Checks before Train: the graph against its dataset in the problems panel, with one-click fixes;
a new Input takes the dataset's shape (real worker: it describes the dataset)."""

import pytest
from gestures import click_fix, problem_texts
from PySide6.QtCore import QPointF

from app.templates import EXAMPLES

WORKER_MS = 90_000
pytestmark = pytest.mark.slow


def test_input_and_class_mismatches_are_listed_before_train_and_fixed_in_one_click(qtbot, window):
    assert window.files.new_from_template(EXAMPLES / "digits_mlp.json")
    training = window.training
    qtbot.waitUntil(lambda: training.dataset_info is not None, timeout=WORKER_MS)
    assert problem_texts(window) == ["✔  No problems: the graph is valid."]

    window.editor.set_param("input1", "shape", [1, 28, 28])
    window.editor.set_param("fc2", "out_features", 12)
    window.scene.validate_now()
    texts = problem_texts(window)
    assert any("dataset 'digits' gives (N, 1, 8, 8) float32, but input1 is (N, 1, 28, 28)" in t for t in texts)
    assert any("the dataset has 10 classes, but loss1 gets 12 scores" in t for t in texts)
    click_fix(window, "set input1.shape to [1, 8, 8]")
    assert window.doc.nodes["input1"].params["shape"] == [1, 8, 8]
    window.scene.validate_now()
    click_fix(window, "set fc2.out_features to 10")
    window.scene.validate_now()
    assert window.doc.nodes["fc2"].params["out_features"] == 10
    assert problem_texts(window) == ["✔  No problems: the graph is valid."]
    window.editor.stack.undo()  # each fix is an ordinary undoable edit
    assert window.doc.nodes["fc2"].params["out_features"] == 12

    new_input = window.editor.add_node("Input", QPointF(0, 500))
    assert window.doc.nodes[new_input].params["shape"] == [1, 8, 8]  # the dataset's, not 1×28×28
