"""Training ▸ Find learning rate…: the range test runs in its own process, is plotted on a log axis, and
"Use this rate" is one undoable edit of training.optimizer.lr."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.templates import EXAMPLES
from app.training import install_training
from engine.fileformat import to_dict

PROCESS_MS = 90_000  # a fresh process imports torch on a busy 2-core machine
pytestmark = pytest.mark.slow


@pytest.fixture
def experiments(window):
    controller = getattr(window, "training", None) or install_training(window)
    assert window.files.new_from_template(EXAMPLES / "digits_mlp.json")
    return controller.experiments


def test_find_learning_rate_plots_suggests_and_sets_the_rate_in_one_undo_step(qtbot, window, experiments):
    training = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Training")
    action = next(a for a in training.actions() if a.text() == "Find &learning rate…")
    action.trigger()
    dialog = experiments.dialog
    assert dialog.isVisible() and not dialog.networks.isVisible()  # a GAN's choice only
    dialog.steps.setValue(60)
    graph_before = to_dict(window.doc)
    dialog.start_button.click()
    qtbot.waitUntil(lambda: dialog.use_button.isEnabled(), timeout=PROCESS_MS)
    assert dialog.plot.ctrl.logXCheck.isChecked()  # the learning rate on a log axis
    xs, ys = dialog.smooth_curve.getData()
    assert len(xs) == len(dialog.lrs) > 10 and list(ys) == dialog.smoothed
    assert dialog.marker.isVisible() and 10 ** dialog.marker.value() == pytest.approx(dialog.suggestion)
    assert "Suggested learning rate" in dialog.status.text() and "steepest descent" in dialog.status.text()
    qtbot.waitUntil(lambda: dialog.process is None, timeout=PROCESS_MS)
    assert dialog.scratch is None  # the scratch copy of the graph is gone
    assert to_dict(window.doc) == graph_before  # the test touched nothing
    old_lr = window.doc.training["optimizer"]["lr"]
    depth = window.editor.stack.count()
    dialog.use_button.click()
    assert window.doc.training["optimizer"]["lr"] == pytest.approx(dialog.suggestion, rel=1e-2)
    assert window.editor.stack.count() == depth + 1
    assert f"now: {window.doc.training['optimizer']['lr']}" in dialog.current.text()
    window.editor.stack.undo()
    assert window.doc.training["optimizer"]["lr"] == old_lr
    assert f"now: {old_lr}" in dialog.current.text()
    shot = Path(__file__).resolve().parents[1] / "output" / "lr_find_dialog.png"
    shot.parent.mkdir(exist_ok=True)
    dialog.grab().save(str(shot))
    dialog.close()


def test_a_graph_that_cannot_train_says_why(qtbot, window, experiments):
    window.editor.set_param("input1", "shape", [1, 9, 9])  # the digits are 8×8: the data check refuses it
    experiments.find_lr()
    dialog = experiments.dialog
    dialog.start_button.click()
    qtbot.waitUntil(lambda: dialog.start_button.isEnabled(), timeout=PROCESS_MS)
    assert "Cannot run the test" in dialog.status.text() and "input1" in dialog.status.text()
    assert not dialog.use_button.isEnabled()
    window.editor.stack.setClean()
    assert window.files.new_from_template(EXAMPLES / "digits_cnn.json")  # another graph: the test's window goes
    assert experiments.dialog is None and not dialog.isVisible()
