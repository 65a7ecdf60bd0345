"""Training ▸ Compare runs…: two runs of the open graph, what differed, curves, metrics and weights."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.training import install_training
from engine.fileformat import load_document, save_document
from engine.runs import new_run_dir, store_for
from engine.train.loop import train

OUTPUT = Path(__file__).resolve().parents[1] / "output"
MLP = Path(__file__).resolve().parents[2] / "resources" / "examples" / "digits_mlp.json"


@pytest.fixture
def graph_with_two_runs(tmp_path):
    graph = tmp_path / "mlp.json"
    doc = load_document(MLP)
    save_document(doc, graph)
    for lr, width in ((0.003, 128), (0.01, 64)):
        doc.training["optimizer"]["lr"] = lr
        doc.set_param("fc1", "out_features", width)
        train(doc, new_run_dir(store_for(graph), "mlp", graph), epochs=1, base_dir=tmp_path, graph_path=graph)
    return graph


def test_compare_shows_the_difference_and_selects_it_on_the_canvas(qtbot, window, graph_with_two_runs):
    controller = getattr(window, "training", None) or install_training(window)
    assert window.files.open(graph_with_two_runs)
    controller.experiments.compare()
    dialog = controller.experiments.dialog
    assert dialog.isVisible()
    texts = [[item.text(c) for c in range(3)] for item in _items(dialog.tree)]
    assert ["optimizer.lr", "0.003", "0.01"] in texts
    assert ["~ fc1.out_features", "128", "64"] in texts
    assert dialog.result.weights is None and "Weights not compared" in dialog.note.text()
    assert len(dialog.loss_plot.listDataItems()) == 4  # train and val loss of A and B
    assert dialog.metrics.item(3, 0).text().endswith("%")
    dialog.show_on_canvas()
    assert window.scene.selected_node_ids() == ["fc1"]
    marks = dialog.canvas_marks()  # the difference drawn on the graph, with what changed
    assert set(marks.marks()) == {"fc1"} and marks.text("fc1") == "out_features 128 → 64"
    dialog.grab().save(str(OUTPUT / "compare_runs.png"))
    dialog.choices[1].setCurrentIndex(0)  # A against itself: the same structure, so weights are compared
    assert dialog.result.weights == {"fc1": 0.0, "fc2": 0.0}
    dialog.show_on_canvas()  # … and drawn as how far each node's weights moved
    assert set(marks.marks()) == {"fc1", "fc2"} and marks.text("fc2") == "moved 0"
    dialog.close()
    assert not marks.marks()  # the diff goes with the dialog


def _items(tree):
    stack = [tree.topLevelItem(i) for i in range(tree.topLevelItemCount())]
    while stack:
        item = stack.pop()
        yield item
        stack.extend(item.child(i) for i in range(item.childCount()))
