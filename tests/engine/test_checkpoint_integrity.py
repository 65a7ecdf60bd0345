"""What a checkpoint or weights file can be trusted with: its tensor data matches the digest it carries
(a damaged `last` resumes from `best`, damaged weights are refused), every file keeps the permissions
of the one it replaces (a new one: the umask's), and the checkpoints written off the training thread
are on disk when the run ends — or the run fails with the writer's error."""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import struct
import threading
import time

import pytest
import torch
from safetensors.torch import load_file, save_file
from train_harness import iris_mlp, of_type, run

from engine.atomic import atomic_write_text
from engine.cli import main
from engine.errors import CheckpointError, WeightsError
from engine.export.weights import inference_graph, load_weights, read_weights, save_weights
from engine.fileformat import save_document
from engine.train import checkpoint_files, train
from engine.train.checkpoint import digest, load_checkpoint, save_checkpoint
from engine.train.checkpoint_files import DIGEST, read_metadata
from engine.train.distributed import full_state
from engine.train.trainer import Trainer, local_state

DAMAGED = "the tensor data does not match its checksum — the file is damaged"
posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")


def flip(path, count: int = 64) -> None:
    """Invert `count` bytes in the middle of the tensor data of the safetensors file `path` (its header intact)."""
    data = bytearray(path.read_bytes())
    (length,) = struct.unpack("<Q", data[:8])
    start = 8 + length
    at = start + (len(data) - start - count) // 2
    assert at >= start and at + count <= len(data)
    for i in range(at, at + count):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def weights_of(run_dir, tag="last"):
    return load_file(str(run_dir / f"{tag}.safetensors"))


# -- the digest -----------------------------------------------------------------------------------
def test_flipped_bytes_in_last_resume_from_best_with_a_warning_naming_the_file(tmp_path):
    damaged, reference = tmp_path / "damaged", tmp_path / "reference"
    first, _ = run(iris_mlp(epochs=2), damaged)
    assert first.state == "finished"
    shutil.copytree(damaged, reference)
    flip(damaged / "last.safetensors")
    (reference / "last.safetensors").unlink()  # a resume from best, for comparison

    resumed, events = run(iris_mlp(epochs=4), damaged, resume=True)
    expected, _ = run(iris_mlp(epochs=4), reference, resume=True)
    assert resumed.state == expected.state == "finished" and resumed.step == expected.step == 32
    (warning,) = of_type(events, "warning")
    assert warning["message"].startswith("resumed from the best checkpoint")
    assert f"{damaged / 'last.safetensors'}: {DAMAGED}" in warning["message"]
    a, b = weights_of(damaged), weights_of(reference)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_the_cli_resume_warns_and_exits_0(tmp_path, capsys):
    graph, out = tmp_path / "iris.json", tmp_path / "run"
    save_document(iris_mlp(), graph)
    assert main(["train", str(graph), "--epochs", "1", "--out", str(out)]) == 0
    flip(out / "last.safetensors")
    capsys.readouterr()
    assert main(["train", str(graph), "--epochs", "2", "--out", str(out), "--resume"]) == 0
    assert f"{out / 'last.safetensors'}: {DAMAGED}" in capsys.readouterr().err


def test_a_damaged_training_state_file_is_caught_too(tmp_path):
    run(iris_mlp(epochs=1), tmp_path)
    flip(tmp_path / read_metadata(tmp_path / "last.safetensors")["train"])
    with pytest.raises(CheckpointError, match=DAMAGED):
        load_checkpoint(tmp_path, "last")


def test_damaged_weights_are_refused_by_export_and_inference(tmp_path, capsys):
    doc = iris_mlp(epochs=1)
    run(doc, tmp_path / "run")
    best = tmp_path / "run" / "best.safetensors"
    module = inference_graph(doc).module
    load_weights(module, tmp_path / "run")  # intact: loads
    flip(best)
    for source in (tmp_path / "run", best):
        with pytest.raises(WeightsError, match=f"{best}: {DAMAGED}"):
            load_weights(module, source)
    with pytest.raises(WeightsError, match=DAMAGED):
        inference_graph(doc, best)  # what evaluate, generate and every exporter load through
    save_document(doc, tmp_path / "iris.json")
    capsys.readouterr()
    assert main(["export", str(tmp_path / "iris.json"), "--weights", str(tmp_path / "run"),
                 "--onnx", str(tmp_path / "m.onnx")]) == 1
    assert DAMAGED in capsys.readouterr().err and not (tmp_path / "m.onnx").exists()


def test_files_written_before_the_digest_still_load(tmp_path):
    doc = iris_mlp(epochs=1)
    run(doc, tmp_path)
    for tag in ("last", "best"):
        weights = tmp_path / f"{tag}.safetensors"
        train = tmp_path / read_metadata(weights)["train"]
        for path in (weights, train):
            metadata = read_metadata(path)
            assert len(metadata.pop(DIGEST)) == 64
            save_file(load_file(str(path)), str(path), metadata=metadata)
    assert load_checkpoint(tmp_path, "last")[2]["step"] == 8
    load_weights(inference_graph(doc).module, tmp_path)
    resumed, events = run(iris_mlp(epochs=2), tmp_path, resume=True)
    assert resumed.state == "finished" and not of_type(events, "warning")
    assert DIGEST in read_metadata(tmp_path / "last.safetensors")  # rewritten with one


def test_the_digest_covers_every_tensor_by_name_and_bytes():
    state = {"a": torch.arange(6.0).reshape(2, 3), "b": torch.tensor(3, dtype=torch.int64),
             "c": torch.ones(2, dtype=torch.bfloat16), "d": torch.zeros(0), "e": torch.tensor([True, False])}
    value = digest(state)
    assert value == digest(dict(reversed(state.items())))  # a fixed order, whatever the dict's
    assert value != digest({**state, "a": state["a"].clone().index_fill_(1, torch.tensor([1]), 7.0)})
    assert value != digest({("z" if k == "a" else k): v for k, v in state.items()})
    assert value != digest({k: v for k, v in state.items() if k != "d"})


def test_saved_weights_carry_the_digest_and_are_checked(tmp_path):
    path = tmp_path / "w.safetensors"
    state = {"fc1.weight": torch.randn(8, 8), "fc1.bias": torch.randn(8)}
    save_weights(state, path, metadata={"note": "kept"})
    assert read_metadata(path)["note"] == "kept" and DIGEST in read_metadata(path)
    assert all(torch.equal(read_weights(path)[k], state[k]) for k in state)
    flip(path)
    with pytest.raises(WeightsError, match=DAMAGED):
        read_weights(path)


# -- permissions -----------------------------------------------------------------------------------
@pytest.fixture
def umask():
    """Set the process's umask for the test (restored after)."""
    saved = []

    def set_mask(mask: int) -> None:
        saved.append(os.umask(mask))

    yield set_mask
    if saved:
        os.umask(saved[0])


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def write_everything(folder, step: int) -> list:
    """A graph, a text file, a checkpoint and a weights file written into `folder`; their paths."""
    save_document(iris_mlp(), folder / "graph.json")
    atomic_write_text(folder / "metrics.csv", f"epoch\n{step}\n")
    save_checkpoint(folder, "last", {"fc1.weight": torch.full((2, 2), float(step))},
                    {"state": {}, "param_groups": []}, {"epoch": step, "step": step})
    save_weights({"fc1.weight": torch.ones(2, 2)}, folder / "weights.safetensors")
    train = folder / read_metadata(folder / "last.safetensors")["train"]
    return [folder / "graph.json", folder / "metrics.csv", folder / "last.safetensors", train,
            folder / "weights.safetensors"]


@posix_only
def test_a_0644_file_stays_0644_after_a_save(tmp_path, umask):
    umask(0o077)  # what a new file would get: 0600
    for path in write_everything(tmp_path, 1):
        assert mode(path) == 0o600, path
        if path.name != "metrics.csv":
            os.chmod(path, 0o644)
    os.chmod(tmp_path / "metrics.csv", 0o640)
    paths = write_everything(tmp_path, 2)
    assert {path.name: mode(path) for path in paths} == {
        "graph.json": 0o644, "metrics.csv": 0o640, "last.safetensors": 0o644,
        paths[3].name: 0o644,  # the new training state file takes its checkpoint's
        "weights.safetensors": 0o644}


@posix_only
@pytest.mark.parametrize("mask", [0o027, 0o022])
def test_a_new_file_gets_the_umasks_mode(tmp_path, umask, mask):
    umask(mask)
    assert all(mode(path) == 0o666 & ~mask for path in write_everything(tmp_path, 1))


@posix_only
def test_a_runs_files_get_the_umasks_mode(tmp_path, umask):
    umask(0o022)
    run(iris_mlp(epochs=1), tmp_path)
    written = ["last.safetensors", "best.safetensors", "summary.json", "metrics.csv", "run.json", "graph.json"]
    assert {name: mode(tmp_path / name) for name in written} == dict.fromkeys(written, 0o644)


# -- the background writer -------------------------------------------------------------------------
def test_checkpoints_are_written_off_the_training_thread_and_on_disk_when_the_run_ends(tmp_path, monkeypatch):
    real, writers = checkpoint_files.write_new, set()

    def slow_write(path, data, like):
        writers.add(threading.current_thread().name)
        time.sleep(0.05)
        real(path, data, like)

    monkeypatch.setattr(checkpoint_files, "write_new", slow_write)
    result, events = run(iris_mlp(epochs=3), tmp_path)
    assert result.state == "finished" and writers == {"checkpoint writer"}
    saved = [(e["tag"], e["epoch"]) for e in of_type(events, "checkpoint")]
    assert ("last", 3) in saved and saved.count(("last", 1)) == 1
    assert events[-1]["type"] == "status" and events[-1]["state"] == "finished"
    assert max(i for i, e in enumerate(events) if e["type"] == "checkpoint") < len(events) - 1
    assert load_checkpoint(tmp_path, "last")[2]["epoch"] == 3
    assert not [t for t in threading.enumerate() if t.name == "checkpoint writer"]  # the run's end ended it


def written(monkeypatch, delay: float) -> dict:
    """Record the digest of every checkpoint file the writer writes, {(file, step): sha256}, each write
    taking `delay` seconds longer (while training goes on)."""
    real, seen = checkpoint_files.write_new, {}

    def write(path, data, like):
        (length,) = struct.unpack("<Q", data[:8])
        metadata = json.loads(data[8:8 + length])["__metadata__"]
        kind = "train" if ".train-" in path.name else "weights"
        seen[(path.name.lstrip(".").split(".")[0], kind, metadata["step"])] = metadata[DIGEST]
        time.sleep(delay)
        real(path, data, like)

    monkeypatch.setattr(checkpoint_files, "write_new", write)
    return seen


def test_a_slow_writer_still_writes_the_state_of_the_epoch_end(tmp_path, monkeypatch):
    """The snapshot is a copy: what the writer writes while the next epoch trains is the epoch end's state."""
    slow = written(monkeypatch, 0.05)
    run(iris_mlp(epochs=4), tmp_path / "slow")
    monkeypatch.undo()
    submit = Trainer._submit_saves

    def synchronous(self):  # each save written before training goes on, as before the writer thread
        submit(self)
        self._report(self.writer.wait())

    monkeypatch.setattr(Trainer, "_submit_saves", synchronous)
    reference = written(monkeypatch, 0.0)
    run(iris_mlp(epochs=4), tmp_path / "reference")
    assert len(slow) >= 8 and slow == reference


def test_a_single_process_state_is_what_the_distributed_one_gives():
    """trainer.local_state, the fast path of a single process, against distributed.full_state."""

    def same(a, b) -> bool:
        if isinstance(a, torch.Tensor):
            return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
        if isinstance(a, dict):
            return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
        if isinstance(a, list | tuple):
            return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
        return a == b

    def model():
        torch.manual_seed(0)
        return torch.nn.ModuleDict({"g": torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8),
                                                             torch.nn.ReLU(), torch.nn.Linear(8, 2)),
                                    "d": torch.nn.Linear(2, 1)})

    optimizers = [lambda m: (torch.optim.Adam(m.parameters(), lr=0.1),),
                  lambda m: (torch.optim.SGD(m.parameters(), lr=0.1),),
                  lambda m: (torch.optim.SGD([{"params": m["g"].parameters()},
                                              {"params": m["d"].parameters(), "lr": 0.5}], lr=0.1, momentum=0.9),),
                  lambda m: (torch.optim.AdamW(m["g"].parameters()), torch.optim.Adam(m["d"].parameters()))]
    for make in optimizers:
        a, b = model(), model()
        opt_a, opt_b = make(a), make(b)
        assert same(full_state(a, opt_a), local_state(b, opt_b))  # before a step (full_state initialises)
        for net, opts in ((a, opt_a), (b, opt_b)):
            torch.manual_seed(1)
            for _ in range(2):
                net["d"](net["g"](torch.randn(5, 4))).sum().backward()
                for optimizer in opts:
                    optimizer.step()
        assert same(full_state(a, opt_a), local_state(b, opt_b))


def test_best_is_saved_only_when_the_metric_improved(tmp_path):
    result, events = run(iris_mlp(epochs=8, optimizer={"name": "sgd", "lr": 0.5}), tmp_path)  # a loss that jumps
    losses = [e["val_loss"] for e in of_type(events, "epoch")]
    improved = [epoch for epoch, loss in enumerate(losses, 1) if loss < min(losses[:epoch - 1], default=float("inf"))]
    best = [e["epoch"] for e in of_type(events, "checkpoint") if e["tag"] == "best"]
    assert best == improved and 1 < len(best) < 8
    assert [e["epoch"] for e in of_type(events, "checkpoint") if e["tag"] == "last"] == list(range(1, 9))
    assert load_checkpoint(tmp_path, "best")[2]["epoch"] == improved[-1]


def failing_after(monkeypatch, writes: int):
    """checkpoint_files.write_new failing with a full disk from its `writes`+1-th call on."""
    real, calls = checkpoint_files.write_new, []

    def write(path, data, like):
        calls.append(path.name)
        if len(calls) > writes:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, data, like)

    monkeypatch.setattr(checkpoint_files, "write_new", write)


@pytest.mark.parametrize("epochs", [2, 4])  # the failing save is the run's last / one before more epochs
def test_a_save_the_writer_cannot_write_fails_the_run_with_its_message(tmp_path, monkeypatch, epochs):
    failing_after(monkeypatch, 4)  # epoch 1 writes last and best (two files each), epoch 2 fails
    train_events = []
    with pytest.raises(CheckpointError, match=r"last.safetensors.*: cannot write the checkpoint \(No space left"):
        train(iris_mlp(epochs=epochs), tmp_path, on_event=train_events.append)
    (status,) = [e for e in train_events if e["type"] == "status" and e["state"] != "started"]
    assert status["state"] == "failed" and "No space left on device" in status["message"]
    assert json.loads((tmp_path / "summary.json").read_text())["state"] == "failed"
    assert load_checkpoint(tmp_path, "last")[2]["epoch"] == 1  # the previous checkpoint is kept …
    assert sorted(p.name for p in tmp_path.glob("*.safetensors")) == [  # … and nothing half-written beside it
        "best.safetensors", read_metadata(tmp_path / "best.safetensors")["train"], "last.safetensors",
        read_metadata(tmp_path / "last.safetensors")["train"]]
    assert not list(tmp_path.glob(".*.tmp"))


# -- leftovers ---------------------------------------------------------------------------------------
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs a process that is gone")
def test_a_runs_start_removes_what_killed_writers_left_and_nothing_else(tmp_path):
    run(iris_mlp(epochs=1), tmp_path)
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)  # a process that is gone
    leftovers = [f".metrics.csv.{pid}-0123abcd.tmp", f".summary.json.{pid}-89abcdef.tmp",
                 ".last.safetensors.0badc0de.tmp", "best.train-3-0badc0de.safetensors"]
    others = [".notes.tmp", "notes.txt", f".metrics.csv.{os.getppid()}-0123abcd.tmp", ".tmpAbC123"]
    for name in leftovers + others:
        (tmp_path / name).write_text("x")
    resumed, _ = run(iris_mlp(epochs=2), tmp_path, resume=True)
    assert resumed.state == "finished"
    assert [name for name in leftovers + others if (tmp_path / name).exists()] == others



def test_imported_weights_carry_the_digest_and_keep_the_files_mode(tmp_path):
    """`layerloom import` wrote its weights with safetensors' save_file: 0600 and no digest."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper

    weight = helper.make_tensor("w", TensorProto.FLOAT, [2, 3], np.arange(6, dtype=np.float32))
    graph = helper.make_graph([helper.make_node("Gemm", ["x", "w"], ["y"], name="/fc1/Gemm", transB=1)], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])], [weight])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)]), str(tmp_path / "tiny.onnx"))
    weights = tmp_path / "tiny.safetensors"
    weights.write_bytes(b"old")
    os.chmod(weights, 0o644)
    assert main(["import", str(tmp_path / "tiny.onnx"), "--out", str(tmp_path / "tiny.json")]) == 0
    assert stat.S_IMODE(weights.stat().st_mode) == 0o644
    assert set(read_weights(weights)) == {"fc1.weight"}
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="does not match its checksum"):
        read_weights(weights)
