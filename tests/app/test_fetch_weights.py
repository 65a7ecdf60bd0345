"""File → Fetch published weights…: the ResNet-18 template fetches torchvision's weights (a fake torchvision:
tests/fake_zoo.py, nothing downloads) with a progress dialog, shows the report, and on Yes starts its runs from
them — one undoable edit; Cancel during the download changes nothing."""

from pathlib import Path

import fake_zoo
import pytest
import torch
from fake_zoo import SOURCE, fake_torchvision, published_state
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QInputDialog, QMessageBox, QPushButton

from app.training.download_dialog import DownloadDialog
from engine.export.weights import read_weights

TEMPLATE = Path(__file__).resolve().parents[2] / "resources" / "examples" / "finetune_resnet18.json"


@pytest.fixture
def zoo(tmp_path):
    with fake_torchvision(tmp_path / "site"):
        yield


def trigger(window, asked: list, monkeypatch, typed: str | None = None) -> None:
    """Choose File → Fetch published weights… and accept the source the dialog offers (or type `typed`)."""
    def get_text(parent, title, label, mode, text):
        asked.append(text)
        return (typed or text), True

    monkeypatch.setattr(QInputDialog, "getText", get_text)
    file_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&File")
    next(a for a in file_menu.actions() if a.text() == "&Fetch published weights…").trigger()


def spy_progress(monkeypatch, on_event=None) -> list[dict]:
    seen = []
    original = DownloadDialog.show_progress

    def show_progress(dialog, event):
        seen.append((dialog.windowTitle(), event))
        original(dialog, event)
        if on_event:
            on_event(dialog)

    monkeypatch.setattr(DownloadDialog, "show_progress", show_progress)
    return seen


def test_fetching_shows_progress_and_the_report_then_sets_the_weights_undoably(window, dialogs, zoo, monkeypatch):
    assert window.files.new_from_template(TEMPLATE)
    seen = spy_progress(monkeypatch)
    dialogs.answers.append(QMessageBox.StandardButton.Yes)
    asked = []
    trigger(window, asked, monkeypatch)
    assert asked == [SOURCE]  # the template names the weights it is made for
    title, event = seen[-1]
    assert title == f"Downloading {SOURCE}" and event["done"] == event["total"] > 40e6

    title, text = dialogs.shown[-1]
    published = published_state()
    assert title == "Fetch published weights"
    assert f"{len(published) - 2} tensors matched" in text and "wrong shape: fc.weight is [1000, 512]" in text
    training = window.doc.training
    assert training["pretrained"] == SOURCE
    written = read_weights(training["init_weights"])
    assert torch.equal(written["conv1.weight"], published["conv1.weight"]) and "fc.weight" not in written
    assert "Fresh runs start from" in window.statusBar().currentMessage()
    window.editor.stack.undo()  # one step takes both settings back
    assert window.doc.training.get("init_weights", "") == "" and window.doc.training["pretrained"] == SOURCE
    assert not window.editor.stack.canUndo()


def test_cancel_during_the_download_changes_nothing(window, dialogs, zoo, monkeypatch, qtbot):
    assert window.files.new_from_template(TEMPLATE)
    monkeypatch.setattr(fake_zoo, "CHUNK_SECONDS", 0.3)
    monkeypatch.setattr(fake_zoo, "SENT", [])

    def press_cancel(dialog):
        button = dialog.findChild(QPushButton)
        if button is not None and button.isVisible():
            qtbot.mouseClick(button, Qt.MouseButton.LeftButton)

    seen = spy_progress(monkeypatch, press_cancel)
    trigger(window, [], monkeypatch, typed="torchvision:resnet18")
    assert len(seen) == 1 and len(fake_zoo.SENT) < fake_zoo.CHUNKS  # the download stopped part way
    assert "cancelled" in window.statusBar().currentMessage()
    assert "init_weights" not in window.doc.training and not window.editor.stack.canUndo()
    assert not dialogs.shown  # no report, no error


def test_a_missing_library_names_the_extra(window, dialogs, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "timm", None)
    trigger(window, [], monkeypatch, typed="timm:resnet18.a1_in1k")
    title, text = dialogs.shown[-1]
    assert title == "Cannot fetch published weights" and "pip install 'layerloom[models]'" in text
    assert not window.editor.stack.canUndo()
