"""The issue's "done when", in one go: a newcomer builds a digits CNN from the palette without
touching a file, sees every shape on the wires, fixes a deliberate mistake from the problems
panel, and saves a graph that validates."""

from gestures import click, drag, drop_from_palette, node_point, port_point
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QFileDialog

from engine.document import Edge
from engine.fileformat import load_document, to_dict
from engine.validate import validate

# (type, viewport point) in two rows, at the zoom set below: the whole network fits the view
LAYOUT = [("Input", (20, 20)), ("Conv2d", (150, 20)), ("ReLU", (280, 20)), ("Flatten", (410, 20)),
          ("Linear", (20, 160)), ("Output", (150, 160)), ("Target", (150, 260)), ("CrossEntropyLoss", (280, 220))]
ZOOM = 0.7


def _type_into(qtbot, line_edit, text: str) -> None:
    line_edit.selectAll()
    qtbot.keyClicks(line_edit, text)
    QTest.keyClick(line_edit, Qt.Key.Key_Return)


def test_build_a_cnn_from_the_palette_fix_a_mistake_and_save(window, qtbot, tmp_path, monkeypatch):
    assert not window.doc.nodes
    window.view.resetTransform()
    window.view.scale(ZOOM, ZOOM)
    ids = {}
    for type_id, (x, y) in LAYOUT:
        before = set(window.doc.nodes)
        drop_from_palette(window, type_id, QPoint(x, y))
        (ids[type_id],) = set(window.doc.nodes) - before
    assert [window.doc.nodes[ids[t]].type_id for t, _ in LAYOUT] == [t for t, _ in LAYOUT]

    # the inspector: an 8×8 one-channel image in, ten classes out
    click(window.view.viewport(), node_point(window, ids["Input"]))
    assert window.inspector.node_id == ids["Input"]
    _type_into(qtbot, window.inspector.widgets["shape"], "1, 8, 8")
    assert window.doc.nodes[ids["Input"]].params["shape"] == [1, 8, 8]
    click(window.view.viewport(), node_point(window, ids["Linear"]))
    _type_into(qtbot, window.inspector.widgets["out_features"].lineEdit(), "10")
    assert window.doc.nodes[ids["Linear"]].params["out_features"] == 10

    # wire it by dragging port to port — all but the labels (the deliberate mistake)
    chain = [("Input", "out", "Conv2d", "in"), ("Conv2d", "out", "ReLU", "in"), ("ReLU", "out", "Flatten", "in"),
             ("Flatten", "out", "Linear", "in"), ("Linear", "out", "Output", "in"),
             ("Linear", "out", "CrossEntropyLoss", "pred")]
    for src, src_port, dst, dst_port in chain:
        drag(window.view.viewport(), port_point(window, ids[src], src_port, True),
             port_point(window, ids[dst], dst_port, False))
    wires = [Edge(ids[a], p, ids[b], q) for a, p, b, q in chain]
    assert window.doc.edges == wires

    # the mistake shows: red validity, a problem naming the unwired port; clicking it finds the node
    window.scene.validate_now()
    assert "error" in window.validity_label.text()
    panel = window.problems
    loss = ids["CrossEntropyLoss"]
    row = next(i for i in range(panel.count()) if panel.item(i).text().startswith(f"✖  {loss}.target"))
    assert "not connected" in panel.item(row).text()
    rect = panel.visualItemRect(panel.item(row))
    QTest.mouseClick(panel.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, rect.center())
    assert window.scene.selected_node_ids() == [loss]
    assert window.scene.items_by_id[loss].problems

    # the fix: wire the labels in
    drag(window.view.viewport(), port_point(window, ids["Target"], "out", True),
         port_point(window, loss, "target", False))
    qtbot.waitUntil(lambda: window.validity_label.text() == "✔ valid")
    report = window.scene.validate_now()
    assert report.ok and [panel.item(i).text() for i in range(panel.count())] == ["✔  No problems: the graph is valid."]

    # every wire carries its inferred shape
    expected = {("Input", "Conv2d"): "(N, 1, 8, 8)", ("Conv2d", "ReLU"): "(N, 16, 6, 6)",
                ("ReLU", "Flatten"): "(N, 16, 6, 6)", ("Flatten", "Linear"): "(N, 576)",
                ("Linear", "Output"): "(N, 10)", ("Linear", "CrossEntropyLoss"): "(N, 10)",
                ("Target", "CrossEntropyLoss"): "(N)"}
    for (src, dst), label in expected.items():
        edge = next(e for e in window.doc.edges if (e.src, e.dst) == (ids[src], ids[dst]))
        assert window.scene.wires[edge].label == label, (src, dst)

    # Ctrl+S asks where (first save), writes the file, clears the modified mark
    target = tmp_path / "my_cnn.json"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    assert window.isWindowModified()
    QTest.keyClick(window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert target.is_file() and not window.isWindowModified()
    saved = load_document(target)
    assert to_dict(saved) == to_dict(window.doc)
    assert validate(saved).ok
