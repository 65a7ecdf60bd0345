"""The window shows how long a training step would take: a line in the Analysis dock, a column per node,
the status bar, and a warning in Problems when a step takes minutes (the stats as the worker sends them)."""

from PySide6.QtCore import Qt

from app.analysis_panel import COLUMNS, SORT_ROLE
from app.problems import NODE_ROLE
from app.stats_runner import StatsAnswer
from engine.document import Edge, GraphDocument
from engine.fileformat import save_document
from engine.stats import GraphStats, graph_stats
from engine.step_time import Calibration
from engine.trainability import trainability
from engine.validate import validate

FIXED = Calibration("cpu", 5e10, 3e10, 6e-10, 3e-9, 9e-5, 1.3e-4, {"GRU": 1.2e-4}, {"GRU": 2.5e10})


def gru_graph(steps: int) -> GraphDocument:
    doc = GraphDocument("gru")
    doc.add_node("Input", {"shape": [steps, 4]}, node_id="input1")
    doc.add_node("GRU", {"hidden_size": 16}, node_id="gru1")
    doc.add_node("Linear", {"out_features": 3}, node_id="fc1")
    doc.add_node("Output", node_id="output1")
    for src, dst in (("input1", "gru1"), ("gru1", "fc1"), ("fc1", "output1")):
        doc.add_edge(Edge(src, "out", dst, "in"))
    return doc


def show(window, tmp_path, steps: int) -> GraphStats:
    """Open the graph and hand the window the answer the worker would send (through its JSON form)."""
    path = tmp_path / "gru.json"
    save_document(gru_graph(steps), path)
    assert window.open_path(path)
    report = validate(window.doc)
    stats = graph_stats(window.doc, report, 32, calibration=FIXED)
    diagnostics = trainability(window.doc, report, stats, "cpu")
    window._show_stats(StatsAnswer(GraphStats.from_dict(stats.to_dict()), diagnostics, 16 * 2**30, "RAM", "cpu"))
    return stats


def test_a_step_of_minutes_is_shown_and_listed_as_a_problem_naming_the_gru(window, tmp_path):
    show(window, tmp_path, 1_000_000)
    speed = window.analysis.speed.text()
    assert "≈ 2.1 min per training step on this CPU at batch 32 (gru1 ≈ 2.1 min)" in speed and "Problems" in speed
    assert "≈ 2.1 min/step" in window.params_label.text()
    problems = [window.problems.item(i) for i in range(window.problems.count())]
    (slow,) = [item for item in problems if "one training step would take about 2.1 min" in item.text()]
    assert slow.data(NODE_ROLE) == "gru1" and "gru1 (GRU) runs 1,000,000 sequential steps" in slow.text()

    table = window.analysis.table
    column = COLUMNS.index("Time / step")
    rows = {table.item(r, 0).text(): table.item(r, column) for r in range(table.rowCount())}
    assert rows["gru1"].text() == "2.1 min" and rows["output1"].text() == "0 µs"
    table.sortItems(column, Qt.SortOrder.DescendingOrder)
    assert table.item(0, 0).text() == "gru1"
    times = [table.item(r, column).data(SORT_ROLE) for r in range(table.rowCount())]
    assert times == sorted(times, reverse=True)


def test_a_quick_step_is_a_plain_line_and_no_problem(window, tmp_path):
    stats = show(window, tmp_path, 10)
    assert stats.step_seconds < 0.01
    assert window.analysis.speed.text().startswith("⏱ ≈ ") and "ms per training step on this CPU" in \
        window.analysis.speed.text()
    texts = [window.problems.item(i).text() for i in range(window.problems.count())]
    assert not any("training step" in text for text in texts)
