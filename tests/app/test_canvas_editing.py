"""Editing as people expect: right-click menus, drop-on-wire insert, rename, Tab wiring from the
selection, wheel over unfocused fields, help, stable toolbar, remembered dock layout, empty hint."""

from gestures import doc_state, drop_from_palette, node_point, open_graph, port_point
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDockWidget, QInputDialog, QSpinBox
from test_canvas import CHAIN, CHAIN_EDGES

from app.canvas_menu import canvas_menu
from app.shortcuts_dialog import GESTURES, ShortcutsDialog, shortcut_rows
from app.view import EMPTY_HINT
from engine.document import Edge


def menu_texts(menu) -> list[str]:
    return [a.text() for a in menu.actions() if not a.isSeparator()]


def empty_point(window) -> QPoint:
    """A viewport point with nothing under it."""
    size = window.view.viewport().size()
    return next(p for y in range(10, size.height(), 40) for x in range(10, size.width(), 40)
                if not window.view.items(p := QPoint(x, y)))


def trigger(menu, prefix: str) -> None:
    next(a for a in menu.actions() if a.text().startswith(prefix)).trigger()


def test_node_menu_renames_duplicates_disconnects_and_deletes(window, tmp_path, monkeypatch):
    open_graph(window, tmp_path, CHAIN, CHAIN_EDGES)
    menu = canvas_menu(window.view, node_point(window, "fc1"))
    assert menu_texts(menu) == ["Rename fc1…", "Duplicate", "Disconnect", "Freeze (keep its weights while training)",
                                "Learning rate factor…", "Delete"]
    assert window.scene.selected_node_ids() == ["fc1"]  # right click selects what it acts on
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("encoder", True))
    trigger(menu, "Rename")
    assert "encoder" in window.doc.nodes and "fc1" not in window.doc.nodes
    assert list(window.doc.nodes) == ["input1", "encoder", "relu1", "output1"]  # same place in the order
    assert Edge("input1", "out", "encoder", "in") in window.doc.edges and Edge("encoder", "out", "relu1", "in") in \
        window.doc.edges
    assert "encoder" in window.scene.items_by_id and window.scene.validate_now().ok
    window.editor.stack.undo()  # one step
    assert list(window.doc.nodes) == ["input1", "fc1", "relu1", "output1"] and window.scene.validate_now().ok

    before = len(window.doc.nodes)
    trigger(canvas_menu(window.view, node_point(window, "fc1")), "Duplicate")
    assert len(window.doc.nodes) == before + 1
    window.editor.stack.undo()
    trigger(canvas_menu(window.view, node_point(window, "relu1")), "Disconnect")
    assert not [e for e in window.doc.edges if "relu1" in (e.src, e.dst)] and "relu1" in window.doc.nodes
    window.editor.stack.undo()
    assert len(window.doc.edges) == len(CHAIN_EDGES)
    trigger(canvas_menu(window.view, node_point(window, "relu1")), "Delete")
    assert "relu1" not in window.doc.nodes


def test_rename_is_refused_with_a_reason(window, tmp_path):
    open_graph(window, tmp_path, CHAIN, CHAIN_EDGES)
    before = doc_state(window.doc)
    for bad, reason in (("relu1", "taken"), ("2fast", "start with a letter"), ("class", "keyword"),
                        ("my id", "only letters"), ("forward", "torch module attribute")):
        problem = window.editor.rename_node("fc1", bad)
        assert problem and reason in problem, (bad, problem)
        assert doc_state(window.doc) == before
        assert "Cannot rename fc1" in window.statusBar().currentMessage()


def test_canvas_menu_adds_pastes_lays_out_and_frames(window, tmp_path):
    open_graph(window, tmp_path, CHAIN, CHAIN_EDGES)
    empty = QPoint(20, 20)
    menu = canvas_menu(window.view, empty)
    assert menu_texts(menu) == ["Add node…", "Paste", "Auto-layout", "Frame all"]
    trigger(menu, "Add node")
    assert window.view.quick_add.isVisible()
    window.view.quick_add.search.setText("ReLU")
    QTest.keyClick(window.view.quick_add.search, Qt.Key.Key_Return)
    assert "relu2" in window.doc.nodes
    window.scene.select_nodes(["relu2"])
    window.editor.copy()
    trigger(canvas_menu(window.view, empty_point(window)), "Paste")  # relu2 now sits at `empty`
    assert "relu3" in window.doc.nodes
    window.view.scale(8, 8)  # zoomed far in: most of the graph off screen
    trigger(canvas_menu(window.view, empty_point(window)), "Auto-layout")
    assert window.editor.stack.undoText() == "Auto-layout"
    shown = window.view.mapToScene(window.view.viewport().rect()).boundingRect()
    assert shown.contains(window.scene.itemsBoundingRect())  # laid out, then framed


def test_a_layer_dropped_on_a_wire_is_inserted_into_it(window, tmp_path):
    open_graph(window, tmp_path, CHAIN, CHAIN_EDGES)
    start, end = port_point(window, "fc1", "out", True), port_point(window, "relu1", "in", False)
    point = (start + end) / 2  # the middle of the straight wire between them
    assert window.view.wire_at(point).edge == Edge("fc1", "out", "relu1", "in")
    drop_from_palette(window, "Dropout", point)
    assert Edge("fc1", "out", "drop1", "in") in window.doc.edges
    assert Edge("drop1", "out", "relu1", "in") in window.doc.edges
    assert Edge("fc1", "out", "relu1", "in") not in window.doc.edges and window.scene.validate_now().ok
    window.editor.stack.undo()  # one step restores the wire
    assert Edge("fc1", "out", "relu1", "in") in window.doc.edges and "drop1" not in window.doc.nodes
    drop_from_palette(window, "Dropout", QPoint(20, 20))  # off the wires: just added
    assert "drop1" in window.doc.nodes and len(window.doc.edges) == len(CHAIN_EDGES)


def test_tab_with_a_node_selected_adds_a_node_wired_to_its_output(window, tmp_path):
    open_graph(window, tmp_path, CHAIN[:2], CHAIN_EDGES[:1])
    window.scene.select_nodes(["fc1"])
    window.view.setFocus()
    QTest.keyClick(window.view, Qt.Key.Key_Tab)
    assert window.view.quick_add.isVisible()
    window.view.quick_add.search.setText("gelu")
    QTest.keyClick(window.view.quick_add.search, Qt.Key.Key_Return)
    assert Edge("fc1", "out", "gelu1", "in") in window.doc.edges
    assert window.doc.nodes["gelu1"].position[0] > window.doc.nodes["fc1"].position[0]  # placed to its right


def test_the_wheel_over_an_unfocused_field_changes_nothing(window, qtbot):
    panel = window.training.settings_panel
    box = next(w for w in panel.findChildren(QSpinBox) if w.value() == window.training.settings_panel
               .settings()["batch_size"])
    before = box.value()
    window.view.setFocus()
    centre = QPointF(box.rect().center())
    wheel = QWheelEvent(centre, box.mapToGlobal(centre), QPoint(), QPoint(0, -120), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(box, wheel)
    assert box.value() == before and window.doc.training.get("batch_size", before) == before
    box.setFocus()
    qtbot.waitUntil(box.hasFocus)
    QApplication.sendEvent(box, QWheelEvent(centre, box.mapToGlobal(centre), QPoint(), QPoint(0, -120),
                                            Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                                            Qt.ScrollPhase.NoScrollPhase, False))
    assert box.value() == before - 1  # a focused field still takes the wheel


def test_help_lists_shortcuts_and_every_dock_has_a_view_toggle(window):
    rows = shortcut_rows(window)
    keys = {action: key for _, key, action in rows}
    assert keys["Train"] == "F5" and keys["Rename node…"] == "F2" and keys["Keyboard shortcuts"] == "F1"
    dialog = ShortcutsDialog(window)
    assert dialog.table.rowCount() == len(rows) + len(GESTURES)  # the shortcuts, then mouse gestures
    toggles = {a.text() for a in window.panels_menu.actions()}
    assert toggles == {d.windowTitle() for d in window.findChildren(QDockWidget)}
    toolbar_tips = {a.text(): a.toolTip() for a in window.findChildren(type(window.panels_menu.actions()[0]))}
    assert toolbar_tips["&Train"] == "Train (F5)" and toolbar_tips["&Frame all"] == "Frame all (F)"


def test_undo_and_redo_keep_their_text_so_the_toolbar_never_moves(window, tmp_path):
    open_graph(window, tmp_path, CHAIN, CHAIN_EDGES)
    undo, redo = window.undo_actions
    assert (undo.text(), undo.isEnabled()) == ("&Undo", False)
    window.editor.set_param("fc1", "out_features", 7)
    assert undo.text() == "&Undo" and undo.isEnabled() and "Set fc1" in undo.toolTip()
    window.editor.stack.undo()
    assert redo.text() == "&Redo" and redo.isEnabled() and not undo.isEnabled()


def test_the_dock_layout_is_restored_on_restart(qtbot, window):
    from app.main_window import MainWindow

    window.training.runs_dock.hide()
    window.resizeDocks([window.findChild(QDockWidget, "Inspector")], [400], Qt.Orientation.Horizontal)
    qtbot.wait(50)
    inspector_width = window.findChild(QDockWidget, "Inspector").width()
    window.editor.stack.setClean()
    window.close()
    again = MainWindow(theme_name="dark")
    qtbot.addWidget(again, before_close_func=lambda w: w.editor.stack.setClean())
    again.show()
    qtbot.waitExposed(again)
    assert again.layout_restored
    assert not again.training.runs_dock.isVisible() and again.training.live_dock.isVisible()
    assert abs(again.findChild(QDockWidget, "Inspector").width() - inspector_width) <= 4


def test_an_empty_canvas_says_how_to_start(window, tmp_path):
    assert not window.doc.nodes
    image = window.view.viewport().grab().toImage()
    text_pixels = _bright_pixels(image)
    open_graph(window, tmp_path, CHAIN[:1])
    assert _bright_pixels(window.view.viewport().grab().toImage()) < text_pixels / 2
    assert "Tab" in EMPTY_HINT


def _bright_pixels(image) -> int:
    """Pixels in the middle band of the canvas lighter than the grid: text drawn there."""
    h, w = image.height(), image.width()
    return sum(1 for y in range(h // 2 - 12, h // 2 + 12) for x in range(0, w, 2)
               if image.pixelColor(x, y).lightness() > 110)


def test_param_edits_revalidate_incrementally_and_update_labels_and_problems(window, tmp_path):
    nodes = [("input1", "Input", {"shape": [8], "dtype": "int64"}, (0, 0)),
             ("emb1", "Embedding", {"num_embeddings": 20, "embedding_dim": 6}, (300, 0)),
             ("fc1", "Linear", {"out_features": 5}, (600, 0)), ("output1", "Output", {}, (900, 0))]
    open_graph(window, tmp_path, nodes, [("input1.out", "emb1.in"), ("emb1.out", "fc1.in"), ("fc1.out", "output1.in")])
    scene = window.scene
    wire = scene.wires[Edge("fc1", "out", "output1", "in")]
    assert wire.label == "(N, 8, 5)"
    window.editor.set_param("fc1", "out_features", 7)
    report = scene.validate_now()
    assert report.touched is not None and "fc1" in report.touched  # incremental …
    assert wire.label == "(N, 8, 7)"
    window.editor.set_param("input1", "dtype", "float32")  # … and a dtype error lands on the node it feeds
    scene.validate_now()
    assert scene.items_by_id["emb1"].problems and "int64" in scene.items_by_id["emb1"].problems[0]
    window.editor.stack.undo()
    scene.validate_now()
    assert not scene.items_by_id["emb1"].problems


def test_the_inspector_renames_the_selected_node_and_refuses_a_taken_id(window, tmp_path):
    open_graph(window, tmp_path, CHAIN, CHAIN_EDGES)
    window.scene.select_nodes(["fc1"])
    field = window.inspector.id_field
    assert field.isVisibleTo(window.inspector) and field.text() == "fc1"
    field.setText("hidden")
    field.editingFinished.emit()
    assert "hidden" in window.doc.nodes and "fc1" not in window.doc.nodes
    assert any(e.src == "hidden" or e.dst == "hidden" for e in window.doc.edges)
    assert window.inspector.node_id == "hidden" and field.text() == "hidden"  # still selected, under its new id
    field.setText("relu1")
    field.editingFinished.emit()
    assert "hidden" in window.doc.nodes and "taken" in window.statusBar().currentMessage()
    assert "e5484d" in field.styleSheet()
    window.editor.stack.undo()
    assert "fc1" in window.doc.nodes and "hidden" not in window.doc.nodes


def _window_sized(qtbot, width: int, height: int):
    """A window given its size before the training docks are laid out, as on a screen of that size."""
    from app.main_window import MainWindow

    window = MainWindow(theme_name="dark", defer_panels=True)
    qtbot.addWidget(window, before_close_func=lambda w: w.editor.stack.setClean())
    window.resize(width, height)
    window.finish_setup()
    window.show()
    qtbot.waitExposed(window)
    return window


def test_on_a_1024_pixel_screen_the_window_fits_and_the_live_view_gets_the_width(qtbot):
    """The Runs list joins the bottom tabs instead of standing beside the live view, the runs panel's
    buttons fold into a tool bar, and the live view scrolls rather than making the window taller."""
    from app.training.kind_views import VIEWS

    window = _window_sized(qtbot, 942, 630)  # what a 1024 × 700 screen gives it
    training = window.training
    assert training.live_dock in window.tabifiedDockWidgets(training.runs_dock)
    training.live._apply_kind(VIEWS["adversarial"]())  # the GAN's samples beside the plots
    training.live.set_compact(False)
    heatmap = training.live.heatmap
    heatmap._layer_ids = [f"layer{i}" for i in range(12)]  # a row per layer: the heatmap grows tall
    heatmap._fill_layer_list()
    training.live_dock.raise_()
    minimum = window.minimumSizeHint()
    assert minimum.width() <= 1024 and minimum.height() <= 700
    # the settings form's fields wrap under their labels: it fits a quarter of the window (its dock's
    # share) less a scroll bar, unclipped
    assert training.settings_panel.minimumSizeHint().width() <= 942 // 4 - 30


def test_on_a_wide_screen_the_runs_list_stands_beside_the_live_view(qtbot):
    window = _window_sized(qtbot, 1472, 900)
    training = window.training
    assert training.live_dock not in window.tabifiedDockWidgets(training.runs_dock)
    assert training.runs_dock.isVisible() and training.live_dock.isVisible()


def test_on_a_1024_pixel_screen_the_canvas_gets_half_the_window_and_f10_switches_to_the_train_layout(qtbot):
    """Edit: the training docks fold to a strip, the canvas has at least half the window's width and height;
    F10 gives the live view the room and back; each arrangement comes back as the user left it."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    window = _window_sized(qtbot, 942, 630)
    window.training.workspaces.begin()
    QApplication.processEvents()
    canvas, live = window.view.viewport(), window.training.live_dock
    assert canvas.width() >= 942 // 2 and canvas.height() >= 630 // 2, canvas.size()
    edit_height = canvas.height()

    qtbot.keyClick(window, Qt.Key.Key_F10)
    QApplication.processEvents()
    assert window.training.workspaces.mode == "train" and canvas.height() < edit_height - 80
    assert not live.visibleRegion().isEmpty()  # the live view is the bottom tab shown
    window.resizeDocks([live], [live.height() - 40], Qt.Orientation.Vertical)  # the user's own arrangement
    QApplication.processEvents()
    users_height = live.height()

    qtbot.keyClick(window, Qt.Key.Key_F10)
    QApplication.processEvents()
    assert window.training.workspaces.mode == "edit" and abs(canvas.height() - edit_height) <= 4
    assert window.training.workspaces.sizes["train"]["bottom"] == users_height  # kept for the way back
    window.training.workspaces.actions["train"].trigger()  # View → Train layout (Ctrl+2)
    QApplication.processEvents()
    assert canvas.height() < edit_height - 30  # the live view has the room again
    window.training.workspaces.save()
    from app import settings as app_settings

    assert app_settings.settings().value("window/layout/mode") == "train"
