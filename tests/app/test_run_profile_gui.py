"""A run profiled at its start (training.profile): selecting it shows its profile.json in the Profile dock and
its measured time and memory beside the Analysis dock's estimates; an edit takes both away."""

from __future__ import annotations

import json

from app.analysis_panel import COLUMNS, SORT_ROLE
from app.stats_runner import StatsAnswer
from app.templates import EXAMPLES
from engine.stats import graph_stats
from engine.validate import validate


def test_selecting_a_profiled_run_lists_measured_beside_estimated(qtbot, window):
    assert window.files.new_from_template(EXAMPLES / "digits_mlp.json")
    training, doc = window.training, window.doc
    report = validate(doc)
    window.analysis.show_stats(StatsAnswer(graph_stats(doc, report, 32)), doc, report)
    table = window.analysis.table
    memory, time = COLUMNS.index("Measured memory"), COLUMNS.index("Measured time")
    assert table.isColumnHidden(memory) and table.isColumnHidden(time)  # no profile yet
    node = next(iter(doc.nodes))
    profile = {"device": "cpu", "batch_size": 32, "steps": 5, "step_s": 0.004,
               "nodes": {node: {"forward_s": 0.001, "backward_s": 0.002, "activation_bytes": 4096}}}
    run_dir = training.store.resolve() / "profiled-20260101-000000"
    run_dir.mkdir(parents=True)
    (run_dir / "profile.json").write_text(json.dumps(profile))
    (run_dir / "events.jsonl").write_text(json.dumps(
        {"type": "status", "state": "finished", "reason": None, "message": "finished 1 epochs"}) + "\n")
    training.runs_panel.refresh()
    training.runs_panel.select(run_dir)
    assert training.profiling.panel.record == profile
    assert not table.isColumnHidden(memory) and not table.isColumnHidden(time)
    rows = {table.item(r, 0).text(): r for r in range(table.rowCount())}
    assert table.item(rows[node], memory).text() == "4.0 KiB"
    assert abs(table.item(rows[node], time).data(SORT_ROLE) - 0.003) < 1e-12
    assert table.item(rows[node], time).text() == "3.0 ms"  # as the estimates beside it are written
    other = next(n for n in rows if n != node)
    assert table.item(rows[other], memory).text() == "—"  # not measured
    linear = next(n for n, state in doc.nodes.items() if state.type_id == "Linear")
    window.editor.set_param(linear, "bias", False)  # an edit: the numbers described the graph as profiled
    assert table.isColumnHidden(memory) and training.profiling.panel.record is None
