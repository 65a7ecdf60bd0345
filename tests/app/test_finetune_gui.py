"""Fine-tuning on the canvas: freeze / unfreeze and a learning-rate factor from the node's menu and the
inspector, drawn on the node, undoable, following renames and deletions."""

from pathlib import Path

from gestures import node_point
from PySide6.QtWidgets import QInputDialog
from test_canvas_editing import menu_texts, trigger

from app.canvas_menu import canvas_menu

EXAMPLES = Path(__file__).resolve().parents[2] / "resources" / "examples"


def open_cnn(window):
    assert window.files.new_from_template(EXAMPLES / "digits_cnn.json")


def test_freeze_from_the_menu_is_drawn_undoable_and_follows_rename_and_delete(window):
    open_cnn(window)
    trigger(canvas_menu(window.view, node_point(window, "conv1")), "Freeze")
    assert window.doc.training["frozen"] == ["conv1"]
    item = window.scene.items_by_id["conv1"]
    assert item.frozen and item.tuning_text == "frozen"
    assert "Unfreeze" in menu_texts(canvas_menu(window.view, node_point(window, "conv1")))
    assert window.inspector.tuning.frozen.isChecked()  # the menu selected conv1; the inspector shows it

    window.editor.rename_node("conv1", "stem")
    assert window.doc.training["frozen"] == ["stem"] and window.scene.items_by_id["stem"].frozen
    window.scene.select_nodes(["stem"])
    window.editor.delete_selection()
    assert window.doc.training["frozen"] == []
    window.editor.stack.undo()  # the deletion, and with it the setting
    assert window.doc.training["frozen"] == ["stem"] and window.scene.items_by_id["stem"].frozen
    window.editor.stack.undo()  # the rename
    window.editor.stack.undo()  # the freeze
    assert window.doc.training["frozen"] == [] and not window.scene.items_by_id["conv1"].frozen


def test_learning_rate_factor_from_the_menu_and_the_inspector(window, monkeypatch):
    open_cnn(window)
    monkeypatch.setattr(QInputDialog, "getDouble", lambda *args, **kwargs: (0.1, True))
    trigger(canvas_menu(window.view, node_point(window, "conv2")), "Learning rate factor")
    assert window.doc.training["lr_scale"] == {"conv2": 0.1}
    assert window.scene.items_by_id["conv2"].tuning_text == "lr ×0.1"
    window.scene.select_nodes(["fc1"])
    rows = window.inspector.tuning
    assert rows.isVisibleTo(window.inspector) and rows.scale.value() == 1.0
    rows.scale.setValue(2.0)
    assert window.doc.training["lr_scale"] == {"conv2": 0.1, "fc1": 2.0}
    rows.frozen.setChecked(True)
    assert window.doc.training["frozen"] == ["fc1"] and not rows.scale.isEnabled()
    window.scene.select_nodes(["relu1"])  # a function holds no weights: nothing to freeze
    assert not rows.isVisibleTo(window.inspector)
