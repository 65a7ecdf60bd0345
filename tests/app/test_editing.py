"""Undo/redo, clipboard, delete, problems panel and auto-layout, checked against the document."""

from gestures import click, doc_state, node_point, open_graph, port_point
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from test_canvas import CHAIN, CHAIN_EDGES

from engine.document import Edge

CTRL = Qt.KeyboardModifier.ControlModifier


def test_undo_redo_walks_every_state(window, tmp_path):
    open_graph(window, tmp_path, CHAIN[:1])
    editor, view = window.editor, window.view
    states = [doc_state(window.doc)]
    edits = [
        lambda: editor.add_node("Linear", view.mapToScene(QPoint(300, 200))),
        lambda: editor.connect(Edge("input1", "out", "fc1", "in")),
        lambda: editor.set_param("fc1", "out_features", 7),
        lambda: editor.move({"fc1": (window.doc.nodes["fc1"].position, (500.0, 60.0))}),
        lambda: editor.auto_layout(),
        lambda: (window.scene.select_nodes(["input1"]), editor.delete_selection()),
    ]
    for edit in edits:
        edit()
        states.append(doc_state(window.doc))
    assert len({str(s) for s in states}) == len(states)  # every edit changed the document
    stack = editor.stack
    for expected in reversed(states[:-1]):
        stack.undo()
        assert doc_state(window.doc) == expected
    for expected in states[1:]:
        stack.redo()
        assert doc_state(window.doc) == expected
    assert set(window.scene.items_by_id) == set(window.doc.nodes) == {"fc1"}


def test_title_tracks_unsaved_changes(window, tmp_path):
    path = open_graph(window, tmp_path, CHAIN, CHAIN_EDGES)
    assert window.windowTitle().startswith(path.name) and not window.isWindowModified()
    window.editor.set_param("fc1", "out_features", 3)
    assert window.isWindowModified()
    window.editor.stack.undo()
    assert not window.isWindowModified()


def test_copy_paste_duplicates_with_new_ids(window, tmp_path, qtbot):
    open_graph(window, tmp_path, CHAIN, CHAIN_EDGES)
    window.scene.select_nodes(["fc1", "relu1"])
    window.view.setFocus()
    QTest.keyClick(window.view, Qt.Key.Key_C, CTRL)
    QTest.keyClick(window.view, Qt.Key.Key_V, CTRL)
    assert set(window.doc.nodes) == {"input1", "fc1", "relu1", "output1", "fc2", "relu2"}
    assert window.doc.nodes["fc2"].params == window.doc.nodes["fc1"].params
    assert Edge("fc2", "out", "relu2", "in") in window.doc.edges  # the wire between the copies came along
    assert len(window.doc.edges) == len(CHAIN_EDGES) + 1  # wires to outside nodes did not
    assert sorted(window.scene.selected_node_ids()) == ["fc2", "relu2"]
    QTest.keyClick(window.view, Qt.Key.Key_D, CTRL)  # duplicate the pasted pair
    assert {"fc3", "relu3"} <= set(window.doc.nodes)


def test_delete_and_undo_restores_node_and_wires(window, tmp_path):
    open_graph(window, tmp_path, CHAIN, CHAIN_EDGES)
    before = doc_state(window.doc)
    click(window.view.viewport(), node_point(window, "fc1"))
    QTest.keyClick(window.view, Qt.Key.Key_Delete)
    assert "fc1" not in window.doc.nodes and len(window.doc.edges) == 1
    assert "fc1" not in window.scene.items_by_id
    QTest.keyClick(window.view, Qt.Key.Key_Z, CTRL)
    assert doc_state(window.doc) == before
    assert len(window.scene.wires) == len(CHAIN_EDGES)


def test_problems_panel_click_selects_and_centres_node(window, tmp_path):
    nodes = [*CHAIN, ("fc9", "Linear", {}, (3000, 2000))]  # an unwired node far away
    open_graph(window, tmp_path, nodes, CHAIN_EDGES)
    panel = window.problems
    row = next(i for i in range(panel.count()) if panel.item(i).text().startswith("✖  fc9"))
    assert "error" in window.validity_label.text()
    rect = panel.visualItemRect(panel.item(row))
    QTest.mouseClick(panel.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, rect.center())
    assert window.scene.selected_node_ids() == ["fc9"]
    centre = window.view.mapToScene(window.view.viewport().rect().center())
    assert window.scene.items_by_id["fc9"].sceneBoundingRect().contains(centre)
    assert window.scene.items_by_id["fc9"].problems  # drawn red, with the message as tooltip
    assert "not connected" in window.scene.items_by_id["fc9"].toolTip()


def test_auto_layout_orders_nodes_by_depth(window, tmp_path):
    shuffled = [(i, t, p, (900 - 300 * k, 100 * k)) for k, (i, t, p, _) in enumerate(CHAIN)]
    open_graph(window, tmp_path, shuffled, CHAIN_EDGES)
    before = doc_state(window.doc)
    QTest.keyClick(window.view, Qt.Key.Key_L, CTRL)
    xs = [window.doc.nodes[n].position[0] for n in ("input1", "fc1", "relu1", "output1")]
    assert xs == sorted(xs) and len(set(xs)) == 4
    assert window.scene.items_by_id["relu1"].x() == window.doc.nodes["relu1"].position[0]
    assert_wires_follow_their_ports(window)
    window.editor.stack.undo()
    assert doc_state(window.doc) == before
    assert_wires_follow_their_ports(window)  # one batched move: every wire re-routed once, at the end


def assert_wires_follow_their_ports(window):
    scene = window.scene
    for edge, wire in scene.wires.items():
        src, dst = scene.items_by_id[edge.src], scene.items_by_id[edge.dst]
        path = wire._path
        assert path.pointAtPercent(0) == src.port_pos(edge.src_port, True), edge
        assert path.pointAtPercent(1) == dst.port_pos(edge.dst_port, False), edge


def test_port_hover_names_port(window, tmp_path):
    open_graph(window, tmp_path, CHAIN, CHAIN_EDGES)
    assert window.view.port_at(port_point(window, "fc1", "in", False)).name == "in"
