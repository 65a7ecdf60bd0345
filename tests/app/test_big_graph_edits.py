"""A big graph's validation runs in slices between turns of the event loop, so an edit never freezes
the window, and what it finally shows is exactly the full validation's result."""

import itertools

from gestures import open_graph
from PySide6.QtCore import QPointF

from app.problems import MAX_LISTED
from engine.document import Edge
from engine.validate import validate


def _chain(length: int):
    nodes = [("input1", "Input", {"shape": [8]}, (0, 0))]
    nodes += [(f"relu{i}", "ReLU", {}, (200 * i, 0)) for i in range(1, length + 1)]
    nodes += [("output1", "Output", {}, (200 * (length + 1), 0))]
    ids = [n[0] for n in nodes]
    return nodes, [(f"{a}.out", f"{b}.in") for a, b in itertools.pairwise(ids)]


def _labels(window) -> dict:
    return {edge: wire.label for edge, wire in window.scene.wires.items()}


def test_cutting_a_big_chain_validates_in_slices_and_ends_where_a_full_validation_does(window, tmp_path, qtbot):
    open_graph(window, tmp_path, *_chain(1500))
    scene = window.scene
    turns = []
    scene.validated.connect(lambda report: turns.append(report))
    scene.select_nodes(["relu500"])
    window.editor.delete_selection()
    scene._timer.timeout.emit()  # what the event loop does next: the first slice …
    assert scene._validating.running and not turns  # … does not finish a 1,500-node validation
    qtbot.waitUntil(lambda: bool(turns), timeout=10_000)
    full = validate(window.doc)
    assert turns[-1].diagnostics == full.diagnostics and turns[-1].shapes == full.shapes
    cut = {d.node for d in full.diagnostics if "not connected to any Input" in d.message}
    assert len(cut) == 1001 and all(scene.items_by_id[n].problems for n in cut)  # relu501 … output1
    assert all(label == "" for edge, label in _labels(window).items() if edge.src in cut)
    # the problems panel lists the first ones and counts the rest
    panel = window.problems
    more = f"and {len(full.diagnostics) - MAX_LISTED:,} more"
    assert more in panel.item(MAX_LISTED).text()  # (the checks against the dataset, if any, come after)
    assert not any("more" in panel.item(i).text() for i in range(MAX_LISTED))


def test_an_edit_during_a_sliced_validation_starts_it_again(window, tmp_path, qtbot):
    open_graph(window, tmp_path, *_chain(1500))
    scene = window.scene
    scene.select_nodes(["relu500"])
    window.editor.delete_selection()
    scene._timer.timeout.emit()
    assert scene._validating.running
    window.editor.stack.undo()  # the graph is whole again before the validation of the cut one ended
    assert not scene._validating.running
    added = window.editor.add_node("ReLU", QPointF(0, 300))
    window.editor.connect(Edge("input1", "out", added, "in"))
    qtbot.waitUntil(lambda: not scene._validating.running and not scene._timer.isActive(), timeout=10_000)
    full = validate(window.doc)
    assert scene.report.diagnostics == full.diagnostics and scene.report.shapes == full.shapes
    assert not any(item.problems for node_id, item in scene.items_by_id.items() if node_id != "output1")
    assert _labels(window)[Edge("relu1000", "out", "relu1001", "in")] == "(N, 8)"
