"""Runs belong to their graph: the Runs dock, switching graphs, resume/continue, moving an unsaved
graph's runs, renaming and deleting — against the real worker (digits MLP, CPU)."""

from __future__ import annotations

import json
import shutil

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QInputDialog, QMessageBox
from safetensors.torch import load_file

from app.templates import EXAMPLES
from engine import runs as run_store
from engine.cli import main as cli
from engine.train.checkpoint_files import read_metadata
from engine.train.events import read_events

WORKER_MS = 90_000
Yes = QMessageBox.StandardButton.Yes
pytestmark = pytest.mark.slow


@pytest.fixture
def training(window):
    assert window.files.new_from_template(EXAMPLES / "digits_mlp.json")
    return window.training


def train_once(qtbot, training, epochs: int = 1):
    training.epochs_override = epochs
    training.actions["train"].trigger()
    qtbot.waitUntil(lambda: training.record is not None and not training.running, timeout=WORKER_MS)
    qtbot.waitUntil(lambda: training.client.owner is None, timeout=WORKER_MS)
    assert training.record.state == "finished", training.record.message
    return training.record


def test_switching_graphs_clears_every_run_view(qtbot, window, training):
    first, second = train_once(qtbot, training), train_once(qtbot, training)
    panel = training.runs_panel
    assert [r.path for r in panel.runs] == [first.run_dir, second.run_dir]
    assert panel.current() == second.run_dir and training.live.record is second
    assert all(str(training.store) in str(r.run_dir) for r in (first, second))
    qtbot.waitUntil(lambda: training.results.evaluation is not None, timeout=WORKER_MS)
    panel.tree.topLevelItem(0).setCheckState(0, Qt.CheckState.Checked)  # overlay the first run
    assert [c.name() for c in training.live.overlay_curves] == [first.name]
    assert len(training.live.overlay_curves[0].xData) == len(first.steps)
    panel.select(first.run_dir)  # selecting a run shows it, its results and its artifacts
    assert training.record.run_dir == first.run_dir and training.live.record.steps == first.steps
    assert "finished" in panel.details.text() and "best checkpoint (epoch 1)" in panel.details.text()
    assert "metrics.csv" in panel.details.text() and "tensorboard" in panel.details.text()
    training.export()
    sources = [training.export_dialog.source.itemText(i) for i in range(training.export_dialog.source.count())]
    assert len(sources) == 5 and sources[-1].startswith("Untrained")  # 2 runs × best/last, untrained
    assert training.export_dialog.chosen()[0] == first.run_dir

    assert window.files.new_from_template(EXAMPLES / "sequence_lstm.json")  # another graph
    assert panel.runs == [] and panel.tree.topLevelItemCount() == 0 and "No runs yet" in panel.place.text()
    assert training.record is None and training.live.record is None and training.live.overlay_curves == []
    assert training.live.curves["loss"].yData is None or len(training.live.curves["loss"].yData) == 0
    assert training.results.evaluation is None and training.results.matrix.rowCount() == 0
    assert training.badges.badges == {} and training.export_dialog is None
    training.export()
    assert training.export_dialog.source.count() == 1  # only "Untrained": no run of the MLP is offered
    assert "Untrained" in training.export_dialog.warning.text()
    training.export_dialog.close()


def test_an_unsaved_graphs_runs_move_beside_it_when_saved(qtbot, window, training, dialogs, tmp_path):
    record = train_once(qtbot, training)
    assert record.run_dir.is_relative_to(tmp_path / "data" / "unsaved")
    (tmp_path / "project").mkdir()
    assert window.files.save_as(tmp_path / "project" / "digits.json")  # the runs follow, without a question
    store = tmp_path / "project" / "digits.runs"
    (moved,) = run_store.list_runs(store)
    assert moved.name == record.run_dir.name and not record.run_dir.exists()
    assert training.runs_panel.store == store and training.runs_panel.current() == moved.path
    assert training.record.run_dir == moved.path  # the run on screen followed it
    assert json.loads((moved.path / "summary.json").read_text())["run_dir"] == str(moved.path)

    assert window.files.new_from_template(EXAMPLES / "digits_cnn.json")
    assert training.runs_panel.runs == []
    assert window.files.open(tmp_path / "project" / "digits.json")
    assert [r.path for r in training.runs_panel.runs] == [moved.path]  # found again beside the file
    again = train_once(qtbot, training)
    assert again.run_dir.parent == store and again.run_dir.name.startswith("digits-")


def test_resume_from_the_app_continues_like_the_cli_and_continue_adds_epochs(qtbot, window, training, tmp_path):
    window.doc.set_training("num_threads", 1)  # the same arithmetic in the worker and in this process
    assert window.files.save_as(tmp_path / "digits.json")
    training.epochs_override = 40  # 920 steps: the stop surely lands mid-run, even on a loaded machine
    training.actions["train"].trigger()
    qtbot.waitUntil(lambda: training.record is not None and training.record.step >= 30, timeout=WORKER_MS)
    training.actions["stop"].trigger()
    qtbot.waitUntil(lambda: not training.running and training.client.owner is None, timeout=WORKER_MS)
    record = training.record
    assert record.state == "stopped" and "resume" in record.message
    stopped_at = json.loads(read_metadata(record.run_dir / "last.safetensors")["meta"])["step"]
    cli_copy = tmp_path / "cli-copy"
    shutil.copytree(record.run_dir, cli_copy)

    assert training.actions["resume"].isEnabled()
    training.actions["resume"].trigger()  # F7 on a stopped run resumes it, in its own folder
    qtbot.waitUntil(lambda: not training.running and training.client.owner is None, timeout=WORKER_MS)
    assert training.record.state == "finished" and training.record.run_dir == record.run_dir
    started = [e for e in read_events(record.run_dir / "events.jsonl") if e["type"] == "started"]
    assert [e["resumed_step"] for e in started] == [0, stopped_at]
    assert training.record.steps[0] == record.steps[0] and training.record.step == 920  # curves continue
    info = run_store.read_run(record.run_dir)
    assert (info.state, info.epochs, info.step) == ("finished", 40, 920)

    assert cli(["train", str(cli_copy / "graph.json"), "--out", str(cli_copy), "--resume", "--epochs", "40"]) == 0
    app_weights, cli_weights = (load_file(str(d / "last.safetensors")) for d in (record.run_dir, cli_copy))
    assert app_weights.keys() == cli_weights.keys()
    for key, tensor in app_weights.items():
        assert tensor.equal(cli_weights[key]), key

    panel = training.runs_panel
    panel.select(record.run_dir)
    assert not panel.resume_button.isEnabled() and panel.continue_button.isEnabled()  # finished: only extend
    panel.more.setValue(2)
    panel.continue_button.click()
    qtbot.waitUntil(lambda: not training.running and training.client.owner is None, timeout=WORKER_MS)
    info = run_store.read_run(record.run_dir)
    assert (info.state, info.epochs, info.total_epochs, info.step) == ("finished", 42, 42, 966)
    assert json.loads((record.run_dir / "config.json").read_text())["epochs"] == 42
    assert len(run_store.list_runs(tmp_path / "digits.runs")) == 1  # the same run, not a new one


def test_runs_are_renamed_and_deleted_from_the_list(qtbot, window, training, dialogs, monkeypatch):
    record = train_once(qtbot, training)
    panel = training.runs_panel
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("baseline", True))
    panel.rename_button.click()
    assert panel.tree.topLevelItem(0).text(0) == "baseline" and run_store.read_run(record.run_dir).label == "baseline"
    dialogs.answers = [QMessageBox.StandardButton.No]
    panel.delete_button.click()
    assert record.run_dir.exists()
    dialogs.answers = [Yes]
    panel.delete_button.click()
    assert not record.run_dir.exists() and panel.tree.topLevelItemCount() == 0
    assert "Delete baseline" in dialogs.shown[-1][1]


def test_a_graph_is_named_in_the_app_and_its_runs_take_the_name(qtbot, window, training, monkeypatch):
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("Iris sketch", True))
    action = next(a for a in window.findChildren(type(training.actions["train"])) if a.text() == "Graph &name…")
    action.trigger()
    assert window.doc.name == "Iris sketch" and "Iris sketch" in window.windowTitle()
    record = train_once(qtbot, training)
    assert record.run_dir.name.startswith("Iris-sketch-")
    window.editor.stack.undo()
    assert window.doc.name == "Digits MLP"


def test_a_graph_opened_by_a_relative_path_trains_into_its_own_store(qtbot, window, training, tmp_path,
                                                                     monkeypatch):
    project = tmp_path / "project"
    project.mkdir()
    rows = ["a,b,label"] + [f"{i % 7},{(i * 3) % 5},{'hi' if i % 2 else 'lo'}" for i in range(60)]
    (project / "table.csv").write_text("\n".join(rows) + "\n")
    graph = json.loads((EXAMPLES / "digits_mlp.json").read_text())
    graph["nodes"] = [n for n in graph["nodes"] if n["id"] != "flatten1"]
    for node in graph["nodes"]:
        if node["id"] == "input1":
            node["params"]["shape"] = [2]
        if node["id"] == "fc2":
            node["params"]["out_features"] = 2
    graph["edges"] = [e for e in graph["edges"] if "flatten1" not in e["from"] + e["to"]] + \
        [{"from": "input1.out", "to": "fc1.in"}]
    graph["training"]["dataset"] = {"name": "csv", "path": "table.csv"}  # relative to the graph
    (project / "table_mlp.json").write_text(json.dumps(graph))
    monkeypatch.chdir(project)
    assert window.files.open("table_mlp.json")
    assert window.scene.validate_now().ok
    record = train_once(qtbot, training)
    assert record.run_dir.parent == project / "table_mlp.runs"
    assert (record.run_dir / "last.safetensors").is_file()
    assert json.loads((record.run_dir / "run.json").read_text())["graph_path"] == str(project / "table_mlp.json")


def test_the_run_in_progress_reads_as_training_not_as_killed(qtbot, window, training):
    training.epochs_override = 500
    training.actions["train"].trigger()
    qtbot.waitUntil(lambda: training.record is not None and len(training.record.steps) > 0, timeout=WORKER_MS)
    panel = training.runs_panel
    assert panel.current() == training.record.run_dir
    assert "training now" in panel.details.text() and "killed" not in panel.details.text()
    training.actions["stop"].trigger()
    qtbot.waitUntil(lambda: not training.running and training.client.owner is None, timeout=WORKER_MS)
    assert "<b>stopped</b>" in panel.details.text()


def _row_state(panel, run_dir) -> str:
    return next(panel.tree.topLevelItem(i).text(2) for i in range(panel.tree.topLevelItemCount())
                if panel.tree.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole) == str(run_dir))


def test_a_paused_run_is_listed_as_paused_and_as_running_again_once_resumed(qtbot, window, training):
    training.epochs_override = 500
    training.actions["train"].trigger()
    qtbot.waitUntil(lambda: training.record is not None and len(training.record.steps) > 0, timeout=WORKER_MS)
    record, panel = training.record, training.runs_panel

    def status_seen(state: str):
        return lambda: any(e["type"] == "status" and e["state"] == state for e in record.events)

    try:
        training.actions["pause"].trigger()
        qtbot.waitUntil(status_seen("paused"), timeout=WORKER_MS)  # the trainer held still and said so
        assert _row_state(panel, record.run_dir) == "paused"
        assert "<b>paused</b>" in panel.details.text() and "training now" not in panel.details.text()
        assert record.paused and "Paused at step" in training.live.status.text()

        training.actions["resume"].trigger()
        qtbot.waitUntil(status_seen("resumed"), timeout=WORKER_MS)
        assert _row_state(panel, record.run_dir) == "running" and not record.paused
    finally:
        training.actions["resume"].trigger()  # a no-op unless the test failed while the run was paused
        training.actions["stop"].trigger()
        qtbot.waitUntil(lambda: not training.running and training.client.owner is None, timeout=WORKER_MS)
    assert _row_state(panel, record.run_dir) == "stopped"
