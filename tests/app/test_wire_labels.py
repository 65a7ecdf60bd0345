"""Wire shape labels never cover a node's title: each shipped template opened as a user would, looked at
zoomed from where details first show to 200 %, on screen and in the labels' geometry."""

import pytest
from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QColor

from app.node_item import DETAIL_LOD, HEADER, RADIUS, WIDTH
from app.templates import EXAMPLES

TEMPLATES = sorted(EXAMPLES.glob("*.json"))
ZOOMS = (DETAIL_LOD, 0.6, 0.75, 0.9, 1.0, 1.25, 2.0)


def title_area(item) -> QRectF:
    return QRectF(item.x(), item.y(), WIDTH, HEADER)


def set_zoom(view, zoom: float, centre: QPointF) -> None:
    view.resetTransform()
    view.scale(zoom, zoom)
    view.centerOn(centre)
    view.zoom_changed()


def label_pixels_on_titles(window) -> list[str]:
    """Node titles on screen with a pixel of the label background in them (a header never has that colour:
    only its rounded top corners show the canvas, which is the same colour, so those are left out)."""
    view, scene = window.view, window.scene
    image = view.viewport().grab().toImage()
    label_bg = QColor(scene.theme.label_bg).rgb()
    covered = []
    for node_id, item in scene.items_by_id.items():
        rect = view.mapFromScene(title_area(item)).boundingRect()
        inset = int(RADIUS * view.zoom()) + 2
        rect = rect.adjusted(inset, 2, -inset, -2).intersected(image.rect())
        hits = sum(image.pixel(x, y) == label_bg for x in range(rect.left(), rect.right() + 1, 2)
                   for y in range(rect.top(), rect.bottom() + 1))
        if hits:
            covered.append(f"{node_id} ({hits} px)")
    return covered


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.stem)
def test_no_wire_label_covers_a_node_title(window, template):
    window.resize(1600, 1000)
    assert window.files.new_from_template(template)
    window.scene.validate_now()
    scene, view = window.scene, window.view
    labelled = [wire for wire in scene.wires.values() if wire.label]
    assert labelled, "the template's wires carry their shapes"
    centre = scene.itemsBoundingRect().center()
    on_screen = {}
    for zoom in ZOOMS:
        set_zoom(view, zoom, centre)
        on_screen[zoom] = label_pixels_on_titles(window)
    assert on_screen == {zoom: [] for zoom in ZOOMS}
    for zoom in ZOOMS:
        for wire in labelled:  # off screen too
            rect = wire.label_rect(zoom)
            if rect is not None:
                assert not any(rect.intersects(title_area(item)) for item in scene.items_by_id.values()), \
                    (template.stem, zoom, str(wire.edge))


def test_labels_show_where_there_is_room_and_move_below_the_wire_before_hiding(window):
    window.resize(1600, 1000)
    assert window.files.new_from_template(EXAMPLES / "digits_cnn.json")
    window.scene.validate_now()
    wires = [w for w in window.scene.wires.values() if w.label]
    assert all(w.label_rect(1.0) is not None for w in wires)  # at 100 % every shape shows
    bn1 = next(w for w in wires if w.edge.dst == "bn1")  # a short wire between two nodes of a row
    above, below = bn1.label_rect(1.0), bn1.label_rect(0.7)
    y = window.scene.items_by_id["bn1"].port_pos("in", False).y()
    assert above.bottom() < y < below.top()  # too wide for the gap at 70 %: under the wire, clear of the titles
    assert bn1.label_rect(DETAIL_LOD) is None and bn1.toolTip() == bn1.label  # no room: hidden, told on hover


def test_a_label_moves_when_a_node_is_dragged_over_it(window, tmp_path):
    from gestures import drag, node_point, open_graph

    window.resize(1600, 1000)
    open_graph(window, tmp_path, [("fc1", "Linear", {"out_features": 8}, (0, 0)),
                                  ("relu1", "ReLU", {}, (600, 0)),
                                  ("input1", "Input", {"shape": [4]}, (-300, 0)),
                                  ("drop1", "Dropout", {}, (300, 300))],
               [("input1.out", "fc1.in"), ("fc1.out", "relu1.in")])
    wire = next(w for w in window.scene.wires.values() if w.edge.dst == "relu1")
    before = wire.label_rect(1.0)
    assert before is not None
    target = window.view.mapFromScene(before.center() + QPointF(-80, -30))  # drop1's header onto the label
    drag(window.view.viewport(), node_point(window, "drop1"), target)
    moved = wire.label_rect(1.0)
    assert moved != before and not moved.intersects(title_area(window.scene.items_by_id["drop1"]))
