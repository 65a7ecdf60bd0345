"""The canvas driven by mouse and keyboard: palette drops, wiring, refusals, moves, quick-add."""

from gestures import click, drag, drop_from_palette, node_point, open_graph, port_point
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest

from engine.document import Edge

CHAIN = [("input1", "Input", {"shape": [32]}, (0, 0)), ("fc1", "Linear", {"out_features": 16}, (300, 0)),
         ("relu1", "ReLU", {}, (600, 0)), ("output1", "Output", {}, (900, 0))]
CHAIN_EDGES = [("input1.out", "fc1.in"), ("fc1.out", "relu1.in"), ("relu1.out", "output1.in")]


def test_palette_search_filters_to_matching_types(window, qtbot):
    qtbot.keyClicks(window.palette.search, "conv")
    assert window.palette.visible_type_ids() == ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose2d"]
    window.palette.search.clear()
    assert "Linear" in window.palette.visible_type_ids()


def test_palette_drop_adds_node_at_drop_position(window):
    point = QPoint(300, 200)
    drop_from_palette(window, "Linear", point)
    assert list(window.doc.nodes) == ["fc1"]
    expected = window.view.mapToScene(point)
    assert window.doc.nodes["fc1"].position == (expected.x(), expected.y())
    assert window.scene.items_by_id["fc1"].pos() == expected
    assert window.isWindowModified()


def test_wire_by_dragging_from_output_to_input(window, tmp_path, qtbot):
    open_graph(window, tmp_path, CHAIN, CHAIN_EDGES[:1] + CHAIN_EDGES[2:])
    drag(window.view.viewport(), port_point(window, "fc1", "out", True), port_point(window, "relu1", "in", False))
    assert Edge("fc1", "out", "relu1", "in") in window.doc.edges
    qtbot.waitUntil(lambda: window.scene.wires[Edge("fc1", "out", "relu1", "in")].label == "(N, 16)")
    assert window.validity_label.text() == "✔ valid"


def test_inspector_edit_relabels_the_wire(window, tmp_path, qtbot):
    open_graph(window, tmp_path, CHAIN, CHAIN_EDGES)
    click(window.view.viewport(), node_point(window, "fc1"))
    assert window.inspector.node_id == "fc1"
    spin = window.inspector.widgets["out_features"]
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin.lineEdit(), "10")
    QTest.keyClick(spin.lineEdit(), Qt.Key.Key_Return)
    assert window.doc.nodes["fc1"].params["out_features"] == 10
    wire = window.scene.wires[Edge("fc1", "out", "relu1", "in")]
    qtbot.waitUntil(lambda: wire.label == "(N, 10)")
    window.editor.stack.undo()  # the document drives the widget back
    assert spin.value() == 16
    qtbot.waitUntil(lambda: wire.label == "(N, 16)")


def test_invalid_wires_are_refused_with_a_reason(window, tmp_path):
    nodes = [*CHAIN, ("input2", "Input", {"shape": [1, 28, 28]}, (0, 300)), ("fc2", "Linear", {}, (300, 300))]
    open_graph(window, tmp_path, nodes, CHAIN_EDGES[1:])  # fc1.in is free; fc1 → relu1 → output1
    viewport, before = window.view.viewport(), list(window.doc.edges)
    attempts = [
        (("relu1", "out", True), ("fc1", "in", False), "cycle"),
        (("input2", "out", True), ("relu1", "in", False), "already has a wire from fc1.out"),
        (("fc1", "in", False), ("fc2", "in", False), "are both inputs"),
        (("input2", "out", True), ("fc2", "in", False), "(N, 1, 28, 28) does not fit fc2.in"),
    ]
    for (a, b, expected) in attempts:
        drag(viewport, port_point(window, *a), port_point(window, *b))
        assert window.doc.edges == before
        assert expected in window.statusBar().currentMessage()
    assert not window.editor.stack.count()


def test_dragging_a_node_moves_it_in_one_undo_step(window, tmp_path):
    open_graph(window, tmp_path, CHAIN, CHAIN_EDGES)
    start = node_point(window, "relu1")
    drag(window.view.viewport(), start, start + QPoint(50, 80), steps=6)
    x, y = window.doc.nodes["relu1"].position
    assert (round(x), round(y)) == (650, 80)
    wire = window.scene.wires[Edge("fc1", "out", "relu1", "in")]
    assert wire.boundingRect().contains(window.scene.items_by_id["relu1"].port_pos("in", False))
    assert window.editor.stack.count() == 1
    window.editor.stack.undo()
    assert window.doc.nodes["relu1"].position == (600.0, 0.0)
    assert window.scene.items_by_id["relu1"].pos() == QPointF(600, 0)


def test_wires_follow_a_node_while_it_is_dragged(window, tmp_path):
    open_graph(window, tmp_path, CHAIN, CHAIN_EDGES)
    viewport, start = window.view.viewport(), node_point(window, "relu1")
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    QTest.mouseMove(viewport, start + QPoint(20, 30))
    QTest.mouseMove(viewport, start + QPoint(40, 90))
    item = window.scene.items_by_id["relu1"]
    assert item.pos() != QPointF(600, 0) and window.doc.nodes["relu1"].position == (600.0, 0.0)  # mid-drag
    for edge in (Edge("fc1", "out", "relu1", "in"), Edge("relu1", "out", "output1", "in")):
        wire = window.scene.wires[edge]
        port = item.port_pos(edge.dst_port if edge.dst == "relu1" else edge.src_port, edge.src == "relu1")
        assert wire.boundingRect().contains(port)
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start + QPoint(40, 90))


def test_wire_dropped_on_empty_canvas_adds_a_wired_node(window, tmp_path, qtbot):
    open_graph(window, tmp_path, CHAIN[:2], CHAIN_EDGES[:1])
    start = port_point(window, "fc1", "out", True)
    drag(window.view.viewport(), start, start + QPoint(150, 0))
    popup = window.view.quick_add
    assert popup.isVisible()
    qtbot.keyClicks(popup.search, "relu")
    QTest.keyClick(popup.search, Qt.Key.Key_Return)
    assert Edge("fc1", "out", "relu1", "in") in window.doc.edges
    window.editor.stack.undo()  # one step removes node and wire
    assert "relu1" not in window.doc.nodes and len(window.doc.edges) == 1
