"""Render the main window with every shipped example to tests/output/ and check it drew something."""

from pathlib import Path

import pytest
from PySide6.QtGui import QColor

from app.templates import EXAMPLES

OUTPUT = Path(__file__).resolve().parents[1] / "output"


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.stem)
def test_example_renders(window, qtbot, example):
    window.resize(1600, 1000)  # a desktop window: the details are drawn (small windows get the overview)
    assert window.files.new_from_template(example)
    shown = lambda: window.view.mapToScene(window.view.viewport().rect()).boundingRect()
    qtbot.waitUntil(lambda: shown().contains(window.scene.itemsBoundingRect()))  # framed
    window.scene.validate_now()
    image = window.grab().toImage()
    OUTPUT.mkdir(exist_ok=True)
    image.save(str(OUTPUT / f"window_{example.stem}.png"))

    canvas = window.view.grab().toImage()
    background = QColor(window.theme.background).rgb()
    step = 3
    samples = [canvas.pixel(x, y) for x in range(0, canvas.width(), step) for y in range(0, canvas.height(), step)]
    drawn = sum(p != background for p in samples) / len(samples)
    tinted = sum(QColor(p).saturation() > 80 for p in samples) / len(samples)  # node headers; the grid is grey
    assert len(set(samples)) > 40, "the canvas is nearly blank"
    assert drawn > 0.05, f"only {drawn:.1%} of the canvas is not background"
    assert tinted > 0.01, f"only {tinted:.1%} of the canvas shows node colours"
    for node_id in window.doc.nodes:  # every node is inside the framed view
        item = window.scene.items_by_id[node_id]
        assert window.view.mapToScene(window.view.viewport().rect()).boundingRect().contains(item.sceneBoundingRect())
