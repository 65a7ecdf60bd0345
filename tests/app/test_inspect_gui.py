"""Inside the network, in the window: what a run's instruments found is drawn on the node it is about.

Runs train in the application's one warm worker (as in test_training.py); it is shut down after the module.
"""

from __future__ import annotations

import numpy as np
import pytest
from inspect_graphs import EXAMPLES, dead_relu, nan_step, sqrt_collapse
from PySide6.QtWidgets import QLabel

from app.training import install_training
from app.training.client import shared_client
from engine.fileformat import load_document, save_document

WORKER_MS = 90_000  # a cold worker on a busy 2-core machine imports torch slowly
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def shared_worker(qapp):
    client = shared_client()
    client.start()
    yield client
    client.shutdown()


def open_graph(window, doc, path):
    save_document(doc, path)
    assert window.files.open(path)
    return getattr(window, "training", None) or install_training(window)


def test_a_run_that_goes_nan_marks_the_node_it_came_from_with_the_step(qtbot, window, tmp_path):
    training = open_graph(window, sqrt_collapse(tmp_path), tmp_path / "sqrt.json")
    training.actions["train"].trigger()
    qtbot.waitUntil(lambda: training.record is not None and not training.running, timeout=WORKER_MS)
    record, step = training.record, nan_step()
    assert record.state == "failed" and record.message.startswith(f"sqrt1.out became nan at step {step}")
    assert set(training.telemetry.nan.marks()) == {"sqrt1"}  # only the node it came from
    assert training.telemetry.nan.text("sqrt1") == f"nan here at step {step}"
    assert training.telemetry.nan.color("sqrt1").name() == "#e5484d"
    assert f"sqrt1.out became nan at step {step}" in window.statusBar().currentMessage()

    training._show_stored_run(record.run_dir)  # read back from its folder, the mark is drawn again
    assert training.telemetry.nan.text("sqrt1") == f"nan here at step {step}"
    window.editor.set_param("fc1", "bias", False)  # an edit: the mark described the graph as trained
    assert not training.telemetry.nan.marks()


def test_a_dead_relu_is_a_bright_row_a_badge_and_a_problem_with_its_step(qtbot, window, tmp_path):
    training = open_graph(window, dead_relu(tmp_path), tmp_path / "dead.json")
    training.actions["train"].trigger()
    qtbot.waitUntil(lambda: training.record is not None and not training.running, timeout=WORKER_MS)
    assert training.record.state == "finished", training.record.message
    first = training.record.steps[0]
    problems = [window.problems.item(i).text() for i in range(window.problems.count())]
    assert f"⚠  relu1: 100% of its outputs are zero at step {first} — a dead layer: lower the learning rate, " \
           "check the bias and init before it, or use LeakyReLU/GELU" in problems
    assert training.telemetry.badges.text("relu1") == "zeros 100%"
    assert training.telemetry.badges.text("fc1").startswith("σ ")  # a healthy node shows its spread
    live = training.live
    live.redraw()
    heat = live.activations
    assert heat.data.node_ids == ["flatten1", "fc1", "relu1", "dropout1", "fc2"]  # every layer, in graph order
    zeros = heat.data.rows["zero"].array
    assert (zeros[:, 2] == 1.0).all() and (zeros[:, 1] < 0.1).all()  # relu1 all zeros, fc1 hardly any
    assert heat.image.image is not None and heat.image.image.shape == (5, len(heat.data.steps))


def test_profile_colours_nodes_by_measured_time_or_memory_and_lists_estimates(qtbot, window, tmp_path):
    training = open_graph(window, dead_relu(tmp_path), tmp_path / "mlp.json")
    profiling = training.profiling
    profiling.action.trigger()
    qtbot.waitUntil(lambda: profiling.panel.record is not None, timeout=WORKER_MS)
    panel, nodes = profiling.panel, profiling.panel.record["nodes"]
    assert set(nodes) == {"flatten1", "fc1", "relu1", "dropout1", "fc2", "loss1"}
    assert (tmp_path / "mlp.runs").is_dir() and list((tmp_path / "mlp.runs").glob("*/profile.json"))
    assert panel.table.rowCount() == 6
    row = next(r for r in range(6) if panel.table.item(r, 0).text() == "fc1")
    assert panel.table.item(row, 3).text() == panel.table.item(row, 4).text() == "32.0 KiB"  # (64, 128) float32
    assert set(panel.marks.marks()) == set(nodes)  # coloured by time: every node has its halo
    slowest = max(nodes, key=lambda n: nodes[n]["forward_s"] + nodes[n]["backward_s"])
    assert panel.marks.color(slowest) == panel.colormap.map(1.0, mode="qcolor")
    panel.mode.setCurrentText("memory")
    assert panel.marks.text("fc1") == "32.0 KiB" and panel.marks.text("flatten1") == "0 B"  # a view: no memory
    assert "0 B" in panel.legend.text()
    panel.mode.setCurrentText("off")
    assert not panel.marks.marks() and not panel.legend.text()


def test_try_it_explains_an_image_classifier_and_the_layer_dock_shows_a_conv(qtbot, window, tmp_path):
    doc = load_document(EXAMPLES / "digits_cnn.json")
    doc.training.update({"epochs": 1, "device": "cpu"})
    training = open_graph(window, doc, tmp_path / "cnn.json")
    training.actions["train"].trigger()
    results = training.results
    qtbot.waitUntil(lambda: results.evaluation is not None, timeout=WORKER_MS)
    evaluation, explain = results.evaluation, results.explain
    assert evaluation["explained_layer"] == "pool2"
    sample = evaluation["samples"][0]
    assert np.asarray(sample["gradcam"]).shape == np.asarray(sample["saliency"]).shape == (8, 8)  # the input's
    assert not explain.isHidden() and "Grad-CAM on pool2" in explain.caption.text()
    first = explain.picture.pixmap().toImage()
    results.picker.setValue(1)  # another sample, another picture
    assert explain.picture.pixmap().toImage() != first
    explain.choice.setCurrentText("saliency")
    assert explain.caption.text().startswith("saliency")
    assert (training.record.run_dir / "artifacts" / "gradcam.png").is_file()

    layer = training.layer_panel  # look at a layer: select conv1, press Look
    window.scene.items_by_id["conv1"].setSelected(True)
    assert layer.look.isEnabled() and layer.look.text() == "Look at conv1"
    assert layer.histograms.shown == {"weights": 1, "gradients": 1}  # one epoch: one outline each
    assert not layer.histograms.isHidden()
    layer.look.click()
    qtbot.waitUntil(lambda: layer.widget.findChild(QLabel, "feature_maps") is not None, timeout=WORKER_MS)
    assert not layer.widget.findChild(QLabel, "filters").pixmap().isNull()
    assert (training.record.run_dir / "artifacts" / "layer-conv1-feature_maps.png").is_file()
    assert "conv1</b> on validation sample 0" in layer.hint.text()
