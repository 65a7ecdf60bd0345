"""Blocks with parameters in the window: an instance's exposed params are inspector rows (each edit one
undo step), and inside a block a param's label offers to expose it on the block."""

import shutil
from pathlib import Path

from gestures import node_point
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QInputDialog, QLabel

RESNET = Path(__file__).resolve().parents[2] / "resources" / "examples" / "digits_resnet.json"


def open_resnet(window, tmp_path):
    path = tmp_path / "resnet.json"
    shutil.copy(RESNET, path)
    assert window.files.open(path)
    window.scene.validate_now()


def test_an_instance_sets_an_exposed_param_in_the_inspector_and_undo_restores_it(window, tmp_path):
    open_resnet(window, tmp_path)
    window.scene.select_nodes(["block2"])
    rows = window.inspector.instance_rows
    assert list(rows.params) == ["channels", "stride", "shortcut"]
    channels = window.inspector.widgets["channels"]
    assert channels.value() == 64 and window.inspector.widgets["shortcut"].currentText() == "Downsample"
    channels.setValue(96)
    assert window.doc.nodes["block2"].params["channels"] == 96
    assert window.scene.validate_now().shapes[("block2", "y")] == (None, 96, 4, 4)
    assert "channels 96" in window.scene.items_by_id["block2"].lines[0]
    window.editor.stack.undo()
    assert window.doc.nodes["block2"].params["channels"] == 64 and channels.value() == 64
    assert window.scene.validate_now().shapes[("block2", "y")] == (None, 64, 4, 4)

    window.scene.select_nodes(["block1"])  # unset: shows the block's default; undo unsets it again
    stride = window.inspector.widgets["stride"]
    assert stride.value() == 1 and "stride" not in window.doc.nodes["block1"].params
    stride.setValue(2)  # halves the map but not the identity shortcut: the Add inside block1 refuses
    assert any(d.node == "block1" and d.path == "block1/add" for d in window.scene.validate_now().errors)
    window.editor.stack.undo()
    assert window.doc.nodes["block1"].params.get("stride") is None and stride.value() == 1
    assert window.scene.validate_now().ok


def test_a_param_inside_a_block_is_exposed_from_its_label_in_one_undo_step(window, tmp_path, monkeypatch):
    open_resnet(window, tmp_path)
    QTest.mouseDClick(window.view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                      node_point(window, "block1"))
    assert window.scene.scope() == "ResNetBasic"
    definition = window.editor.root.block("ResNetBasic")
    window.scene.select_nodes(["conv2"])
    label = window.inspector.form.labelForField(window.inspector.widgets["out_channels"])
    assert isinstance(label, QLabel) and label.text() == "out_channels ⇢ channels"  # already exposed
    label = window.inspector.form.labelForField(window.inspector.widgets["kernel_size"])
    [action] = label.actions()
    assert action.text() == "Expose on the block…"
    monkeypatch.setattr(QInputDialog, "getItem", lambda *args, **kwargs: ("kernel", True))
    action.trigger()
    assert definition.exposed["kernel"] == ["conv2.kernel_size"]
    window.scene.go_up()
    window.scene.select_nodes(["block2"])
    assert "kernel" in window.inspector.instance_rows.params
    window.inspector.widgets["kernel"].setValue(5)
    assert window.scene.validate_now().errors  # 3×3 padding 1 with a 5×5 kernel shrinks the map: Add refuses
    window.editor.stack.undo()
    window.editor.stack.undo()
    assert "kernel" not in definition.exposed and window.scene.validate_now().ok


def test_renaming_a_node_inside_a_block_keeps_its_exposed_params_and_undo_renames_back(window, tmp_path):
    open_resnet(window, tmp_path)
    QTest.mouseDClick(window.view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                      node_point(window, "block1"))
    definition = window.editor.root.block("ResNetBasic")
    assert "conv2.out_channels" in definition.exposed["channels"]
    before = {name: list(targets) for name, targets in definition.exposed.items()}
    window.scene.select_nodes(["conv2"])
    window.inspector.id_field.selectAll()
    QTest.keyClicks(window.inspector.id_field, "conv_b")
    QTest.keyClick(window.inspector.id_field, Qt.Key.Key_Return)
    assert "conv_b" in definition.nodes and "conv2" not in definition.nodes
    assert "conv_b.out_channels" in definition.exposed["channels"]
    assert all("conv2." not in target for targets in definition.exposed.values() for target in targets)
    assert list(definition.exposed) == list(before)  # each exposed param keeps its place
    assert window.scene.validate_now().ok  # every instance still sets its channels through the renamed node
    window.scene.go_up()
    window.scene.select_nodes(["block2"])
    window.inspector.widgets["channels"].setValue(96)
    assert window.scene.validate_now().shapes[("block2", "y")] == (None, 96, 4, 4)
    window.editor.stack.undo()  # the channels edit
    window.editor.stack.undo()  # the rename, with its exposed params, in one step
    assert "conv2" in definition.nodes and definition.exposed == before
    assert window.scene.validate_now().ok
