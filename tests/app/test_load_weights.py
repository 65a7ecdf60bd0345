"""File → Load weights…: the report before anything changes, then one undoable setting."""

from pathlib import Path

import torch
from PySide6.QtWidgets import QFileDialog, QMessageBox
from safetensors.torch import save_file

from engine.compile import compile_graph
from engine.export.weights import read_weights


def choose(monkeypatch, path: Path) -> None:
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args, **kwargs: (str(path), ""))


def trigger(window, text: str = "Load &weights…") -> None:
    file_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&File")
    next(a for a in file_menu.actions() if a.text() == text).trigger()


EXAMPLE = Path(__file__).resolve().parents[2] / "resources" / "examples" / "digits_mlp.json"


def pretrained(window, tmp_path) -> tuple[Path, dict]:
    """The MLP template opened, and weights for it saved with one tensor under another name."""
    assert window.files.new_from_template(EXAMPLE)
    state = {k: torch.randn(v.shape) if v.is_floating_point() else v
             for k, v in compile_graph(window.doc, with_loss=False).module.state_dict().items()}
    renamed = next(iter(state))
    state["renamed." + renamed] = state.pop(renamed)
    path = tmp_path / "pretrained.safetensors"
    save_file(state, path)
    return path, state


def test_loading_weights_reports_then_sets_init_weights_undoably(window, dialogs, tmp_path, monkeypatch):
    path, state = pretrained(window, tmp_path)
    choose(monkeypatch, path)
    dialogs.answers.append(QMessageBox.StandardButton.Yes)
    trigger(window)
    title, text = dialogs.shown[-1]
    renamed = next(key for key in state if key.startswith("renamed."))
    assert title == "Load weights" and f"unused: {renamed}" in text and f"missing: {renamed[8:]}" in text
    target = Path(window.doc.training["init_weights"])
    written = read_weights(target)
    assert renamed[8:] not in written and all(torch.equal(written[k], state[k]) for k in written)
    assert "Fresh runs start from" in window.statusBar().currentMessage()
    window.editor.stack.undo()
    assert window.doc.training.get("init_weights", "") == ""


def test_declining_changes_nothing_and_a_bad_file_says_why(window, dialogs, tmp_path, monkeypatch):
    path, _ = pretrained(window, tmp_path)
    choose(monkeypatch, path)
    dialogs.answers.append(QMessageBox.StandardButton.No)
    trigger(window)
    assert "init_weights" not in window.doc.training and not window.editor.stack.canUndo()
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    choose(monkeypatch, tmp_path / "junk.pth")
    trigger(window)
    title, text = dialogs.shown[-1]
    assert title == "Cannot load weights" and "junk.pth" in text
