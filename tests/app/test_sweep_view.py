"""Training ▸ Sweep…: a sweep started from the app runs as `layerloom sweep`, its view shows the trials, the
parallel coordinates and the metric per parameter, and the best trial applies to the graph in one undo step."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.training import install_training
from engine.experiments.sweep import read_trials, sweeps_folder
from engine.fileformat import load_document, save_document

OUTPUT = Path(__file__).resolve().parents[1] / "output"
MLP = Path(__file__).resolve().parents[2] / "resources" / "examples" / "digits_mlp.json"
PROCESS_MS = 180_000  # the sweep's process imports torch and trains three short runs on a busy machine
pytestmark = pytest.mark.slow


@pytest.fixture
def experiments(window, tmp_path):
    controller = getattr(window, "training", None) or install_training(window)
    graph = tmp_path / "mlp.json"
    save_document(load_document(MLP), graph)
    assert window.files.open(graph)
    return controller.experiments


def test_an_unsaved_graph_is_asked_to_be_saved_first(window, experiments):
    window.editor.set_param("fc1", "out_features", 64)
    experiments.sweep()
    assert experiments.sweep_dialog is None
    assert "Save the graph first" in window.statusBar().currentMessage()


def test_a_sweep_from_the_app_is_shown_and_its_best_trial_applies_in_one_undo_step(qtbot, window, experiments):
    experiments.sweep()
    dialog = experiments.sweep_dialog
    assert dialog.isVisible() and "nodes.fc1.out_features=int:16:256" in dialog.params.toPlainText()
    dialog.params.setPlainText("training.optimizer.lr=log:1e-3:1e-1\nnodes.nope.out_features=int:8:16")
    dialog.start_button.click()
    assert "Cannot start" in dialog.status.text() and "no node 'nope'" in dialog.status.text()
    dialog.params.setPlainText("training.optimizer.lr=log:1e-3:1e-1\nnodes.fc1.out_features=choice:16,48")
    dialog.trials.setValue(3)
    dialog.epochs.setValue(1)
    dialog.sampler.setCurrentText("random")
    dialog.name.setText("ui")
    dialog.start_button.click()
    assert dialog.process is not None and not dialog.start_button.isEnabled()
    qtbot.waitUntil(lambda: dialog.process is None, timeout=PROCESS_MS)
    assert dialog.status.text() == "The sweep ended.", dialog.status.text()
    view = dialog.view
    qtbot.waitUntil(lambda: view.data is not None and len(view._rows()) == 3, timeout=5000)
    data = read_trials(sweeps_folder(window.files.path) / "ui")
    assert view.table.rowCount() == 3
    headers = [view.table.horizontalHeaderItem(c).text() for c in range(view.table.columnCount())]
    assert headers[:5] == ["trial", "state", "optimizer.lr", "fc1.out_features", "val_loss"]
    finished = [t for t in data["trials"] if t["state"] == "complete"]
    assert len(view.parallel.listDataItems()) == len(finished) >= 1  # one line per finished trial
    assert [p.titleLabel.text for p in view.scatters] == ["val_loss vs optimizer.lr", "val_loss vs fc1.out_features"]
    assert view.scatters[0].ctrl.logXCheck.isChecked()
    assert f"best: trial {data['best']['number']}" in view.header.text()
    # double-clicking a trial shows its run in the Runs list
    row = next(r for r in range(3) if view.table.item(r, 0).data(Qt.ItemDataRole.DisplayRole) == 0)
    view.table.cellDoubleClicked.emit(row, 0)
    assert window.training.runs_panel.current() == Path(data["trials"][0]["run_dir"])
    OUTPUT.mkdir(exist_ok=True)
    dialog.grab().save(str(OUTPUT / "sweep_view.png"))
    # the best trial onto the graph: one undo step, undone as one
    best = data["best"]["values"]
    depth = window.editor.stack.count()
    view.apply_button.click()
    assert window.editor.stack.count() == depth + 1
    assert window.doc.training["optimizer"]["lr"] == best["training.optimizer.lr"]
    assert window.doc.nodes["fc1"].params["out_features"] == best["nodes.fc1.out_features"]
    window.editor.stack.undo()
    assert window.doc.training["optimizer"]["lr"] == 0.003 and window.doc.nodes["fc1"].params["out_features"] == 128
    dialog.close()
