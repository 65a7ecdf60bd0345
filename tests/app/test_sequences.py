"""Sequences of ordinary actions that once lost a file or left the window half on another graph.

Each test is the shortest sequence that showed the bug (issue 19), driven through the real window
and, where a run is part of it, the real worker (digits MLP/CNN on the CPU, a few steps).
"""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QFileDialog

from app import error_report
from app.templates import EXAMPLES
from engine import runs as run_store
from engine.document import Edge
from engine.fileformat import load_document, to_dict

WORKER_MS = 90_000


def start_run(qtbot, training, steps: int = 3):
    training.epochs_override = 50  # far more than the test waits for: it stops the run itself
    training.actions["train"].trigger()
    qtbot.waitUntil(lambda: training.record is not None and len(training.record.steps) >= steps, timeout=WORKER_MS)


def stop_run(qtbot, training):
    training.actions["stop"].trigger()
    qtbot.waitUntil(lambda: not training.running and training.client.owner is None, timeout=WORKER_MS)


@pytest.mark.slow
def test_train_then_new_from_template_then_save_writes_the_graph_on_screen_to_a_new_file(
        qtbot, window, tmp_path, monkeypatch):
    cnn = tmp_path / "my_cnn.json"
    assert window.files.new_from_template(EXAMPLES / "digits_cnn.json") and window.files.save_as(cnn)
    before = cnn.read_bytes()
    training = window.training
    start_run(qtbot, training)
    stop_run(qtbot, training)
    assert training.badges.badges  # the stopped run's norms sit on the nodes

    assert window.files.new_from_template(EXAMPLES / "digits_gan.json")
    assert window.files.path is None and "my_cnn" not in window.windowTitle()
    assert training.record is None and training.live.record is None and training.runs_panel.runs == []
    assert training.runs_panel.store != run_store.store_for(cnn)
    gan = to_dict(window.doc)
    target = tmp_path / "gan.json"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    assert window.files.save()  # Ctrl+S on the never-saved GAN asks where
    assert cnn.read_bytes() == before  # the CNN's file is untouched
    assert to_dict(load_document(target))["nodes"] == gan["nodes"] and window.files.path == target
    assert "gan.json" in window.windowTitle()
    training.actions["train"].trigger()  # and training the GAN starts a run of the GAN
    qtbot.waitUntil(lambda: training.record is not None and bool(training.record.steps), timeout=WORKER_MS)
    assert training.record.run_dir.parent == run_store.store_for(target)
    stop_run(qtbot, training)


def test_a_listener_that_raises_does_not_stop_the_others_and_reaches_the_error_dialog(
        window, errors_reported):
    seen = []

    def broken(event, **_):
        raise RuntimeError("a broken view")

    window.doc._listeners.insert(0, broken)  # before the scene and every panel
    window.doc.subscribe(lambda event, **_: seen.append(event))
    node_id = window.editor.add_node("Linear", QPointF(0, 0))
    assert seen == ["node_added"] and node_id in window.scene.items_by_id  # the scene still followed
    assert [repr(exc) for _, exc in errors_reported] == ["RuntimeError('a broken view')"]
    dialog = error_report.reporter.dialog
    assert dialog is not None and dialog.isVisible() and "a broken view" in dialog.detailedText()
    assert "a broken view" in error_report.log_path().read_text()
    errors_reported.clear()


def test_an_exception_in_a_slot_reaches_the_dialog_and_the_log(window, errors_reported, monkeypatch):
    error_report.install()
    try:
        raise ValueError("slot failed")
    except ValueError as exc:
        import sys

        sys.excepthook(type(exc), exc, exc.__traceback__)
    assert error_report.reporter.dialog.isVisible()
    assert "slot failed" in error_report.reporter.dialog.detailedText()
    assert "ValueError: slot failed" in error_report.log_path().read_text()
    errors_reported.clear()


def test_a_qt_critical_message_reaches_the_dialog_and_a_warning_the_log(window, errors_reported):
    from PySide6.QtCore import qCritical, qWarning

    error_report.install()
    qWarning("a qt warning")
    assert not errors_reported and "a qt warning" in error_report.log_path().read_text()
    qCritical("a qt critical")
    assert [str(exc) for _, exc in errors_reported] == ["a qt critical"]
    errors_reported.clear()


def test_auto_layout_of_an_empty_graph_does_nothing(qtbot, window):
    window.files.new()
    window.view.auto_layout()
    qtbot.wait(50)
    assert window.doc.nodes == {} and not window.editor.stack.canUndo()


@pytest.mark.slow
def test_import_onnx_is_refused_while_a_run_trains(qtbot, window, tmp_path):
    assert window.files.new_from_template(EXAMPLES / "digits_mlp.json")
    before = to_dict(window.doc)
    start_run(qtbot, window.training)
    action = next(a for a in window.findChildren(type(window.training.actions["train"]))
                  if a.text() == "&Import ONNX…")
    assert not action.isEnabled()
    assert not window.import_onnx(str(tmp_path / "model.onnx"))  # even when called directly
    assert to_dict(window.doc) == before and "stop it" in window.statusBar().currentMessage()
    stop_run(qtbot, window.training)
    assert action.isEnabled()


@pytest.mark.slow
def test_renaming_an_unsaved_graph_keeps_its_runs_listed(qtbot, window):
    training = window.training
    assert window.files.new_from_template(EXAMPLES / "digits_mlp.json")
    start_run(qtbot, training, steps=1)
    stop_run(qtbot, training)
    window.editor.rename_graph("my digits")
    start_run(qtbot, training, steps=1)
    stop_run(qtbot, training)
    assert len(training.runs_panel.runs) == 2 and training.runs_panel.store == training.store
    assert training.record.run_dir.parent == training.store


@pytest.mark.slow
def test_save_as_while_a_run_trains_takes_the_run_along_when_it_ends(qtbot, window, tmp_path):
    training = window.training
    assert window.files.new_from_template(EXAMPLES / "digits_mlp.json")
    start_run(qtbot, training)
    target = tmp_path / "digits.json"
    assert window.files.save_as(target)
    assert window.doc.name == "digits"  # the graph is called after its file now
    stop_run(qtbot, training)
    store = run_store.store_for(target)
    (run,) = run_store.list_runs(store)
    assert [r.path for r in training.runs_panel.runs] == [run.path] and training.record.run_dir == run.path
    assert json.loads((run.path / "summary.json").read_text())["run_dir"] == str(run.path)


def test_undo_of_a_node_dropped_on_a_wire_restores_the_exact_document(window, tmp_path):
    assert window.files.new_from_template(EXAMPLES / "digits_mlp.json")
    window.files.save_as(tmp_path / "mlp.json")
    saved = to_dict(window.doc)
    first = window.doc.edges[0]
    window.editor.insert_on_wire("ReLU", QPointF(0, 0), Edge(*first))
    assert to_dict(window.doc) != saved
    window.editor.stack.undo()
    assert window.editor.stack.isClean() and to_dict(window.doc) == saved


def test_a_failed_save_as_changes_neither_the_path_nor_the_title_nor_the_runs(window, tmp_path, dialogs):
    mlp = tmp_path / "mlp.json"
    assert window.files.new_from_template(EXAMPLES / "digits_mlp.json") and window.files.save_as(mlp)
    title, store = window.windowTitle(), window.training.store
    assert not window.files.save_as(tmp_path / "no such folder" / "other.json")
    assert dialogs.shown[-1][0] == "Cannot save"
    assert window.files.path == mlp and window.windowTitle() == title and window.training.store == store
    assert window.doc.name == "mlp"
    window.editor.set_param("fc1", "out_features", 40)
    assert window.files.save() and load_document(mlp).nodes["fc1"].params["out_features"] == 40


@pytest.mark.slow
def test_deleting_the_run_on_screen_disables_resume(qtbot, window, dialogs):
    training = window.training
    assert window.files.new_from_template(EXAMPLES / "digits_mlp.json")
    start_run(qtbot, training)
    stop_run(qtbot, training)
    assert training.actions["resume"].isEnabled()  # a stopped run can go on
    training.runs_panel.select(training.record.run_dir)
    dialogs.answers = [dialogs_yes()]
    training.runs_panel.delete_selected()
    assert training.record is None and not training.actions["resume"].isEnabled()
    training.actions["resume"].trigger()  # F7 does nothing, and raises nothing
    training._update_actions()


def dialogs_yes():
    from PySide6.QtWidgets import QMessageBox

    return QMessageBox.StandardButton.Yes


@pytest.mark.slow
def test_save_as_of_a_saved_graph_leaves_its_runs_with_the_old_file_and_the_screen(qtbot, window, tmp_path):
    """Found by the state machine: train, Save As a.json, Save As c.json — the run of a.json stayed on screen
    while the Runs dock listed c.json's (no) runs."""
    training = window.training
    assert window.files.new_from_template(EXAMPLES / "digits_mlp.json")
    training.epochs_override = 1
    training.actions["train"].trigger()
    qtbot.waitUntil(lambda: training.record is not None and not training.running
                    and training.client.owner is None, timeout=WORKER_MS)
    assert window.files.save_as(tmp_path / "a.json")
    (run,) = run_store.list_runs(tmp_path / "a.runs")
    assert training.record.run_dir == run.path
    assert window.files.save_as(tmp_path / "c.json")
    assert training.record is None and training.live.record is None and training.runs_panel.runs == []
    assert "stays with the graph it trained" in window.statusBar().currentMessage()
    assert [r.path for r in run_store.list_runs(tmp_path / "a.runs")] == [run.path]


@pytest.mark.slow
def test_stop_pressed_while_a_resumed_run_starts_stops_it(qtbot, window):
    """Found by the state machine: F7 on a stopped run, then Shift+F5 before the worker said "started" — the
    run read back from its file still counted as stopped, so Stop was disabled and the run went on."""
    training = window.training
    assert window.files.new_from_template(EXAMPLES / "digits_mlp.json")
    start_run(qtbot, training)
    stop_run(qtbot, training)
    training.actions["resume"].trigger()
    assert training.running and training.actions["stop"].isEnabled()
    training.actions["stop"].trigger()
    qtbot.waitUntil(lambda: not training.running and training.client.owner is None, timeout=WORKER_MS)
    assert training.record.state == "stopped", (training.record.reason, training.record.message)
