"""Tab quick-add as a user meets it on a real canvas: the popup opens where it can be seen and typed
into, the new node lands on a free spot, and the view follows it there."""

from gestures import open_graph
from PySide6.QtCore import QPoint, QPointF, QRect, Qt
from PySide6.QtGui import QCursor
from PySide6.QtTest import QTest

from app.node_item import WIDTH
from engine.document import Edge

CHAIN = [("input1", "Input", {"shape": [4]}, (0, 0)), ("fc1", "Linear", {"out_features": 8}, (270, 0))]
CLASSIFIER = [("fc2", "Linear", {"out_features": 10}, (0, 0)),
              ("loss1", "CrossEntropyLoss", {}, (230, 0)),  # where Tab's spot to the right of fc2 used to be
              ("target1", "Target", {}, (0, 200))]
CLASSIFIER_EDGES = [("fc2.out", "loss1.pred"), ("target1.out", "loss1.target")]


def viewport_on_screen(window) -> QRect:
    viewport = window.view.viewport()
    return QRect(viewport.mapToGlobal(QPoint(0, 0)), viewport.size())


def visible_scene_rect(window):
    return window.view.mapToScene(window.view.viewport().rect()).boundingRect()


def tab_and_type(window, qtbot, text: str) -> QRect:
    """Press Tab on the canvas, type `text` into the popup and press Enter; returns where the popup was."""
    window.view.setFocus()
    QTest.keyClick(window.view, Qt.Key.Key_Tab)
    popup = window.view.quick_add
    assert popup.isVisible()
    where = popup.frameGeometry()
    qtbot.keyClicks(popup.search, text)
    QTest.keyClick(popup.search, Qt.Key.Key_Return)
    return where


def test_tab_at_the_right_edge_scrolls_to_the_new_node(window, tmp_path, qtbot):
    window.resize(1600, 1000)
    open_graph(window, tmp_path, CHAIN, [("input1.out", "fc1.in")])
    view = window.view
    fc1 = window.scene.items_by_id["fc1"]
    # fc1 just inside the right edge: the spot to its right is off screen
    view.centerOn(QPointF(fc1.x() + WIDTH + 30 - view.viewport().width() / 2, 60))
    assert visible_scene_rect(window).contains(fc1.sceneBoundingRect())
    window.scene.select_nodes(["fc1"])
    popup = tab_and_type(window, qtbot, "gelu")
    assert viewport_on_screen(window).contains(popup)
    assert Edge("fc1", "out", "gelu1", "in") in window.doc.edges
    assert visible_scene_rect(window).contains(window.scene.items_by_id["gelu1"].sceneBoundingRect())


def test_tab_on_a_node_scrolled_out_of_sight_opens_the_popup_on_the_canvas(window, tmp_path, qtbot):
    window.resize(1600, 1000)
    open_graph(window, tmp_path, CHAIN, [("input1.out", "fc1.in")])
    window.scene.select_nodes(["fc1"])
    window.view.centerOn(QPointF(6000, 4000))  # the user panned away, fc1 still selected
    popup = tab_and_type(window, qtbot, "gelu")
    assert viewport_on_screen(window).contains(popup)  # the typed text went into a popup the user saw
    assert Edge("fc1", "out", "gelu1", "in") in window.doc.edges
    assert visible_scene_rect(window).contains(window.scene.items_by_id["gelu1"].sceneBoundingRect())


def test_tab_with_the_mouse_off_the_canvas_opens_the_popup_on_it(window, tmp_path, qtbot):
    window.resize(1600, 1000)
    open_graph(window, tmp_path, CHAIN, [("input1.out", "fc1.in")])
    QCursor.setPos(viewport_on_screen(window).bottomRight() + QPoint(500, 500))
    popup = tab_and_type(window, qtbot, "dropout")
    assert viewport_on_screen(window).contains(popup)
    assert visible_scene_rect(window).contains(window.scene.items_by_id["drop1"].sceneBoundingRect())


def test_a_node_added_by_tab_lands_on_a_free_spot_in_one_undo_step(window, tmp_path, qtbot):
    open_graph(window, tmp_path, CLASSIFIER, CLASSIFIER_EDGES)
    window.scene.select_nodes(["fc2"])
    tab_and_type(window, qtbot, "output")
    assert Edge("fc2", "out", "output1", "in") in window.doc.edges
    items = window.scene.items_by_id
    added = items["output1"].sceneBoundingRect()
    assert not [n for n, item in items.items() if n != "output1" and item.sceneBoundingRect().intersects(added)]
    assert added.left() > items["fc2"].sceneBoundingRect().right()  # still right of the node it continues
    window.editor.stack.undo()
    assert "output1" not in window.doc.nodes and len(window.doc.edges) == 2
