"""A classifier drawn without an Output trains its losses only: the problems panel says why a run would
show no accuracy or confusion matrix, and one click adds the Output (real worker: it describes the dataset)."""

import pytest
from gestures import click, click_fix, doc_state, node_point, problem_texts
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from app.templates import EXAMPLES
from engine.document import Edge

WORKER_MS = 90_000
pytestmark = pytest.mark.slow


def test_a_classifier_without_output_is_told_so_and_one_click_wires_one_beside_the_prediction(qtbot, window):
    window.resize(1600, 1000)
    assert window.files.new_from_template(EXAMPLES / "digits_mlp.json")
    qtbot.waitUntil(lambda: window.training.dataset_info is not None, timeout=WORKER_MS)
    assert problem_texts(window) == ["✔  No problems: the graph is valid."]

    click(window.view.viewport(), node_point(window, "output1"))  # the user's graph: no Output
    QTest.keyClick(window.view, Qt.Key.Key_Delete)
    window.scene.validate_now()
    texts = problem_texts(window)
    assert any(t.startswith("⚠  loss1: the graph has no Output node, so a run cannot show accuracy and the "
                            "confusion matrix") for t in texts), texts
    assert any("Fix: add an Output node wired to fc2.out" in t for t in texts)

    before = doc_state(window.doc)
    window.view.centerOn(5000, 5000)  # looking elsewhere: the fix brings the new node into view
    click_fix(window, "add an Output node wired to fc2.out")
    (output,) = [n for n, node in window.doc.nodes.items() if node.type_id == "Output"]
    assert Edge("fc2", "out", output, "in") in window.doc.edges
    items = window.scene.items_by_id
    added = items[output].sceneBoundingRect()
    assert not [n for n, item in items.items() if n != output and item.sceneBoundingRect().intersects(added)]
    assert added.left() > items["fc2"].sceneBoundingRect().right() and abs(added.top() - items["fc2"].y()) < 200
    assert window.view.mapToScene(window.view.viewport().rect()).boundingRect().contains(added)
    window.scene.validate_now()
    assert problem_texts(window) == ["✔  No problems: the graph is valid."]

    window.editor.stack.undo()  # the node and its wire: one step
    assert doc_state(window.doc) == before
