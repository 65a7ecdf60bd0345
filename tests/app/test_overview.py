"""Zoomed out the canvas draws one overview picture instead of thousands of items, and still works."""

import sys

from gestures import click, open_graph
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QGraphicsItem
from test_canvas import CHAIN, CHAIN_EDGES

from app.overview import OVERVIEW_ZOOM, Overview
from engine.document import Edge

NO_CONTENTS = QGraphicsItem.GraphicsItemFlag.ItemHasNoContents


def test_zooming_out_switches_to_the_overview_and_back(window, tmp_path):
    open_graph(window, tmp_path, CHAIN, CHAIN_EDGES)
    view, scene = window.view, window.scene
    assert not scene.overview_mode
    view.scale(0.1, 0.1)
    view.zoom_changed()
    assert view.zoom() < OVERVIEW_ZOOM and scene.overview_mode
    item = scene.items_by_id["fc1"]
    assert item.flags() & NO_CONTENTS and all(p.flags() & NO_CONTENTS for p in item.childItems())
    assert all(w.flags() & NO_CONTENTS for w in scene.wires.values())
    image = view.viewport().grab().toImage()
    accent = scene.theme.category_color(item.category)
    centre = view.mapFromScene(item.sceneBoundingRect().center())
    assert image.pixelColor(centre).rgb() == accent.rgb()  # the overview drew fc1's block there

    click(view.viewport(), centre)  # blocks can still be clicked …
    assert scene.selected_node_ids() == ["fc1"]
    window.editor.add_node("ReLU", QPointF(2000, 0))  # … and new nodes join the overview
    assert scene.items_by_id["relu2"].flags() & NO_CONTENTS

    view.reset_zoom()
    assert not scene.overview_mode and not item.flags() & NO_CONTENTS and not scene.items_by_id["relu2"].flags() \
        & NO_CONTENTS


def test_the_overview_follows_edits(window, tmp_path):
    open_graph(window, tmp_path, CHAIN, CHAIN_EDGES)
    view, scene = window.view, window.scene
    view.scale(0.1, 0.1)
    view.zoom_changed()
    before = view.mapFromScene(scene.items_by_id["relu1"].sceneBoundingRect().center())
    window.editor.move({"relu1": (window.doc.nodes["relu1"].position, (600.0, 900.0))})
    image = view.viewport().grab().toImage()
    background = scene.theme.color(scene.theme.background).rgb()
    moved = view.mapFromScene(scene.items_by_id["relu1"].sceneBoundingRect().center())
    assert image.pixelColor(moved).rgb() != background and moved != before
    assert image.pixelColor(before + QPoint(0, 0)).rgb() != scene.theme.category_color("Activation").rgb()


def test_the_minimap_shows_when_the_graph_overflows_and_moves_the_view(window, tmp_path, qtbot):
    open_graph(window, tmp_path, CHAIN, CHAIN_EDGES)
    view, minimap = window.view, window.view.minimap
    qtbot.wait(100)  # opening frames the graph once the window has settled
    assert not minimap.isVisible()  # the whole graph on screen: no minimap
    view.reset_zoom()
    view.scale(3, 3)
    view.zoom_changed()  # what wheel zooming calls
    view.centerOn(window.scene.items_by_id["input1"].sceneBoundingRect().center())
    qtbot.waitUntil(minimap.isVisible)
    image = minimap.grab().toImage()
    assert len({image.pixel(x, y) for x in range(0, image.width(), 4) for y in range(0, image.height(), 4)}) > 3
    target = window.scene.items_by_id["output1"].sceneBoundingRect().center()
    transform, _ = minimap._transform()
    QTest.mouseClick(minimap, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     transform.map(target).toPoint())
    centre = view.mapToScene(view.viewport().rect().center())
    assert abs(centre.x() - target.x()) < 20 and abs(centre.y() - target.y()) < 20


def _picture(overview) -> tuple:
    picture = overview._current()
    blocks = sorted((colour, r.getRect()) for colour, rects in picture.blocks.items() for r in rects)
    lines = sorted((line.x1(), line.y1(), line.x2(), line.y2()) for line in picture.lines)
    return blocks, lines, picture.bounds.getRect()


def test_the_overview_re_reads_only_what_changed_yet_equals_a_picture_drawn_afresh(window, tmp_path):
    """The overview keeps each node's block and each wire's line and re-reads the nodes an edit names;
    after every kind of edit its picture is the one a new overview reads from the whole scene."""
    open_graph(window, tmp_path, CHAIN, CHAIN_EDGES)
    scene, editor = window.scene, window.editor
    edits = [
        lambda: editor.move({"relu1": (window.doc.nodes["relu1"].position, (600.0, 900.0))}),
        lambda: editor.add_node("ReLU", QPointF(2000, 40)),
        lambda: editor.connect(Edge("fc1", "out", "relu2", "in")),
        lambda: editor.set_param("input1", "shape", [1, 28, 28]),  # fc1 now has a problem: it turns red
        lambda: (scene.select_nodes(["input1"]), editor.delete_selection()),
        editor.stack.undo,
        editor.auto_layout,
    ]
    for edit in edits:
        _picture(scene.overview)  # painted before the edit: the next paint must see only the change
        edit()
        scene.validate_now()
        assert _picture(scene.overview) == _picture(Overview(scene))
    colours = {colour for colour, _ in _picture(scene.overview)[0]}
    assert scene.theme.error in colours


def test_the_last_picture_paints_while_a_big_re_read_runs_even_after_a_delete(window, tmp_path, monkeypatch):
    """Re-reading many nodes happens between frames, the last picture painted meanwhile: a node deleted in
    between must not break that paint (its title was looked up among the scene's nodes)."""
    import app.overview as overview
    import app.sliced as sliced

    open_graph(window, tmp_path, CHAIN, CHAIN_EDGES)
    view, scene = window.view, window.scene
    view.resetTransform()
    view.scale(0.29, 0.29)  # overview, with titles
    view.zoom_changed()
    view.center_on_node("relu1")
    view.viewport().repaint()
    monkeypatch.setattr(overview, "REFRESH_AT_ONCE", 1)  # this small graph's re-read goes between frames …
    monkeypatch.setattr(sliced, "SLICE_S", 0.0)  # … and none of it is done at once
    scene.overview.invalidate()
    view.viewport().repaint()
    assert scene.overview._refreshing.running
    errors = []
    monkeypatch.setattr(sys, "excepthook", lambda *info: errors.append(info))
    scene.select_nodes(["relu1"])
    window.editor.delete_selection()
    view.viewport().repaint()
    assert not errors
