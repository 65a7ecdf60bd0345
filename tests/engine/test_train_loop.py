"""The trainer end to end on real datasets: accuracy, events, resume, faults, stop, checkpoints."""

import contextlib
import json
import shutil
import threading
import time

import pytest
import torch
from safetensors.torch import load_file, save_file
from train_harness import EXAMPLES, iris_mlp, of_type, run

import engine.train.setup as train_setup
from engine import runs
from engine.cli import main
from engine.compile import compile_graph
from engine.errors import DataError, GraphInvalid
from engine.export.weights import resolve_weights
from engine.fileformat import load_document, save_document
from engine.inspect.activations import ActivationStats
from engine.train.checkpoint import CheckpointError, load_checkpoint
from engine.train.checkpoint_files import FORMAT, checkpoint_weights, read_metadata
from engine.train.events import MAX_STEP_EVENTS_PER_S, Throttle
from engine.validate import validate


def digits_doc(**training):
    doc = load_document(EXAMPLES / "digits_mlp.json")
    assert validate(doc).ok
    doc.training.update({"device": "cpu", **training})
    return doc


def test_digits_mlp_reaches_90_percent_and_logs_a_well_formed_stream(tmp_path):
    doc = digits_doc(epochs=6)
    started = time.perf_counter()
    result, events = run(doc, tmp_path)
    assert time.perf_counter() - started < 15
    assert result.state == "finished" and result.metrics["val_accuracy"] >= 0.9

    assert events[0] == {**events[0], "type": "status", "state": "started"}
    assert events[-1] == {**events[-1], "type": "status", "state": "finished"}
    assert [e["state"] for e in of_type(events, "status")] == ["started", "finished"]
    (start,) = of_type(events, "started")
    assert start["params"] == sum(p.numel() for p in compile_graph(doc).module.parameters())
    assert start["dataset"].startswith("digits") and start["device"] == "cpu"

    epochs = of_type(events, "epoch")
    assert [e["epoch"] for e in epochs] == [1, 2, 3, 4, 5, 6]
    assert epochs[-1]["val_accuracy"] == result.metrics["val_accuracy"]
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"]

    steps = of_type(events, "step")
    assert steps[0]["step"] == 1 and steps[-1]["step"] == result.step == 6 * 23
    parameterised = {name.split(".")[0] for name, _ in compile_graph(doc).module.named_parameters()}
    for e in steps:
        assert set(e["layer_grad_norms"]) == parameterised == {"fc1", "fc2"}
        squares = sum(v * v for v in e["layer_grad_norms"].values())
        assert e["grad_norm"] == pytest.approx(squares ** 0.5, rel=1e-4)
        assert e["loss"] > 0 and e["samples_per_s"] > 0

    tags = [(e["tag"], e["epoch"]) for e in of_type(events, "checkpoint")]
    assert ("last", 6) in tags and ("best", result.best["epoch"]) in tags
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["state"] == "finished" and summary["metrics"] == result.metrics


def test_checkpoint_weights_load_into_the_compiled_graph(tmp_path):
    doc = iris_mlp(epochs=1)
    run(doc, tmp_path)
    module = compile_graph(doc).module
    module.load_state_dict(load_file(str(tmp_path / "last.safetensors")))  # strict: same keys and shapes
    model_state, optimizer_state, meta = load_checkpoint(tmp_path, "last")
    assert meta["epoch"] == 1 and meta["step"] == 8 and set(model_state) == set(module.state_dict())
    assert {"exp_avg", "exp_avg_sq", "step"} <= set(optimizer_state["state"]["fc1.weight"])


@pytest.mark.parametrize("where", ["mid_epoch", "epoch_boundary"])
def test_resume_continues_exactly_like_an_uninterrupted_run(tmp_path, where):
    doc = digits_doc(epochs=3)  # dropout makes the result depend on restored RNG state
    full, _ = run(doc, tmp_path / "full")

    stop = threading.Event()
    if where == "mid_epoch":  # stop after the first step of epoch 2
        first, events = run(doc, tmp_path / "cut", stop=stop,
                            on_event=lambda e: e["type"] == "epoch" and stop.set())
        assert first.state == "stopped" and first.reason == "request" and first.step == 24
    else:
        first, events = run(doc, tmp_path / "cut", epochs=1)
        assert first.state == "finished" and first.step == 23
    resumed, events = run(doc, tmp_path / "cut", resume=True)
    assert resumed.state == "finished" and resumed.step == full.step == 69

    a, b = load_file(str(tmp_path / "full/last.safetensors")), load_file(str(tmp_path / "cut/last.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.metrics == pytest.approx(full.metrics, rel=1e-5)
    assert of_type(events, "started")[-1]["resumed_step"] == first.step


def test_resume_without_a_checkpoint_says_so(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint to resume from"):
        run(iris_mlp(), tmp_path, resume=True)


def test_resume_of_an_optimizer_that_keeps_no_state_continues(tmp_path):
    """SGD without momentum stores nothing per parameter; resuming it must not trip torch's state loader."""
    sgd = {"name": "sgd", "lr": 0.05, "momentum": 0.0}
    run(iris_mlp(epochs=1, optimizer=sgd), tmp_path)
    resumed, events = run(iris_mlp(epochs=2, optimizer=sgd), tmp_path, resume=True)
    assert resumed.state == "finished" and resumed.step == 16 and not of_type(events, "warning")


def test_resume_after_changing_only_the_optimizer_starts_it_afresh_with_a_warning(tmp_path):
    run(iris_mlp(epochs=1), tmp_path)  # adam
    resumed, events = run(iris_mlp(epochs=2, optimizer={"name": "sgd", "lr": 0.01}), tmp_path, resume=True)
    assert resumed.state == "finished" and resumed.step == 16
    (warning,) = of_type(events, "warning")
    assert warning["message"] == ("the optimizer changed from adam to sgd since the checkpoint: its state cannot be "
                                  "reused, so sgd starts fresh from the weights of step 8")
    assert "graph changed" not in json.dumps(events)
    _, optimizer_state, _ = load_checkpoint(tmp_path, "last")
    assert set(optimizer_state["state"]["fc1.weight"]) == {"momentum_buffer"}


def as_version_1(run_dir, tag):
    """Rewrite checkpoint `tag` as the version 1 layout wrote it: weights, training tensors, then the JSON."""
    weights = run_dir / f"{tag}.safetensors"
    header = read_metadata(weights)
    train = run_dir / header["train"]
    stamp = {"format": FORMAT, "step": header["step"]}
    save_file(load_file(str(train)), str(run_dir / f"{tag}.train.safetensors"), metadata=stamp)
    save_file(load_file(str(weights)), str(weights), metadata=stamp)
    record = {"format": FORMAT, "version": 1, **json.loads(header["meta"]),
              **json.loads(read_metadata(train)["state"])}
    (run_dir / f"{tag}.json").write_text(json.dumps(record))
    train.unlink()


def test_version_1_runs_still_list_export_and_resume(tmp_path):
    run(iris_mlp(epochs=1), tmp_path)
    for tag in ("last", "best"):
        as_version_1(tmp_path, tag)
    assert set(runs.read_run(tmp_path).checkpoints) == {"best", "last"}
    assert resolve_weights(tmp_path) == tmp_path / "best.safetensors"
    assert load_checkpoint(tmp_path, "last")[2]["step"] == 8

    resumed, _ = run(iris_mlp(epochs=2), tmp_path, resume=True)
    assert resumed.state == "finished" and resumed.step == 16
    assert not (tmp_path / "last.json").exists() and not (tmp_path / "last.train.safetensors").exists()
    assert load_checkpoint(tmp_path, "last")[2]["step"] == 16


def test_a_torn_last_checkpoint_resumes_from_best_with_a_warning(tmp_path):
    run_dir, aside = tmp_path / "run", tmp_path / "aside"
    run(iris_mlp(epochs=1), run_dir)
    shutil.copytree(run_dir, aside)  # keeps best at step 8
    run(iris_mlp(epochs=2), run_dir, resume=True)
    for path in run_dir.glob("best.*"):
        path.unlink()
    for path in aside.glob("best.*"):
        shutil.copy(path, run_dir)
    as_version_1(run_dir, "last")
    # a kill under version 1 between replacing last.safetensors and writing last.json …
    record = json.loads((run_dir / "last.json").read_text())
    (run_dir / "last.json").write_text(json.dumps({**record, "step": 8}))
    (run_dir / ".last.json.x1y2.tmp").write_text("{")  # … and the temporary file it was writing

    resumed, events = run(iris_mlp(epochs=2), run_dir, resume=True)
    assert resumed.state == "finished" and resumed.step == 16
    (warning,) = of_type(events, "warning")
    assert warning["message"].startswith("resumed from the best checkpoint (epoch 1, step 8) because the last one "
                                         "is unusable") and "torn by an interrupted save" in warning["message"]
    assert of_type(events, "started")[-1]["resumed_step"] == 8
    assert not list(run_dir.glob(".last.*")) and not (run_dir / "last.json").exists()


def test_nan_loss_fails_with_advice_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    real_compile = train_setup.compile_graph
    calls = {"train": 0}

    def poisoned(doc, **kwargs):  # from the 12th training forward (epoch 2) on, the loss is NaN
        compiled = real_compile(doc, **kwargs)

        def hook(module, args, out):
            if module.training:
                calls["train"] += 1
                if calls["train"] >= 12:
                    out["loss"] = out["loss"] * float("nan")
            return out

        compiled.module.register_forward_hook(hook)
        return compiled

    monkeypatch.setattr(train_setup, "compile_graph", poisoned)
    # the hook counts the module's forward calls: steps that measure activation statistics run its tapped twin
    monkeypatch.setattr(ActivationStats, "measuring", lambda self, setup: contextlib.nullcontext())
    result, events = run(iris_mlp(epochs=3), tmp_path)
    assert result.state == "failed" and result.reason == "nan"
    assert "step 12" in result.message and "lower the learning rate" in result.message
    assert events[-1]["state"] == "failed" and events[-1]["reason"] == "nan"
    assert all(e["epoch"] == 1 for e in of_type(events, "checkpoint"))  # nothing saved after the NaN

    model_state, _, meta = load_checkpoint(tmp_path, "last")
    assert meta["epoch"] == 1 and all(torch.isfinite(t).all() for t in model_state.values())



OUT_OF_MEMORY = [  # what torch raises, and what the advice must say
    (torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), "out of GPU memory"),
    (RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: you tried "
                  "to allocate 80000000000 bytes. Error code 12 (Cannot allocate memory)"), "out of memory (RAM)"),
    (RuntimeError("DefaultCPUAllocator: not enough memory: you tried to allocate 80000000000 bytes."),
     "out of memory (RAM)"),
]


@pytest.mark.parametrize(("error", "advice"), OUT_OF_MEMORY, ids=["cuda", "cpu-linux", "cpu-windows"])
def test_out_of_memory_fails_with_advice_not_a_traceback_and_keeps_the_checkpoint(tmp_path, monkeypatch, error,
                                                                                  advice):
    """Neither OOM can be caused safely on a test machine: raise torch's own errors from a forward."""
    real_compile = train_setup.compile_graph
    calls = {"train": 0}

    def oom_in_epoch_2(doc, **kwargs):
        compiled = real_compile(doc, **kwargs)

        def hook(module, args):
            if module.training:
                calls["train"] += 1
                if calls["train"] >= 12:
                    raise error

        compiled.module.register_forward_pre_hook(hook)
        return compiled

    monkeypatch.setattr(train_setup, "compile_graph", oom_in_epoch_2)
    result, events = run(iris_mlp(epochs=3), tmp_path)
    assert (result.state, result.reason) == ("failed", "oom")
    assert advice in result.message and "training.batch_size" in result.message
    assert "Traceback" not in result.message
    assert (events[-1]["state"], events[-1]["reason"]) == ("failed", "oom")
    assert json.loads((tmp_path / "summary.json").read_text())["reason"] == "oom"
    _, _, meta = load_checkpoint(tmp_path, "last")
    assert meta["epoch"] == 1  # the epoch finished before the failure is kept

def test_huge_learning_rate_diverges_into_a_failed_status(tmp_path):
    doc = iris_mlp(optimizer={"name": "sgd", "lr": 1e12})
    result, events = run(doc, tmp_path)
    assert (result.state, result.reason) == ("failed", "nan")
    assert events[-1]["reason"] == "nan" and "lower the learning rate (now 1e+12)" in events[-1]["message"]
    if checkpoint_weights(tmp_path, "last"):  # a checkpoint, if the first epoch survived, holds finite weights
        assert all(torch.isfinite(t).all() for t in load_checkpoint(tmp_path, "last")[0].values())


def test_a_loss_that_explodes_without_nan_fails_as_diverged_and_the_cli_exits_1(tmp_path, capsys):
    """Adam at lr 10⁶ keeps the loss finite (≈ 10¹² here) — it used to "finish" with 13 % accuracy."""
    doc = iris_mlp(optimizer={"name": "adam", "lr": 1e6}, epochs=3)
    result, events = run(doc, tmp_path / "api")
    assert (result.state, result.reason, result.epochs) == ("failed", "diverged", 0)
    assert "over 100× the first logged loss" in result.message and "lower the learning rate (now 1e+06)" in (
        result.message) and "set grad_clip" in result.message
    assert events[-1]["reason"] == "diverged" and len(of_type(events, "epoch")) == 1
    assert not of_type(events, "checkpoint")  # nothing saved from the blown-up weights
    graph = tmp_path / "hot.json"
    save_document(doc, graph)
    assert main(["train", str(graph), "--out", str(tmp_path / "cli")]) == 1
    assert "failed: the mean training loss of epoch 1" in capsys.readouterr().err


def test_a_loss_that_only_wobbles_is_not_divergence(tmp_path):
    result, _ = run(iris_mlp(optimizer={"name": "adam", "lr": 0.05}, epochs=3), tmp_path)
    assert result.state == "finished"


def test_stop_callable_ends_after_the_current_step_with_a_checkpoint(tmp_path):
    asked = iter(range(1, 100))  # asked once after every step; says stop after the third

    result, events = run(iris_mlp(epochs=5), tmp_path, stop=lambda: next(asked) >= 3)
    assert (result.state, result.reason, result.step) == ("stopped", "request", 3)
    assert events[-1]["type"] == "status" and events[-1]["state"] == "stopped"
    assert of_type(events, "step")[-1]["step"] == 3
    assert load_checkpoint(tmp_path, "last")[2]["step"] == 3


def test_early_stopping_ends_the_run_when_the_metric_stalls(tmp_path):
    doc = iris_mlp(epochs=20, optimizer={"name": "sgd", "lr": 1e-9},
                   early_stopping={"patience": 2, "monitor": "val_accuracy"})
    result, _ = run(doc, tmp_path)
    assert (result.state, result.reason) == ("finished", "early_stopping")
    assert result.epochs == 3 and result.best["epoch"] == 1


def test_step_events_are_throttled_but_keep_the_first_and_last(tmp_path):
    result, events = run(digits_doc(epochs=1, batch_size=4), tmp_path)  # 360 quick steps
    steps = of_type(events, "step")
    assert steps[0]["step"] == 1 and steps[-1]["step"] == result.step == 360
    duration = steps[-1]["time"] - steps[0]["time"]
    assert len(steps) < 360 and len(steps) <= MAX_STEP_EVENTS_PER_S * duration + 2


def test_throttle_allows_one_event_per_interval():
    now = [0.0]
    throttle = Throttle(rate=20, clock=lambda: now[0])
    due = []
    for _ in range(100):  # 100 steps of 10 ms: one second
        due.append(throttle.due())
        now[0] += 0.01
    assert due[0] and sum(due) == 20


def test_dataset_that_does_not_fit_the_input_names_the_node(tmp_path):
    with pytest.raises(DataError, match=r"input1 \(Input\): dataset 'iris' gives \(N, 4\) float32.*\[4\]"):
        run(iris_mlp(input_shape=(5,)), tmp_path)
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert events[-1]["state"] == "failed" and "input1" in events[-1]["message"]


def test_invalid_graph_fails_with_its_diagnostics(tmp_path):
    doc = iris_mlp()
    doc.remove_node("relu1")
    with pytest.raises(GraphInvalid, match="fc2.in"):
        run(doc, tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["state"] == "failed" and "fc2.in" in summary["message"]
