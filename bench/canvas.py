"""Canvas benchmark: open, auto-layout, frames zoomed out and at 100 %, a param edit revalidated, and
the longest pause of the event loop over a round of edits.

    QT_QPA_PLATFORM=offscreen python bench/canvas.py [sizes…]      (default 500 2000 5000 10000)

Graphs are chains of Linear → ReLU blocks with a skip every few blocks (Add), so wires cross
columns, saved with the nodes in rows of 60 (as a user might have left them). "open" is document
load into the window (scene items + validation); "layout" the auto-layout command (Ctrl+L) until it
is applied, wires re-routed and the graph revalidated; "zoomed out" and "100 %" the median of 20
full repaints of the view while panning, framed on the whole graph and at zoom 1; "drag" one step of
moving a node at 100 % (its wires follow, the view repaints); "edit" one parameter change until the
graph is revalidated and relabelled; "pause" the longest turn of the event loop (what a user feels as
a freeze) from each of these edits until its aftermath settled, zoomed out with the minimap showing:
a param edit, add a node, wire it, cut the chain by deleting a node, undo, auto-layout, undo it.
Targets at 5,000 nodes (issue 13): zoomed-out frame ≤ 16 ms, open ≤ 1.5 s, edit ≤ 20 ms, drag ≤ 16 ms,
pause ≤ 50 ms.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtCore import QPointF  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from engine.document import Edge, GraphDocument  # noqa: E402
from engine.fileformat import dumps  # noqa: E402

ROW = 60  # nodes per row in the saved arrangement


def make_graph(n: int) -> GraphDocument:
    doc = GraphDocument(name=f"bench{n}")

    def place() -> tuple[float, float]:
        return (len(doc.nodes) % ROW * 260.0, len(doc.nodes) // ROW * 220.0)

    prev = doc.add_node("Input", {"shape": [64]}, place())
    skip = prev
    while len(doc.nodes) < n - 1:
        fc = doc.add_node("Linear", {"out_features": 64}, place())
        doc.add_edge(Edge(prev, "out", fc, "in"))
        act = doc.add_node("ReLU", {}, place())
        doc.add_edge(Edge(fc, "out", act, "in"))
        prev = act
        if len(doc.nodes) % 8 == 0 and len(doc.nodes) < n - 1:
            add = doc.add_node("Add", {}, place())
            doc.add_edge(Edge(prev, "out", add, "a"))
            doc.add_edge(Edge(skip, "out", add, "b"))
            prev = skip = add
    out = doc.add_node("Output", {}, place())
    doc.add_edge(Edge(prev, "out", out, "in"))
    return doc


def busy(window) -> bool:
    """Work the canvas still has queued for later turns of the event loop."""
    scene = window.scene
    return (scene._timer.isActive() or scene._validating.running or scene._moving.running
            or scene.overview._refreshing.running or window.editor._laying_out.running)


def settle(app: QApplication, window, limit_s: float = 30.0) -> tuple[float, float]:
    """Turn the event loop until the canvas has nothing queued (and 0.2 s more, for paints); return the
    longest turn and when the queue emptied."""
    longest, idle_since, end = 0.0, 0.0, time.perf_counter() + limit_s
    while time.perf_counter() < end:
        t = time.perf_counter()
        app.processEvents()
        longest = max(longest, time.perf_counter() - t)
        if busy(window):
            idle_since = 0.0
        elif not idle_since:
            idle_since = time.perf_counter()
        elif time.perf_counter() > idle_since + 0.2:
            break
    return longest, idle_since


def longest_pause(app: QApplication, window) -> float:
    """The longest turn of the event loop over a round of edits, each timed from the call that makes it."""
    editor, scene = window.editor, window.scene
    window.view.frame_all()
    settle(app, window)

    def cut() -> None:
        scene.select_nodes(["relu3"])
        editor.delete_selection()

    def add_and_wire() -> None:
        node = editor.add_node("ReLU", QPointF(-400, -400))
        editor.connect(Edge("fc2", "out", node, "in"))

    edits = [lambda: editor.set_param("fc2", "out_features", 48), add_and_wire, editor.stack.undo, cut,
             editor.stack.undo, window.view.auto_layout, editor.stack.undo]
    pauses = []
    for edit in edits:
        t = time.perf_counter()
        edit()
        call = time.perf_counter() - t
        pauses.append(max(call, settle(app, window)[0]))
    return max(pauses)


def frames(app: QApplication, view, count: int = 20) -> float:
    """Median seconds of a full repaint while panning."""
    times = []
    for _ in range(count):
        view.horizontalScrollBar().setValue(view.horizontalScrollBar().value() + 15)
        t = time.perf_counter()
        view.viewport().repaint()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def drag_frames(window, count: int = 20) -> float:
    """Median seconds of one step of dragging a node on screen (move, wires follow, repaint)."""
    view = window.view
    centre = view.mapToScene(view.viewport().rect().center())
    item = min(window.scene.items_by_id.values(), key=lambda i: (i.pos() - centre).manhattanLength())
    item.setSelected(True)
    times = []
    for step in range(count):
        t = time.perf_counter()
        item.setPos(item.pos() + QPointF(4 if step % 2 else -4, 3))
        window.scene.route_wires_of(item)
        view.viewport().repaint()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def measure(app: QApplication, n: int, folder: Path) -> dict[str, float]:
    from app.main_window import MainWindow

    path = folder / f"bench_{n}.json"
    path.write_text(dumps(make_graph(n)))
    window = MainWindow(theme_name="dark")
    window.resize(1400, 860)
    window.show()
    app.processEvents()
    t0 = time.perf_counter()
    window.files.open(path)
    window.scene.validate_now()
    t1 = time.perf_counter()
    window.view.auto_layout()
    t2 = settle(app, window)[1]
    view = window.view
    view.frame_all()
    view.viewport().repaint()
    zoomed_out = frames(app, view)
    view.reset_zoom()
    view.centerOn(window.scene.itemsBoundingRect().center())
    view.viewport().repaint()
    full = frames(app, view)
    drag = drag_frames(window)
    t3 = time.perf_counter()
    window.editor.set_param("fc1", "out_features", 32)
    window.scene.validate_now()
    t4 = time.perf_counter()
    problems = len(window.scene.report.errors)
    pause = longest_pause(app, window)
    window.editor.stack.setClean()
    window.close()
    return {"nodes": len(window.doc.nodes), "open": t1 - t0, "layout": t2 - t1, "zoomed_out": zoomed_out,
            "full": full, "drag": drag, "edit": t4 - t3, "pause": pause, "errors": problems}


def main(argv: list[str]) -> int:
    import tempfile

    sizes = [int(a) for a in argv] or [500, 2000, 5000, 10000]
    app = QApplication.instance() or QApplication([])
    print(f"{'nodes':>6} {'open s':>8} {'layout s':>9} {'zoomed out ms':>14} {'100 % ms':>9} {'drag ms':>8} "
          f"{'edit ms':>8} {'pause ms':>9} {'errors':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            r = measure(app, n, Path(tmp))
            print(f"{r['nodes']:>6} {r['open']:>8.3f} {r['layout']:>9.3f} {r['zoomed_out'] * 1000:>14.1f} "
                  f"{r['full'] * 1000:>9.1f} {r['drag'] * 1000:>8.1f} {r['edit'] * 1000:>8.1f} "
                  f"{r['pause'] * 1000:>9.1f} {r['errors']:>7}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
