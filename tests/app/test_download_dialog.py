"""A benchmark set's first download in the app: the worker's `download` events (engine/train/download_events.py,
tested against a local publisher in tests/engine/test_download_progress.py) open a progress dialog that
names the file and its bytes of the total, advances, closes when the run starts, and whose Cancel stops
the run. The worker here is a stand-in: the test feeds the controller the worker's messages."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton

from app.templates import EXAMPLES
from app.training.client import TrainingClient
from app.training.download_dialog import STEPS
from engine.train import events


@pytest.fixture
def sent(monkeypatch) -> list[dict]:
    """The commands the app sends the worker; no worker process is started."""
    commands: list[dict] = []
    monkeypatch.setattr(TrainingClient, "start", lambda self: None)
    monkeypatch.setattr(TrainingClient, "send", lambda self, **command: commands.append(command))
    return commands


def started_run(window, sent: list[dict]):
    training = window.training
    assert window.files.new_from_template(EXAMPLES / "mnist_cnn.json")  # its set is downloaded on first use
    training.train()
    assert run_commands(sent) == ["train"] and training.running, window.statusBar().currentMessage()
    training.client.message.emit(events.status("started", message="training"))
    return training


def run_commands(sent: list[dict]) -> list[str]:
    """The commands that start or stop runs (a shared worker that is already up is also asked for previews)."""
    return [c["cmd"] for c in sent if c["cmd"] in ("train", "stop")]


def emit(training, event: dict) -> None:
    training.client.message.emit(event)


def test_the_dialog_shows_the_file_and_its_bytes_advances_and_closes_when_the_run_starts(sent, qtbot, window):
    training = started_run(window, sent)
    assert training.download is None
    emit(training, events.download("train-images-idx3-ubyte.gz", 0, 2_000_000))
    dialog = training.download
    assert dialog is not None and dialog.isVisible() and dialog.value() == 0
    assert "Downloading train-images-idx3-ubyte.gz: 0.0 MB of 2.0 MB (0 %)" in dialog.labelText()
    emit(training, events.download("train-images-idx3-ubyte.gz", 500_000, 2_000_000))
    assert dialog.value() == STEPS // 4 and "0.5 MB of 2.0 MB (25 %)" in dialog.labelText()
    emit(training, events.download("train-labels-idx1-ubyte.gz", 0, None))  # no length sent: a busy bar
    assert training.download is dialog and dialog.maximum() == 0
    assert "Downloading train-labels-idx1-ubyte.gz: 0.0 MB\n" in dialog.labelText()

    emit(training, events.started({"epochs": 1}, "mnist", 10, "cpu", 1, 0, 3))
    assert training.download is None and not dialog.isVisible()
    assert run_commands(sent) == ["train"]  # closing the dialog did not stop the run
    emit(training, events.status("finished", message="done"))
    emit(training, {"type": "run_end", "cmd": "train", "result": {}})
    assert not training.running and training.client.owner is None


def test_cancel_stops_the_run_and_the_dialog_closes_when_it_has_stopped(sent, qtbot, window):
    training = started_run(window, sent)
    emit(training, events.download("cifar-10-binary.tar.gz", 0, 170_000_000))
    dialog = training.download
    qtbot.mouseClick(dialog.findChild(QPushButton), Qt.MouseButton.LeftButton)
    assert run_commands(sent) == ["train", "stop"]
    emit(training, events.download("cifar-10-binary.tar.gz", 65_536, 170_000_000))  # already on its way
    assert not dialog.isVisible()
    emit(training, events.status("stopped", "request", "stopped while downloading cifar-10-binary.tar.gz — "
                                                       "nothing of it was kept"))
    assert training.download is None and training.record.state == "stopped" and not training.lock.locked
    emit(training, {"type": "run_end", "cmd": "train", "result": {}})
    assert training.client.owner is None
