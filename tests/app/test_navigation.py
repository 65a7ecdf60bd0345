"""Finding your way and the window's menus: zoom at the cursor, pan, quick-add by double-click and
Tab, arrow nudges, snap, themes, templates and recent files — all driven as a user would."""

from gestures import click, node_point, open_graph
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QCursor, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from app.scene import GRID
from app.templates import templates

CHAIN = [("input1", "Input", {"shape": [32]}, (0, 0)), ("fc1", "Linear", {"out_features": 16}, (300, 0)),
         ("output1", "Output", {}, (600, 0))]
EDGES = [("input1.out", "fc1.in"), ("fc1.out", "output1.in")]


def wheel(viewport, pos: QPoint, delta: int) -> None:
    event = QWheelEvent(QPointF(pos), QPointF(viewport.mapToGlobal(pos)), QPoint(), QPoint(0, delta),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(viewport, event)


def test_wheel_zooms_at_the_cursor(window, tmp_path):
    open_graph(window, tmp_path, CHAIN, EDGES)
    view, viewport = window.view, window.view.viewport()
    cursor = QPoint(200, 150)
    under = view.mapToScene(cursor)
    wheel(viewport, cursor, 240)
    assert view.zoom() > 1.3
    after = view.mapToScene(cursor)
    assert abs(after.x() - under.x()) < 2 and abs(after.y() - under.y()) < 2  # the point stayed put
    for _ in range(60):
        wheel(viewport, cursor, -240)
    assert view.zoom() >= 0.05  # clamped, never inverted or zero


def test_middle_mouse_drag_pans(window, tmp_path):
    open_graph(window, tmp_path, CHAIN, EDGES)
    viewport = window.view.viewport()
    centre = viewport.rect().center()
    before = window.view.mapToScene(centre)
    QTest.mousePress(viewport, Qt.MouseButton.MiddleButton, Qt.KeyboardModifier.NoModifier, centre)
    QTest.mouseMove(viewport, centre + QPoint(60, 40))
    QTest.mouseRelease(viewport, Qt.MouseButton.MiddleButton, Qt.KeyboardModifier.NoModifier, centre + QPoint(60, 40))
    after = window.view.mapToScene(centre)
    assert abs((before.x() - after.x()) - 60) < 2 and abs((before.y() - after.y()) - 40) < 2
    assert window.doc.nodes["fc1"].position == (300.0, 0.0)  # panning moved the view, not the graph


def test_double_click_on_empty_canvas_quick_adds_there(window, tmp_path, qtbot):
    open_graph(window, tmp_path, CHAIN, EDGES)
    spot = window.view.mapFromScene(QPointF(300, 400))
    QTest.mouseDClick(window.view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, spot)
    popup = window.view.quick_add
    assert popup.isVisible()
    qtbot.keyClicks(popup.search, "gelu")
    QTest.keyClick(popup.search, Qt.Key.Key_Return)
    assert window.doc.nodes["gelu1"].type_id == "GELU"
    x, y = window.doc.nodes["gelu1"].position
    assert abs(x - 300) < 2 and abs(y - 400) < 2


def test_tab_opens_quick_add_at_the_mouse(window, tmp_path, qtbot):
    open_graph(window, tmp_path, CHAIN, EDGES)
    spot = window.view.mapFromScene(QPointF(-200, 300))
    QCursor.setPos(window.view.viewport().mapToGlobal(spot))
    window.view.setFocus()
    QTest.keyClick(window.view, Qt.Key.Key_Tab)
    popup = window.view.quick_add
    assert popup.isVisible()
    qtbot.keyClicks(popup.search, "dropout")  # Dropout ids are drop1, drop2, …
    QTest.keyClick(popup.search, Qt.Key.Key_Return)
    assert window.doc.nodes["drop1"].type_id == "Dropout"


def test_arrow_keys_nudge_the_selection_as_one_undo_step(window, tmp_path):
    open_graph(window, tmp_path, CHAIN, EDGES)
    click(window.view.viewport(), node_point(window, "fc1"))
    window.view.setFocus()
    for key in (Qt.Key.Key_Right, Qt.Key.Key_Right, Qt.Key.Key_Down):
        QTest.keyClick(window.view, key)
    x, y = window.doc.nodes["fc1"].position
    assert (x - 300, y) == (20.0, 10.0)
    window.editor.stack.undo()
    assert window.doc.nodes["fc1"].position == (300.0, 0.0)


def test_snap_to_grid_puts_new_nodes_on_the_grid(window, tmp_path, qtbot):
    open_graph(window, tmp_path, CHAIN, EDGES)
    snap = next(a for a in window.menuBar().findChildren(type(window.templates_menu.menuAction()))
                if a.text() == "&Snap to grid")
    snap.trigger()
    assert window.scene.snap_to_grid
    window.view.open_quick_add(QPointF(313, 427))
    qtbot.keyClicks(window.view.quick_add.search, "tanh")
    QTest.keyClick(window.view.quick_add.search, Qt.Key.Key_Return)
    x, y = window.doc.nodes["tanh1"].position
    assert x % GRID == 0 and y % GRID == 0


def test_theme_switch_recolours_the_canvas_and_is_remembered(window):
    from app import settings

    window.set_theme("light")
    light = window.view.grab().toImage().pixelColor(5, 5)
    assert light.lightness() > 180 and settings.theme_name() == "light"
    window.set_theme("dark")
    assert window.view.grab().toImage().pixelColor(5, 5).lightness() < 80


def test_templates_menu_lists_every_example_and_opens_it(window):
    actions = [a for a in window.templates_menu.actions() if not a.isSeparator()]
    examples = templates()
    assert [a.text() for a in actions] == [t.name for t in examples]
    assert all(a.toolTip() for a in actions)  # each with its description
    actions[0].trigger()
    assert window.doc.name == examples[0].name and window.doc.nodes


def test_recent_files_lists_what_was_opened(window, tmp_path):
    first = open_graph(window, tmp_path, CHAIN, EDGES, name="first")
    second = open_graph(window, tmp_path, CHAIN, EDGES, name="second")
    window.recent_menu.aboutToShow.emit()
    listed = [a.text() for a in window.recent_menu.actions()]
    assert listed[:2] == [str(second), str(first)]
    window.recent_menu.actions()[1].trigger()
    assert window.files.path == first
