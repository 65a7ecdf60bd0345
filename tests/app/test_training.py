"""Training from the GUI against the real worker process (digits, a small MLP, CPU).

All tests share the application's one warm worker (`shared_client()`); it is shut down after the
module. The kill test runs last because it costs a fresh worker start.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QLabel, QPushButton

from app.templates import EXAMPLES
from app.training import install_training
from app.training.client import shared_client
from engine.fileformat import to_dict

OUTPUT = Path(__file__).resolve().parents[1] / "output"
WORKER_MS = 90_000  # a cold worker on a busy 2-core machine imports torch and sklearn slowly
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def shared_worker(qapp):
    client = shared_client()
    client.start()
    yield client
    client.shutdown()


@pytest.fixture
def training(window, tmp_path):
    """The window's training controller on the digits MLP (unsaved: its runs go under tmp_path/data)."""
    controller = getattr(window, "training", None) or install_training(window)
    assert window.files.new_from_template(EXAMPLES / "digits_mlp.json")
    return controller


def wait_for_steps(qtbot, controller, count: int) -> None:
    qtbot.waitUntil(lambda: controller.record is not None and len(controller.record.steps) >= count,
                    timeout=WORKER_MS)


def test_a_run_plots_live_locks_the_graph_evaluates_and_exports(qtbot, window, training, tmp_path):
    training.epochs_override = 2
    training.actions["train"].trigger()
    assert training.lock.locked and not window.palette.isEnabled() and not window.inspector.isEnabled()
    assert not training.settings_panel.isEnabled() and not training.actions["train"].isEnabled()
    delete = next(a for a in window.findChildren(type(training.actions["train"])) if a.text() == "De&lete")
    assert not delete.isEnabled()
    assert training.lock.banner.isVisible() and "graph locked" in training.lock.banner.text()
    before = to_dict(window.doc)
    window.editor.set_param("fc1", "out_features", 7)  # even an edit that bypasses the widgets is refused
    assert to_dict(window.doc) == before
    assert "locked while it trains" in window.statusBar().currentMessage()

    qtbot.waitUntil(lambda: not training.running, timeout=WORKER_MS)
    record = training.record
    assert record.state == "finished", record.message
    assert not training.lock.locked and window.palette.isEnabled() and delete.isEnabled()
    assert set(training.badges.badges) == {"fc1", "fc2"}  # the last gradient norms stay on the nodes

    training.live.redraw()
    curves = training.live.curves
    assert len(curves["loss"].xData) == len(record.steps) > 0
    assert list(curves["val_loss"].xData) == [23.0, 46.0]  # epoch ends: 1437 samples / batch 64 = 23 steps
    assert len(curves["grad_norm"].yData) == len(record.steps)
    parameterised = [n for n, s in window.doc.nodes.items() if s.type_id == "Linear"]
    assert training.live.heatmap.rows == len(parameterised) == 2
    assert record.layer_ids == parameterised
    assert training.live.progress.value() == record.total_steps == 46
    assert (record.run_dir / "metrics.csv").read_text().count("\n") == 3  # header + 2 epochs
    assert (record.run_dir / "events.jsonl").is_file()

    results = training.results
    qtbot.waitUntil(lambda: results.evaluation is not None or "failed" in results.summary.text(), timeout=WORKER_MS)
    assert results.evaluation is not None, results.summary.text()
    confusion = training.results.evaluation["confusion"]
    assert len(confusion) == 10 and sum(map(sum, confusion)) == 360
    assert training.results.matrix.rowCount() == 10
    assert training.results.image.pixmap() is not None and not training.results.image.pixmap().isNull()
    assert "true:" in training.results.prediction.text()

    training.export()
    dialog = training.export_dialog
    assert dialog.chosen() == (record.run_dir, str(record.run_dir / "best.safetensors"))
    dialog.onnx_path.setText(str(tmp_path / "export" / "digits.onnx"))
    dialog.export()
    qtbot.waitUntil(lambda: dialog.result is not None, timeout=WORKER_MS)
    assert dialog.result.get("passed") is True, dialog.result
    assert (tmp_path / "export" / "digits.onnx").is_file()
    assert "ONNX parity passed" in dialog.report.text()
    dialog.close()


def test_settings_panel_edits_are_undoable_and_a_nan_run_names_the_step(qtbot, window, training):
    panel = training.settings_panel
    panel.widgets["optimizer.name"].setCurrentText("sgd")
    panel.widgets["optimizer.lr"].setValue(1e6)
    assert window.doc.training["optimizer"] == {"name": "sgd", "lr": 1e6}
    window.editor.stack.undo()
    assert window.doc.training["optimizer"] == {"name": "sgd", "lr": 0.003}
    assert panel.widgets["optimizer.lr"].value() == pytest.approx(0.003)  # the form follows the document
    window.editor.stack.redo()
    assert panel.widgets["optimizer.lr"].value() == 1e6

    training.epochs_override = 2
    training.actions["train"].trigger()
    qtbot.waitUntil(lambda: not training.running, timeout=WORKER_MS)
    record = training.record
    assert (record.state, record.reason) == ("failed", "nan")
    assert "at step" in record.message and "learning rate" in record.message
    assert "step" in training.live.status.text() and "NaN" in training.live.status.text()
    assert not training.lock.locked
    assert panel.device_note.text().startswith(("CPU only", "GPU:"))



def test_dataset_preview_shows_the_input_shape_and_sample_thumbnails(qtbot, window, training):
    panel = training.settings_panel
    button = next(b for b in panel.findChildren(QPushButton) if b.text() == "Preview dataset")
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(panel.samples.entries) == 6, timeout=WORKER_MS)
    assert "Input node shape:</b> (N, 1, 8, 8) float32" in panel.preview.text()
    for entry in panel.samples.entries:  # digits are images: a picture captioned with its class
        picture, caption = entry.findChildren(QLabel)
        assert not picture.pixmap().isNull() and caption.text() in [str(d) for d in range(10)]
    panel.dataset.setCurrentIndex(panel.dataset.findData("wine"))  # tabular: a line of values per sample
    assert window.doc.training["dataset"]["name"] == "wine"
    assert "13 chemical measurements" in panel.dataset.itemData(panel.dataset.currentIndex(),
                                                                Qt.ItemDataRole.ToolTipRole)
    qtbot.waitUntil(lambda: "wine:" in panel.preview.text() and len(panel.samples.entries) == 6, timeout=WORKER_MS)
    assert all(isinstance(e, QLabel) and "→ class_" in e.text() for e in panel.samples.entries)

def test_stop_mid_run_shows_badges_and_a_clean_stopped_status(qtbot, window, training):
    training.epochs_override = 5000
    training.actions["train"].trigger()
    wait_for_steps(qtbot, training, 8)
    qtbot.waitUntil(lambda: "fc1" in training.badges.badges, timeout=5000)
    assert training.badges.text("fc1").startswith("grad ")
    assert training.badges.badges["fc1"].parentItem() is window.scene.items_by_id["fc1"]

    worst, norm = training.live.worst_layer()
    assert norm == max(training.record.latest_layer_norms().values())
    window.scene.clearSelection()
    training.live.worst.click()
    assert window.scene.selected_node_ids() == [worst]
    window.scene.clearSelection()  # app/ bug: a window destroyed with a selection calls into its deleted scene

    training.actions["pause"].trigger()
    qtbot.waitUntil(lambda: training.paused, timeout=10_000)
    assert training.actions["resume"].isEnabled() and not training.actions["pause"].isEnabled()
    step, eta = training.record.step, training.record.eta_seconds()
    assert training.live.status.text() == f"<b>Paused at step {step}</b> — Resume (F7) or Stop (Shift+F5)."
    qtbot.wait(300)
    training.live.redraw()
    assert training.record.eta_seconds() == eta and "(frozen)" in training.live.progress.format()
    assert training.live.status.text().startswith(f"<b>Paused at step {step}")  # redraws keep saying so
    training.actions["resume"].trigger()
    qtbot.waitUntil(lambda: not training.paused, timeout=10_000)

    window.resize(1500, 950)
    training.live_dock.raise_()
    window.resizeDocks([training.live_dock], [420], Qt.Orientation.Vertical)
    qtbot.wait(300)  # a few steps more, drawn at the new size
    training.live.redraw()
    OUTPUT.mkdir(exist_ok=True)
    assert window.grab().save(str(OUTPUT / "training.png"))

    training.actions["stop"].trigger()
    qtbot.waitUntil(lambda: not training.running, timeout=30_000)
    assert training.record.state == "stopped" and training.record.reason == "request"
    assert training.live.status.text().startswith("Run ") and "stopped" in training.live.status.text()
    assert not training.lock.locked
    assert training.badges.text("fc1").startswith("grad ")  # the last norms stay on the canvas …
    assert training.record.epochs and len(training.record.epochs) < 5000
    qtbot.waitUntil(lambda: training.client.owner is None, timeout=10_000)
    assert training.actions["train"].isEnabled()
    assert training.actions["resume"].isEnabled()  # "resume the run to continue from here" is possible
    window.editor.set_param("fc1", "out_features", 48)
    assert training.badges.badges == {}  # … until the graph is edited



def test_a_window_closed_mid_run_leaves_the_worker_free_for_the_next_window(qtbot, window, training):
    from app.main_window import MainWindow

    closing = MainWindow(theme_name="dark")
    closing.show()
    assert closing.files.new_from_template(EXAMPLES / "digits_mlp.json")
    closing.training.epochs_override = 30  # long enough that the pause surely lands mid-run
    closing.training.actions["train"].trigger()
    wait_for_steps(qtbot, closing.training, 2)
    client = closing.training.client
    client.send(cmd="pause")  # hold the run so the window is surely gone before it ends
    qtbot.waitUntil(lambda: closing.training.paused, timeout=10_000)
    closing.editor.stack.setClean()
    with qtbot.waitSignal(closing.destroyed, timeout=10_000):
        closing.close()
        closing.deleteLater()
    assert client.owner is not None  # still reserved for the controller that just died
    client.send(cmd="resume")
    qtbot.waitUntil(lambda: client.owner is None, timeout=WORKER_MS)

    training.epochs_override = 1  # the next window trains at once
    assert training.actions["train"].isEnabled()  # the other window saw the worker released
    training.actions["train"].trigger()
    qtbot.waitUntil(lambda: training.record is not None and not training.running, timeout=WORKER_MS)
    assert training.record.state == "finished", training.record.message

def test_killing_the_worker_is_reported_and_the_editor_stays_usable(qtbot, window, training, dialogs):
    training.epochs_override = 5000
    training.actions["train"].trigger()
    wait_for_steps(qtbot, training, 3)
    old_pid = training.client.pid
    os.kill(old_pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: not training.running, timeout=30_000)
    assert training.record.state == "failed" and "worker" in training.record.message
    assert [title for title, _ in dialogs.shown] == ["Training worker stopped"]
    assert "killed or crashed" in dialogs.shown[0][1]
    assert not training.lock.locked

    before = len(window.doc.nodes)
    node_id = window.editor.add_node("ReLU", QPointF(0, 400))
    assert len(window.doc.nodes) == before + 1 and node_id in window.scene.items_by_id

    started = time.monotonic()
    qtbot.waitUntil(lambda: training.client.is_ready, timeout=WORKER_MS)
    assert training.client.pid != old_pid and time.monotonic() - started < WORKER_MS / 1000
    assert training.actions["train"].isEnabled()
