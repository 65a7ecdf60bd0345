"""Switching the dataset leaves out the augmentation the new data cannot take, in the same undoable edit: the
digits CNN's noise switched to text no longer gives "token ids cannot be augmented" (issue 22)."""

from __future__ import annotations

from app.templates import EXAMPLES


def _choose(panel, name: str) -> None:
    panel.dataset.setCurrentIndex(panel.dataset.findData(name))


def test_a_switch_drops_what_the_new_data_cannot_take_in_one_undo_step(window):
    assert window.files.new_from_template(EXAMPLES / "digits_cnn.json")
    window.doc.training["dataset"]["augment"] = {"flip": True, "crop": 2, "noise": 0.05}
    panel, stack, messages = window.training.settings_panel, window.editor.stack, []
    window.editor.message.connect(messages.append)
    before = stack.index()
    _choose(panel, "text")
    assert window.doc.training["dataset"] == {"name": "text", "val_split": 0.2}
    assert messages[-1] == "Augmentation flip, crop, noise left out: text samples cannot take it."
    assert stack.index() == before + 1
    stack.undo()
    assert window.doc.training["dataset"]["augment"] == {"flip": True, "crop": 2, "noise": 0.05}
    _choose(panel, "breast_cancer")  # a table of features: noise is kept, flip and crop are not
    assert window.doc.training["dataset"] == {"name": "breast_cancer", "val_split": 0.2, "augment": {"noise": 0.05}}
    _choose(panel, "cifar10")  # images take everything the table kept
    assert window.doc.training["dataset"]["augment"] == {"noise": 0.05}
