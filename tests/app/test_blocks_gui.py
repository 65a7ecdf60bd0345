"""Blocks in the window: group with Ctrl+G, open with a double-click, edit inside, go back, ungroup;
undo/redo of each; repeat ×N on the node; the breadcrumb; library blocks in the palette."""

from gestures import click, doc_state, drop_from_palette, node_point, open_graph
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QInputDialog
from test_canvas_editing import menu_texts, trigger

from app.blocks.instance_item import InstanceItem
from app.canvas_menu import canvas_menu
from engine.document import Edge

MLP = [("input1", "Input", {"shape": [4]}, (0, 0)), ("fc1", "Linear", {"out_features": 8}, (250, 0)),
       ("relu1", "ReLU", {}, (500, 0)), ("fc2", "Linear", {"out_features": 8}, (750, 0)),
       ("relu2", "ReLU", {}, (1000, 0)), ("fc3", "Linear", {"out_features": 3}, (1250, 0)),
       ("output1", "Output", {}, (1500, 0))]
MLP_EDGES = [("input1.out", "fc1.in"), ("fc1.out", "relu1.in"), ("relu1.out", "fc2.in"), ("fc2.out", "relu2.in"),
             ("relu2.out", "fc3.in"), ("fc3.out", "output1.in")]
CTRL, SHIFT = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier


def press(window, key, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    window.view.setFocus()
    QTest.keyClick(window.view, key, modifiers)


def group(window, node_ids) -> str:
    window.scene.select_nodes(node_ids)
    press(window, Qt.Key.Key_G, CTRL)
    [instance] = window.scene.selected_node_ids()
    return instance


def double_click(window, node_id) -> None:
    QTest.mouseDClick(window.view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                      node_point(window, node_id))


def out_shape(window, node_id, port):
    return window.scene.validate_now().shapes.get((node_id, port))


def test_group_then_edit_the_block_inside_and_see_every_instance_change(window, qtbot, tmp_path):
    open_graph(window, tmp_path, MLP, MLP_EDGES)
    first = group(window, ["fc2", "relu2"])
    item = window.scene.items_by_id[first]
    name = window.doc.nodes[first].params["block"]
    assert isinstance(item, InstanceItem) and item.title == name
    assert set(item.ports) == {("fc2_in", False), ("relu2_out", True)}
    assert "fc2" not in window.doc.nodes and set(window.scene.items_by_id) == set(window.doc.nodes)
    assert set(window.doc.edges_of(first)) == {Edge("relu1", "out", first, "fc2_in"),
                                               Edge(first, "relu2_out", "fc3", "in")}
    window.scene.validate_now()
    assert window.scene.wires[Edge(first, "relu2_out", "fc3", "in")].label == "(N, 8)"  # the same shape as before
    assert window.validity_label.text() == "✔ valid"

    # a second instance of the same block (Ctrl+D), wired after the first
    press(window, Qt.Key.Key_D, CTRL)
    [second] = window.scene.selected_node_ids()
    assert window.doc.nodes[second].params["block"] == name
    window.editor.disconnect_node("fc3")
    for edge in (Edge(first, "relu2_out", second, "fc2_in"), Edge(second, "relu2_out", "fc3", "in"),
                 Edge("fc3", "out", "output1", "in")):
        assert window.editor.connect(edge) is None
    assert window.scene.validate_now().ok

    # open the second instance: its layers, with the shapes it sees, under a breadcrumb
    double_click(window, second)
    assert window.scene.path == [second] and window.canvas.breadcrumb.isVisible()
    assert window.canvas.breadcrumb.text() == f"graph › {second}"
    assert set(window.scene.items_by_id) == {"fc2_in", "fc2", "relu2", "relu2_out"}
    window.scene.validate_now()
    assert window.scene.wires[Edge("fc2", "out", "relu2", "in")].label == "(N, 8)"

    click(window.view.viewport(), node_point(window, "fc2"))
    spin = window.inspector.widgets["out_features"]
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin.lineEdit(), "16")
    QTest.keyClick(spin.lineEdit(), Qt.Key.Key_Return)
    assert window.editor.doc.nodes["fc2"].params["out_features"] == 16  # the canvas shows the definition
    assert window.editor.root.blocks[name].nodes["fc2"].params["out_features"] == 16
    qtbot.waitUntil(lambda: window.scene.wires[Edge("fc2", "out", "relu2", "in")].label == "(N, 16)")

    window.scene.clearSelection()
    press(window, Qt.Key.Key_Escape)  # back to the graph
    assert window.scene.path == [] and not window.canvas.breadcrumb.isVisible()
    assert set(window.scene.items_by_id) == set(window.doc.nodes) and "fc1" in window.doc.nodes
    assert out_shape(window, first, "relu2_out") == out_shape(window, second, "relu2_out") == (None, 16)
    qtbot.waitUntil(lambda: window.scene.wires[Edge(second, "relu2_out", "fc3", "in")].label == "(N, 16)")

    window.editor.stack.undo()  # the edit inside, undone from the graph: one step, every instance
    assert window.editor.root.blocks[name].nodes["fc2"].params["out_features"] == 8
    assert out_shape(window, first, "relu2_out") == out_shape(window, second, "relu2_out") == (None, 8)
    window.editor.stack.redo()
    assert out_shape(window, second, "relu2_out") == (None, 16)


def test_group_and_ungroup_are_single_exact_undo_steps(window, tmp_path):
    open_graph(window, tmp_path, MLP, MLP_EDGES)
    before = doc_state(window.doc)
    block = group(window, ["relu1", "fc2", "relu2"])
    grouped = doc_state(window.doc)
    assert grouped != before and len(window.doc.blocks) == 1
    window.editor.stack.undo()
    assert doc_state(window.doc) == before and set(window.scene.items_by_id) == set(window.doc.nodes)
    window.editor.stack.redo()
    assert doc_state(window.doc) == grouped and isinstance(window.scene.items_by_id[block], InstanceItem)

    window.scene.select_nodes([block])
    press(window, Qt.Key.Key_G, CTRL | SHIFT)
    assert doc_state(window.doc) == before and not window.doc.blocks
    assert set(window.scene.items_by_id) == set(window.doc.nodes) and len(window.scene.wires) == len(MLP_EDGES)
    window.editor.stack.undo()
    assert doc_state(window.doc) == grouped
    window.editor.stack.redo()
    assert doc_state(window.doc) == before
    window.scene.select_nodes(["input1", "fc1"])  # an Input cannot go into a block: refused, nothing changes
    press(window, Qt.Key.Key_G, CTRL)
    assert doc_state(window.doc) == before and "cannot go into a block" in window.statusBar().currentMessage()


def test_repeat_spin_box_draws_times_n_and_is_one_undo_step(window, tmp_path):
    open_graph(window, tmp_path, MLP, MLP_EDGES)
    block = group(window, ["fc2", "relu2"])
    rows = window.inspector.instance_rows
    assert rows is not None and rows.repeat.value() == 1 and rows.name.text() == window.doc.nodes[block].params["block"]
    item = window.scene.items_by_id[block]
    rows.repeat.setValue(6)
    assert window.doc.nodes[block].params["repeat"] == 6 and item.badge == "×6"
    assert rows.repeat.maximum() == 64 and window.scene.validate_now().ok
    window.editor.stack.undo()
    assert window.doc.nodes[block].params["repeat"] == 1 and item.badge == "" and rows.repeat.value() == 1


def test_menus_rename_make_unique_nested_blocks_and_the_breadcrumb(window, tmp_path, monkeypatch):
    open_graph(window, tmp_path, MLP, MLP_EDGES)
    window.scene.select_nodes(["fc2", "relu2"])
    menu = canvas_menu(window.view, node_point(window, "fc2"))
    assert menu_texts(menu)[0] == "Group 2 nodes into block"
    trigger(menu, "Group")
    [block] = window.scene.selected_node_ids()
    name = window.doc.nodes[block].params["block"]
    assert menu_texts(canvas_menu(window.view, node_point(window, block)))[:4] == [
        f"Open block {name}", "Ungroup", "Make unique", "Save block to library…"]

    rows = window.inspector.instance_rows  # rename the block in the inspector: one step, every instance
    rows.name.setText("Layer")
    rows.name.editingFinished.emit()
    assert list(window.doc.blocks) == ["Layer"] and window.doc.nodes[block].params["block"] == "Layer"
    assert window.scene.items_by_id[block].title == "Layer"
    window.editor.stack.undo()
    assert list(window.doc.blocks) == [name]
    window.editor.stack.redo()

    press(window, Qt.Key.Key_D, CTRL)
    [twin] = window.scene.selected_node_ids()
    trigger(canvas_menu(window.view, node_point(window, twin)), "Make unique")
    assert window.doc.nodes[twin].params["block"] == "Layer1" and set(window.doc.blocks) == {"Layer", "Layer1"}
    window.editor.stack.undo()
    assert window.doc.nodes[twin].params["block"] == "Layer" and list(window.doc.blocks) == ["Layer"]

    # nested: a block inside the block, opened further; crumbs lead back
    trigger(canvas_menu(window.view, node_point(window, block)), "Open block")
    inner = group(window, ["relu2"])
    assert window.scene.scope() == "Layer" and window.doc.nodes[inner].params["block"] in window.editor.root.blocks
    double_click(window, inner)
    assert window.canvas.breadcrumb.text() == f"graph › {block} › {inner}"
    assert set(window.scene.items_by_id) == {"relu2", "relu2_in", "relu2_out"}
    window.scene.clearSelection()
    press(window, Qt.Key.Key_Backspace)  # nothing selected: up one level
    assert window.scene.path == [block]
    double_click(window, inner)
    window.canvas.breadcrumb.buttons[0].click()
    assert window.scene.path == [] and "fc1" in window.scene.items_by_id
    window.editor.stack.undo()  # the inner group, undone from the graph
    assert not any(n.type_id == "Block" for n in window.editor.root.blocks["Layer"].nodes.values())


def test_save_a_block_to_the_library_and_place_library_blocks_from_the_palette(window, qtbot, tmp_path,
                                                                              monkeypatch):
    open_graph(window, tmp_path, MLP, MLP_EDGES)
    block = group(window, ["fc2", "relu2"])
    window.editor.blocks.rename_block(window.doc.nodes[block].params["block"], "TwoLayers")
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("Two dense layers, rectified", True))
    trigger(canvas_menu(window.view, node_point(window, block)), "Save block to library")
    assert (tmp_path / "data" / "blocks" / "TwoLayers.json").exists()

    qtbot.keyClicks(window.palette.search, "dense layers")  # searchable: descriptions…
    assert window.palette.visible_blocks() == ["TwoLayers"] and not window.palette.visible_type_ids()
    window.palette.search.clear()
    qtbot.keyClicks(window.palette.search, "convbn")  # … and names
    assert window.palette.visible_blocks() == ["ConvBNReLU"]
    window.palette.search.clear()

    before = doc_state(window.doc)
    drop_from_palette(window, "ConvBNReLU", QPoint(200, 300))
    [placed] = window.scene.selected_node_ids()
    assert window.doc.nodes[placed].params["block"] == "ConvBNReLU" and "ConvBNReLU" in window.doc.blocks
    assert isinstance(window.scene.items_by_id[placed], InstanceItem)
    window.editor.stack.undo()  # one step: the instance and the definitions it brought
    assert doc_state(window.doc) == before

    tree = window.palette.tree
    [entry] = tree.findItems("TwoLayers", Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive)
    tree.itemDoubleClicked.emit(entry, 0)
    [again] = window.scene.selected_node_ids()
    assert again != block and window.doc.nodes[again].params["block"] == "TwoLayers"  # the same block, reused
    assert list(window.doc.blocks) == ["TwoLayers"]


def test_a_problem_on_the_graph_clicked_inside_a_block_shows_it_on_the_graph(window, tmp_path):
    open_graph(window, tmp_path, MLP, MLP_EDGES)
    instance = group(window, ["fc2", "relu2"])
    window.editor.set_param("fc3", "out_features", 0)  # a problem on the graph, outside the block
    window.scene.validate_now()
    double_click(window, instance)
    assert window.scene.path == [instance] and "fc3" not in window.scene.items_by_id
    panel = window.problems
    row = next(panel.item(i) for i in range(panel.count()) if panel.item(i).text().startswith("✖  fc3"))
    click(panel.viewport(), panel.visualItemRect(row).center())
    assert window.scene.path == [] and window.scene.selected_node_ids() == ["fc3"]


def test_undo_of_grouping_a_block_instance_restores_the_node_order(window):
    """Found by the state machine: group three nodes into block1, then group block1 with two others — the new
    instance took the free id block1, and undo kept it where the new one stood instead of block1's place, so the
    document differed from before (the saved file would change order)."""
    from app.templates import EXAMPLES
    from engine.fileformat import to_dict

    assert window.files.new_from_template(EXAMPLES / "digits_gan.json")
    window.editor.blocks.group(["disc_conv2", "disc_act1", "gen_deconv1"])
    after_one = to_dict(window.doc)
    window.editor.blocks.group(["block1", "gen_reshape", "disc_fc"])
    assert "block1" in window.doc.nodes  # the new instance under the id the first one left free
    window.editor.stack.undo()
    assert to_dict(window.doc) == after_one
    window.editor.stack.redo()
    window.editor.stack.undo()
    window.editor.stack.undo()
    assert window.editor.stack.isClean()
