"""What the Runs list says of a run whose trainer still writes to it: paused, running, or ended —
read from the run folders alone (status events written as engine/train/events.py says)."""

from __future__ import annotations

import json

import pytest

from app.training.run_list import RunsPanel
from app.training.runs import RunRecord


def _status(state: str, message: str = "") -> dict:
    return {"type": "status", "state": state, "reason": None, "message": message, "time": 0.0}


def _write_run(store, name: str, states: list[str]):
    run_dir = store / name
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps({"label": name, "created": 1.0 + len(list(store.iterdir()))}))
    lines = [_status(state, f"{state} at step 7" if state in ("paused", "resumed") else "") for state in states]
    (run_dir / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines))
    return run_dir


@pytest.fixture
def panel(qtbot):
    widget = RunsPanel()
    qtbot.addWidget(widget)
    return widget


def test_the_list_reads_a_paused_run_as_paused_until_it_goes_on(panel, tmp_path):
    store = tmp_path / "graph.runs"
    paused = _write_run(store, "held", ["started", "paused"])
    again = _write_run(store, "going-on", ["started", "paused", "resumed"])
    stopped = _write_run(store, "stopped-while-paused", ["started", "paused", "stopped"])
    panel.set_store(store)
    states = {panel.tree.topLevelItem(i).text(0): panel.tree.topLevelItem(i).text(2)
              for i in range(panel.tree.topLevelItemCount())}
    assert states == {"held": "paused", "going-on": "running", "stopped-while-paused": "stopped"}
    panel.set_busy(True)  # this window trains the paused run
    panel.select(paused)
    assert "<b>paused</b>" in panel.details.text() and "training now" not in panel.details.text()
    assert not panel.resume_button.isEnabled()  # Resume (F7) unpauses it; the list offers no second run of it
    panel.set_busy(False)
    panel.select(paused)
    assert "paused at step 7" in panel.details.text()
    assert {again, stopped} <= {run.path for run in panel.runs}


def test_a_record_read_back_from_its_events_knows_the_run_is_paused(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    started = {"type": "started", "config": {"epochs": 2}, "dataset": "d", "params": 1, "device": "cpu",
               "world_size": 1, "resumed_step": 0, "steps_per_epoch": 5}
    lines = [_status("started"), started, _status("paused", "paused at step 3")]
    (run_dir / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines))
    record = RunRecord.from_file(run_dir / "events.jsonl")
    assert record.paused and record.active
    record.add(_status("resumed", "resumed at step 3"))
    assert not record.paused
