"""After a run the live view says whether data or compute bounded it, from the run's throughput and its data
pipeline's samples/s (the worker's data_rate artifact)."""

from __future__ import annotations

from app.training.live_view import LiveView
from app.training.runs import RunRecord


def _finished(loader: float, workers: int) -> RunRecord:
    record = RunRecord("run", task_kind="classification")
    record.add({"type": "step", "step": 10, "epoch": 1, "loss": 1.0, "lr": 0.1, "grad_norm": 1.0,
                "layer_grad_norms": {}, "samples_per_s": 1450.0, "mean_samples_per_s": 1450.0})
    record.add({"type": "status", "state": "finished", "reason": "completed", "message": "2 epochs"})
    record.add({"type": "artifact", "kind": "data", "tag": "data_rate", "epoch": 2, "step": 10, "path": "",
                "data": {"samples_per_s": loader, "workers": workers, "placement": "stream"}})
    return record


def test_a_finished_run_says_it_was_data_bound(qtbot):
    view = LiveView()
    qtbot.addWidget(view)
    view.show_run(_finished(1480.0, 2))
    text = view.status.text()
    assert text.startswith("<b>Finished</b>: 2 epochs")
    assert ("data-bound: the loader gives 1,480 samples/s, the step takes at least 1,450/s — raise data_workers"
            in text)
    view.show_run(_finished(9000.0, 2))
    assert "compute-bound: the loader gives 9,000 samples/s, the step takes 1,450/s" in view.status.text()
    view.show_run(RunRecord("run"))  # no measurement: nothing said
    assert "bound" not in view.status.text()
