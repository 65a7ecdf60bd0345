"""The headless training worker, driven over its JSON-line protocol by a real subprocess.

One worker process serves every test in this module (torch takes seconds to import); the tests run
in file order and each leaves the worker idle for the next.
"""

from __future__ import annotations

import csv
import json
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from engine.fileformat import load_document, to_dict

ROOT = Path(__file__).resolve().parents[2]
DIGITS_MLP = ROOT / "resources" / "examples" / "digits_mlp.json"
pytestmark = pytest.mark.slow


class WorkerProcess:
    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, "-m", "engine.train.worker"], cwd=ROOT, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))

    def send(self, **command) -> None:
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()

    def next(self, timeout: float = 60) -> dict:
        return self.lines.get(timeout=timeout)

    def until(self, predicate, timeout: float = 120) -> list[dict]:
        """Messages up to and including the first one `predicate` accepts."""
        seen, deadline = [], time.monotonic() + timeout
        while True:
            seen.append(self.lines.get(timeout=max(0.1, deadline - time.monotonic())))
            if predicate(seen[-1]):
                return seen


@pytest.fixture(scope="module")
def worker():
    process = WorkerProcess()
    yield process
    if process.proc.poll() is None:
        process.proc.kill()
        process.proc.wait()


@pytest.fixture(scope="module")
def graph() -> dict:
    return to_dict(load_document(DIGITS_MLP))


@pytest.fixture(scope="module")
def trained(worker, graph, tmp_path_factory) -> tuple[Path, list[dict]]:
    run_dir = tmp_path_factory.mktemp("run")
    worker.send(cmd="train", graph=graph, run_dir=str(run_dir), epochs=2, device="cpu")
    return run_dir, worker.until(lambda m: m["type"] in ("run_end", "worker_error"))


def of_type(messages, kind):
    return [m for m in messages if m["type"] == kind]


def test_ready_message_reports_threads_and_devices(worker):
    ready = worker.next()
    assert ready["type"] == "ready" and ready["pid"] == worker.proc.pid
    assert ready["threads"] >= 1
    assert ready["cpu_only"] is (ready["cuda"] == [])
    cpu, *gpus = ready["devices"]  # what the device picker lists, each with its memory
    assert cpu["id"] == "cpu" and cpu["memory_bytes"] > 2**28
    assert [g["name"] for g in gpus] == ready["cuda"] and all(g["memory_bytes"] > 0 for g in gpus)


def test_train_streams_events_and_writes_metrics_csv(trained):
    run_dir, messages = trained
    assert messages[-1]["type"] == "run_end" and messages[-1]["result"]["state"] == "finished"
    steps = of_type(messages, "step")
    assert steps and set(steps[-1]["layer_grad_norms"]) == {"fc1", "fc2"}
    assert steps[-1]["step"] == messages[-1]["result"]["step"]
    epochs = of_type(messages, "epoch")
    with open(run_dir / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert [float(r["val_loss"]) for r in rows] == pytest.approx([e["val_loss"] for e in epochs])
    assert (run_dir / "events.jsonl").is_file() and (run_dir / "best.safetensors").is_file()


def test_evaluate_agrees_with_the_trainers_validation(worker, graph, trained):
    run_dir, messages = trained
    best = of_type(messages, "checkpoint")[-1]
    assert best["tag"] == "best"
    val_accuracy = next(e["val_accuracy"] for e in of_type(messages, "epoch") if e["epoch"] == best["epoch"])
    worker.send(cmd="evaluate", graph=graph, weights=str(run_dir), id=7)
    reply = worker.next()
    assert reply["type"] == "evaluation" and reply["id"] == 7
    confusion = reply["confusion"]
    assert len(confusion) == 10 and len(reply["class_names"]) == 10
    total = sum(map(sum, confusion))
    assert total == 360  # digits' validation split
    assert sum(confusion[i][i] for i in range(10)) / total == pytest.approx(val_accuracy, abs=1e-6)
    sample = reply["samples"][0]
    assert sample["shape"] == [1, 8, 8] and len(sample["top"]) == 3
    probs = [p for _, p in sample["top"]]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0 + 1e-6


def test_export_writes_onnx_that_passes_parity(worker, graph, trained, tmp_path):
    run_dir, _ = trained
    worker.send(cmd="export", graph=graph, weights=str(run_dir), onnx=str(tmp_path / "out" / "model.onnx"),
                python=str(tmp_path / "out" / "model.py"))
    reply = worker.next(timeout=120)
    assert reply["type"] == "export_result", reply
    assert reply["passed"] is True and "passed" in reply["summary"]
    assert str(tmp_path / "out" / "model.onnx") in reply["paths"]
    assert all(Path(p).is_file() for p in reply["paths"])


def test_pause_blocks_steps_and_stop_ends_the_run_cleanly(worker, graph, tmp_path):
    worker.send(cmd="train", graph=graph, run_dir=str(tmp_path / "long"), epochs=500, device="cpu")
    worker.until(lambda m: m["type"] == "step")
    worker.send(cmd="pause")
    worker.until(lambda m: m["type"] == "control" and m["state"] == "paused")
    time.sleep(0.3)  # at most one step was in flight when the pause arrived
    while not worker.lines.empty():
        worker.next()
    time.sleep(0.6)
    assert worker.lines.empty(), "steps kept coming while paused"
    worker.send(cmd="resume")
    worker.until(lambda m: m["type"] == "step")
    worker.send(cmd="stop")
    messages = worker.until(lambda m: m["type"] == "run_end")
    status = of_type(messages, "status")[-1]
    assert (status["state"], status["reason"]) == ("stopped", "request")
    assert messages[-1]["result"]["epochs"] < 500


def test_user_errors_are_reported_and_the_worker_keeps_serving(worker, graph, tmp_path):
    bad = {**graph, "training": {**graph["training"], "optimizer": {"name": "adam", "lr": -1}}}
    worker.send(cmd="train", graph=bad, run_dir=str(tmp_path / "bad"))
    error = worker.until(lambda m: m["type"] == "worker_error")[-1]
    assert error["cmd"] == "train" and "training.optimizer.lr" in error["message"]
    worker.proc.stdin.write("this is not json\n")
    worker.proc.stdin.flush()
    assert worker.next()["type"] == "worker_error"
    worker.send(cmd="describe_dataset", dataset={"name": "wine"})
    info = worker.next()
    assert info["type"] == "dataset_info" and info["input_shape"] == [13] and info["num_classes"] == 3
    assert len(info["samples"]) == 6 and all(len(s["x"]) == 13 and s["label"] in info["class_names"]
                                             for s in info["samples"])
    worker.send(cmd="describe_dataset", dataset={"name": "nope"})
    assert "unknown dataset 'nope'" in worker.next()["message"]


def test_quit_exits_cleanly(worker):
    worker.send(cmd="quit")
    assert worker.proc.wait(timeout=30) == 0
