"""Helpers that drive the canvas the way a user does: mouse on the view's viewport, keys on the view."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from engine.fileformat import to_dict

LEFT = Qt.MouseButton.LeftButton


def open_graph(window, tmp_path: Path, nodes: list, edges: list = (), name: str = "graph") -> Path:
    """Write a graph file and open it through the window, as File → Open would."""
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({
        "format": "layerloom-graph", "version": 1, "name": name,
        "nodes": [{"id": i, "type": t, "params": p, "position": list(pos)} for i, t, p, pos in nodes],
        "edges": [{"from": a, "to": b} for a, b in edges],
    }))
    assert window.files.open(path)
    window.view.resetTransform()
    window.view.centerOn(window.scene.itemsBoundingRect().center())
    window.scene.validate_now()
    return path


def port_point(window, node_id: str, port: str, is_output: bool) -> QPoint:
    item = window.scene.items_by_id[node_id].ports[(port, is_output)]
    return window.view.mapFromScene(item.scenePos())


def node_point(window, node_id: str) -> QPoint:
    """A point on the node's header (grabbing it there moves the node)."""
    item = window.scene.items_by_id[node_id]
    return window.view.mapFromScene(item.pos() + QPointF(80, 10))


def drag(viewport, start: QPoint, end: QPoint, steps: int = 4) -> None:
    QTest.mousePress(viewport, LEFT, Qt.KeyboardModifier.NoModifier, start)
    for i in range(1, steps + 1):
        QTest.mouseMove(viewport, start + (end - start) * (i / steps))
    QTest.mouseRelease(viewport, LEFT, Qt.KeyboardModifier.NoModifier, end)


def click(viewport, point: QPoint, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    QTest.mouseClick(viewport, LEFT, modifier, point)


def doc_state(doc) -> dict:
    """The document as saved, order included: undo must restore nodes and wires where they were."""
    return to_dict(doc)


def drop_from_palette(window, type_id: str, point: QPoint) -> None:
    """Drag the palette's `type_id` entry onto the canvas at viewport `point`.

    QDrag.exec blocks offscreen, so this delivers what it would: enter (which makes the view the
    target), then drop, with the palette's own mime data.
    """
    tree = window.palette.tree
    item = next(i for i in tree.findItems(type_id, Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive)
                if i.parent() is not None)  # the node type, not a category of the same name
    args = (Qt.DropAction.CopyAction, tree.mimeData([item]), LEFT, Qt.KeyboardModifier.NoModifier)
    enter = QDragEnterEvent(point, *args)
    QApplication.sendEvent(window.view.viewport(), enter)
    assert enter.isAccepted()
    QApplication.sendEvent(window.view.viewport(), QDropEvent(QPointF(point), *args))


def problem_texts(window) -> list[str]:
    """The problems panel's rows, as the user reads them."""
    return [window.problems.item(i).text() for i in range(window.problems.count())]


def click_fix(window, text: str) -> None:
    """Click the problem row with a one-click fix whose text contains `text`."""
    from app.problems import FIX_ROLE

    item = next(window.problems.item(i) for i in range(window.problems.count())
                if window.problems.item(i).data(FIX_ROLE) and text in window.problems.item(i).text())
    window.problems.itemClicked.emit(item)
