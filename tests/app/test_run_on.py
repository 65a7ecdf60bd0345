"""Training ▸ Run on… (this machine's processes under torchrun, or a cluster's launch bundle) and
Training ▸ Follow a run folder… (a run another machine writes, watched live from its events.jsonl)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtWidgets import QApplication, QFileDialog

from app.templates import EXAMPLES
from app.training import torchrun_process
from app.training.torchrun_process import TorchrunProcess, descendants
from engine.document import Edge, GraphDocument
from engine.fileformat import save_document
from engine.launch.bundle import FILES

WORKER_MS = 90_000  # a cold worker on a busy 2-core machine imports torch slowly


def iris_mlp(epochs: int) -> GraphDocument:
    """Input (4,) → Linear 16 → ReLU → Linear 3, cross-entropy against the iris labels (120 samples)."""
    doc = GraphDocument("iris mlp")
    for type_id, params, node_id in (("Input", {"shape": [4], "dtype": "float32"}, "input1"),
                                     ("Linear", {"out_features": 16}, "fc1"), ("ReLU", {}, "relu1"),
                                     ("Linear", {"out_features": 3}, "fc2"), ("Output", {}, "output1"),
                                     ("Target", {"shape": [], "dtype": "int64"}, "target1"),
                                     ("CrossEntropyLoss", {}, "loss1")):
        doc.add_node(type_id, params, node_id=node_id)
    for edge in (("input1", "out", "fc1", "in"), ("fc1", "out", "relu1", "in"), ("relu1", "out", "fc2", "in"),
                 ("fc2", "out", "output1", "in"), ("fc2", "out", "loss1", "pred"),
                 ("target1", "out", "loss1", "target")):
        doc.add_edge(Edge(*edge))
    doc.training = {"dataset": {"name": "iris"}, "optimizer": {"name": "adam", "lr": 0.01}, "epochs": epochs,
                    "batch_size": 16, "device": "cpu"}
    return doc


def open_run_on(qtbot, window):
    window.training.run_on.actions["run_on"].trigger()
    dialog = window.training.run_on.dialog
    qtbot.waitExposed(dialog)
    return dialog


def choose(qtbot, radio) -> None:
    """Click a radio button on its indicator (the widget is as wide as the dialog; its text is not)."""
    qtbot.mouseClick(radio, Qt.MouseButton.LeftButton, pos=QPoint(8, radio.height() // 2))


def retype(qtbot, field, text: str) -> None:
    field.setFocus()
    qtbot.keyClick(field, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(field, text)


def test_run_on_a_cluster_writes_a_bundle_whose_files_parse(qtbot, window, tmp_path):
    assert window.files.new_from_template(EXAMPLES / "digits_mlp.json")
    dialog = open_run_on(qtbot, window)
    choose(qtbot, dialog.cluster)
    assert dialog.go.text() == "Write bundle" and dialog.cluster_box.isEnabled() and not dialog.local_box.isEnabled()
    retype(qtbot, dialog.nodes, "2")
    retype(qtbot, dialog.gpus, "4")
    retype(qtbot, dialog.restarts, "2")
    qtbot.keyClicks(dialog.endpoint, "head-node:29500")
    dialog.strategy.setFocus()
    qtbot.keyClick(dialog.strategy, Qt.Key.Key_Down)  # ddp → fsdp
    folder, shared = tmp_path / "bundle", tmp_path / "shared" / "run"
    retype(qtbot, dialog.folder, str(folder))
    qtbot.keyClicks(dialog.run_dir, str(shared))
    qtbot.mouseClick(dialog.go, Qt.MouseButton.LeftButton)

    assert dialog.isVisible() and dialog.result.isVisible() and not dialog.error.isVisible()
    assert all((folder / name).is_file() for name in FILES)
    task = yaml.safe_load((folder / "skypilot.yaml").read_text())
    assert task["num_nodes"] == 2 and task["resources"] == {"accelerators": {"A100": 4}}
    assert "--nproc-per-node=4" in task["run"] and "--strategy fsdp" in task["run"] and str(shared) in task["run"]
    manifest = json.loads((folder / "launch.json").read_text())
    assert manifest["plan"]["nodes"] == 2 and manifest["plan"]["rdzv_endpoint"] == "head-node:29500"
    assert manifest["run_dir"] == str(shared)
    assert json.loads((folder / "graph.json").read_text())["training"]["device"] == "cuda"
    assert json.loads((folder / "config.json").read_text())["device"] == "cuda"
    for name, shell in (("torchrun.sh", "sh"), ("slurm.sbatch", "bash")):  # both parse as shell scripts
        subprocess.run([shell, "-n", str(folder / name)], check=True)
    slurm = (folder / "slurm.sbatch").read_text()
    assert "#SBATCH --nodes=2" in slurm and "#SBATCH --gpus-per-node=4" in slurm

    command = dialog.command.toPlainText()  # what the dialog shows to copy is what every host runs
    assert f"exec {command}\n" in (folder / "torchrun.sh").read_text()
    assert "--nnodes=2" in command and "--rdzv-endpoint=head-node:29500" in command and "--max-restarts=2" in command
    assert all(str(folder / name) in dialog.files.text() for name in ("torchrun.sh", "skypilot.yaml", "slurm.sbatch"))
    qtbot.mouseClick(dialog.copy, Qt.MouseButton.LeftButton)
    assert QApplication.clipboard().text() == command
    assert str(folder) in window.statusBar().currentMessage()


def test_a_bad_rendezvous_endpoint_is_named_and_nothing_is_written(qtbot, window, tmp_path):
    dialog = open_run_on(qtbot, window)
    choose(qtbot, dialog.cluster)
    qtbot.keyClicks(dialog.endpoint, "head node")
    retype(qtbot, dialog.folder, str(tmp_path / "bundle"))
    qtbot.mouseClick(dialog.go, Qt.MouseButton.LeftButton)
    assert dialog.error.isVisible() and dialog.error.text().startswith("Rendezvous endpoint: expected HOST:PORT")
    assert dialog.endpoint.styleSheet() and not dialog.result.isVisible()
    assert not (tmp_path / "bundle").exists()


def events_of_a_run(epochs: int = 2, steps_per_epoch: int = 4) -> list[dict]:
    """What rank 0 of a small classification run writes to events.jsonl (engine/train/events.py)."""
    config = {"dataset": {"name": "iris"}, "epochs": epochs, "batch_size": 16, "device": "cuda"}
    events = [{"type": "status", "state": "started", "reason": None, "message": "training iris mlp"},
              {"type": "started", "config": config, "dataset": "iris: 120 train / 30 val", "params": 131,
               "device": "cuda", "world_size": 8, "resumed_step": 0, "steps_per_epoch": steps_per_epoch,
               "task_kind": "classification"}]
    for epoch in range(1, epochs + 1):
        for i in range(1, steps_per_epoch + 1):
            step = (epoch - 1) * steps_per_epoch + i
            events.append({"type": "step", "step": step, "epoch": epoch, "loss": 1.5 / step, "lr": 0.01,
                           "grad_norm": 0.5, "layer_grad_norms": {"fc1": 0.3, "fc2": 0.4}, "samples_per_s": 900.0})
        events.append({"type": "epoch", "epoch": epoch, "train_loss": 1.0 / epoch, "val_loss": 1.1 / epoch,
                       "train_accuracy": 0.5, "val_accuracy": 0.6, "lr": 0.01, "seconds": 0.1})
    return events + [{"type": "status", "state": "finished", "reason": None, "message": f"finished {epochs} epochs"}]


class Writer:
    """Rank 0 on another machine: appends events.jsonl a piece at a time on a timer, lines split mid-way."""

    def __init__(self, path: Path, events: list[dict], interval_ms: int = 30):
        self.path, self.pieces = path, []
        for event in events:
            line = json.dumps(event) + "\n"
            self.pieces += [line[: len(line) // 2], line[len(line) // 2:]]
        self.timer = QTimer(interval=interval_ms)
        self.timer.timeout.connect(self.write)

    def write(self, count: int = 1) -> None:
        with open(self.path, "a", encoding="utf-8") as handle:
            for _ in range(min(count, len(self.pieces))):
                handle.write(self.pieces.pop(0))
        if not self.pieces:
            self.timer.stop()


def test_following_a_run_folder_shows_its_events_as_they_are_written(qtbot, window, tmp_path, monkeypatch):
    graph = tmp_path / "iris.json"
    save_document(iris_mlp(epochs=2), graph)
    assert window.files.open(graph)
    controller = window.training
    run_dir = tmp_path / "iris.runs" / "on-the-cluster"  # the bundle's run folder, in the graph's store
    run_dir.mkdir(parents=True)
    (run_dir / "graph.json").write_text(graph.read_text())  # the cluster's rank 0 writes it as the run starts
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *args, **kwargs: str(run_dir))
    controller.run_on.actions["follow"].trigger()
    assert "waiting for its first events" in controller.live.status.text()

    writer = Writer(run_dir / "events.jsonl", events_of_a_run())
    writer.timer.start()
    qtbot.waitUntil(lambda: len(controller.record.steps) >= 3, timeout=5000)
    assert controller.runs_panel.current() == run_dir.resolve()  # listed (and chosen) in the run list
    assert controller.runs_panel.current_info().state == "running"
    assert controller.record.active and controller.record.device == "cuda"
    assert not controller.lock.locked and controller.actions["train"].isEnabled()  # only watched: the graph is free
    assert controller.actions["stop"].isEnabled() and not controller.actions["pause"].isEnabled()
    assert "Training" in controller.live.status.text()
    qtbot.waitUntil(lambda: controller.record.state == "finished", timeout=5000)

    controller.live.redraw()
    assert list(controller.live.curves["loss"].xData) == list(range(1, 9))
    assert list(controller.live.curves["val_loss"].xData) == [4.0, 8.0]
    assert controller.live.progress.value() == controller.record.total_steps == 8
    assert "Finished" in controller.live.status.text()
    row = next(run for run in controller.runs_panel.runs if run.path == run_dir.resolve())
    assert row.state == "finished" and row.epochs == 2
    assert not controller.actions["stop"].isEnabled()
    assert "Run on-the-cluster finished" in window.statusBar().currentMessage()
    assert set(controller.badges.badges) == {"fc1", "fc2"}  # it trained this graph: its last norms on the nodes


def test_a_followed_run_of_another_graph_leaves_no_badges_on_this_one(qtbot, window, tmp_path):
    assert window.files.new_from_template(EXAMPLES / "digits_mlp.json")  # also has nodes fc1 and fc2
    run_dir = tmp_path / "iris-run"
    run_dir.mkdir()
    Writer(run_dir / "events.jsonl", events_of_a_run()).write(count=1000)
    save_document(iris_mlp(epochs=2), run_dir / "graph.json")
    window.training.run_on.follow_folder(run_dir)
    record = window.training.record
    assert record.state == "finished" and record.steps[-1] == 8  # read whole at once: it had ended
    assert window.training.badges.badges == {} and not window.training.running


def test_stop_lets_a_followed_run_go_and_another_run_takes_the_screen(qtbot, window, tmp_path):
    controller = window.training
    run_dir = tmp_path / "remote"
    run_dir.mkdir()
    writer = Writer(run_dir / "events.jsonl", events_of_a_run())
    writer.write(count=8)  # status, started and two steps
    controller.run_on.follow_folder(run_dir)
    record = controller.record
    assert record.steps == [1, 2]
    controller.actions["stop"].trigger()
    assert "Stopped following remote" in controller.live.status.text()
    assert not controller.actions["stop"].isEnabled()
    writer.write(count=len(writer.pieces))
    qtbot.wait(400)
    assert record.steps == [1, 2] and record.active  # the run goes on elsewhere; nothing more is read

    controller.run_on.follow_folder(tmp_path / "missing")
    assert controller.record is record and "no such folder" in controller.live.status.text()


# A launcher that ignores Stop's SIGINT, with a worker in a session of its own (as torch starts them).
STUBBORN_LAUNCHER = ("import signal, subprocess, sys, time; signal.signal(signal.SIGINT, signal.SIG_IGN); "
                     "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], start_new_session=True); "
                     "print('ready', flush=True); time.sleep(60)")


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds the workers through /proc")
def test_stop_kills_the_launcher_and_its_workers_when_they_do_not_stop(qtbot, monkeypatch):
    monkeypatch.setattr(torchrun_process, "STOP_GRACE_MS", 300)
    process = TorchrunProcess(["-c", STUBBORN_LAUNCHER])
    exits = []
    process.exited.connect(lambda code, output: exits.append(code))
    process.start()
    qtbot.waitUntil(lambda: "ready" in process.output, timeout=10_000)
    workers = descendants(process.process.processId())
    assert len(workers) == 1 and alive(workers[0])
    process.stop()
    assert process.alive  # the launcher had its chance to stop after the current step
    qtbot.waitUntil(lambda: exits == [-1], timeout=5000)
    qtbot.waitUntil(lambda: not alive(workers[0]), timeout=5000)


@pytest.mark.slow
def test_run_on_this_machine_trains_two_cpu_processes_into_the_run_list(qtbot, window, tmp_path):
    started = time.monotonic()
    graph = tmp_path / "iris.json"
    save_document(iris_mlp(epochs=1), graph)
    assert window.files.open(graph)
    controller = window.training
    dialog = open_run_on(qtbot, window)
    assert dialog.here.isChecked()
    qtbot.waitUntil(dialog.go.isEnabled, timeout=WORKER_MS)  # the worker listed this machine's devices
    assert dialog.device == "cpu" and "CPU processes (gloo)" in dialog.unit.text()  # no GPU on the test machine
    retype(qtbot, dialog.processes, "2")
    qtbot.mouseClick(dialog.go, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    record = controller.record
    assert controller.running and controller.lock.locked and not controller.actions["train"].isEnabled()
    assert controller.actions["stop"].isEnabled() and not controller.actions["pause"].isEnabled()
    assert record.run_dir.parent == tmp_path / "iris.runs"
    assert [run.path for run in controller.runs_panel.runs] == [record.run_dir]  # listed from the start

    qtbot.waitUntil(lambda: not controller.running, timeout=60_000)
    assert record.state == "finished", record.message
    started_event = next(e for e in record.events if e["type"] == "started")
    assert started_event["world_size"] == 2 and started_event["device"] == "cpu"
    assert record.steps and record.steps[-1] == record.total_steps == 4  # 120 samples / 16 / 2 ranks
    assert not controller.lock.locked and controller.actions["train"].isEnabled()
    assert [run.state for run in controller.runs_panel.runs] == ["finished"]
    assert (record.run_dir / "last.safetensors").is_file() and (record.run_dir / "summary.json").is_file()
    qtbot.waitUntil(lambda: not controller.run_on.follower.process.alive, timeout=10_000)
    assert time.monotonic() - started < 60
