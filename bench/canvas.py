"""Canvas benchmark: open + auto-layout + first render of big graphs, and repaint time while panning.

    QT_QPA_PLATFORM=offscreen python bench/canvas.py [sizes…]

Graphs are chains of Linear → ReLU blocks with a skip every few blocks (Add), so wires cross
columns. "open" is document load into the window (scene items + validation), "layout" the
auto-layout command, "render" the first full paint of the view, "repaint" the mean of 20 full
repaints of the view while panning at 100 % zoom. Targets: 500 nodes open < 1 s, repaint < 16 ms.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PySide6.QtWidgets import QApplication  # noqa: E402

from engine.document import Edge, GraphDocument  # noqa: E402
from engine.fileformat import dumps  # noqa: E402


def make_graph(n: int) -> GraphDocument:
    doc = GraphDocument(name=f"bench{n}")
    prev = doc.add_node("Input", {"shape": [64]}, (0, 0))
    skip = prev
    while len(doc.nodes) < n - 1:
        fc = doc.add_node("Linear", {"out_features": 64}, (0, 0))
        doc.add_edge(Edge(prev, "out", fc, "in"))
        act = doc.add_node("ReLU", {}, (0, 0))
        doc.add_edge(Edge(fc, "out", act, "in"))
        prev = act
        if len(doc.nodes) % 8 == 0 and len(doc.nodes) < n - 1:
            add = doc.add_node("Add", {}, (0, 0))
            doc.add_edge(Edge(prev, "out", add, "a"))
            doc.add_edge(Edge(skip, "out", add, "b"))
            prev = skip = add
    out = doc.add_node("Output", {}, (0, 0))
    doc.add_edge(Edge(prev, "out", out, "in"))
    return doc


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
    window.editor.auto_layout()
    t2 = time.perf_counter()
    window.view.frame_all()
    window.view.grab()
    t3 = time.perf_counter()
    view = window.view
    view.resetTransform()
    view.centerOn(window.scene.itemsBoundingRect().center())
    view.grab()
    frames = 20
    t4 = time.perf_counter()
    for _ in range(frames):
        view.horizontalScrollBar().setValue(view.horizontalScrollBar().value() + 15)
        view.viewport().repaint()
    t5 = time.perf_counter()
    problems = len(window.scene.report.errors)
    window.editor.stack.setClean()
    window.close()
    return {"nodes": len(window.doc.nodes), "open": t1 - t0, "layout": t2 - t1, "render": t3 - t2,
            "repaint": (t5 - t4) / frames, "errors": problems}


def main(argv: list[str]) -> int:
    import tempfile

    sizes = [int(a) for a in argv] or [100, 500, 2000]
    app = QApplication.instance() or QApplication([])
    print(f"{'nodes':>6} {'open s':>8} {'layout s':>9} {'render s':>9} {'repaint ms':>11} {'errors':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            r = measure(app, n, Path(tmp))
            print(f"{r['nodes']:>6} {r['open']:>8.3f} {r['layout']:>9.3f} {r['render']:>9.3f} "
                  f"{r['repaint'] * 1000:>11.1f} {r['errors']:>7}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
