"""The trainer end to end on real datasets: accuracy, events, resume, faults, stop, checkpoints."""

import json
import threading
import time

import pytest
import torch
from safetensors.torch import load_file
from train_harness import EXAMPLES, iris_mlp, of_type, run

import engine.train.setup as train_setup
from engine.compile import compile_graph
from engine.errors import DataError, GraphInvalid
from engine.fileformat import load_document
from engine.train.checkpoint import CheckpointError, load_checkpoint
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
    result, events = run(iris_mlp(epochs=3), tmp_path)
    assert result.state == "failed" and result.reason == "nan"
    assert "step 12" in result.message and "lower the learning rate" in result.message
    assert events[-1]["state"] == "failed" and events[-1]["reason"] == "nan"
    assert all(e["epoch"] == 1 for e in of_type(events, "checkpoint"))  # nothing saved after the NaN

    model_state, _, meta = load_checkpoint(tmp_path, "last")
    assert meta["epoch"] == 1 and all(torch.isfinite(t).all() for t in model_state.values())



def test_out_of_memory_fails_with_advice_not_a_traceback_and_keeps_the_checkpoint(tmp_path, monkeypatch):
    """CUDA OOM cannot be caused on a CPU machine: raise torch's own OutOfMemoryError from a forward."""
    real_compile = train_setup.compile_graph
    calls = {"train": 0}

    def oom_in_epoch_2(doc, **kwargs):
        compiled = real_compile(doc, **kwargs)

        def hook(module, args):
            if module.training:
                calls["train"] += 1
                if calls["train"] >= 12:
                    raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

        compiled.module.register_forward_pre_hook(hook)
        return compiled

    monkeypatch.setattr(train_setup, "compile_graph", oom_in_epoch_2)
    result, events = run(iris_mlp(epochs=3), tmp_path)
    assert (result.state, result.reason) == ("failed", "oom")
    assert "lower training.batch_size" in result.message and "Traceback" not in result.message
    assert (events[-1]["state"], events[-1]["reason"]) == ("failed", "oom")
    assert json.loads((tmp_path / "summary.json").read_text())["reason"] == "oom"
    _, _, meta = load_checkpoint(tmp_path, "last")
    assert meta["epoch"] == 1  # the epoch finished before the failure is kept

def test_huge_learning_rate_diverges_into_a_failed_status(tmp_path):
    doc = iris_mlp(optimizer={"name": "sgd", "lr": 1e12})
    result, events = run(doc, tmp_path)
    assert (result.state, result.reason) == ("failed", "nan")
    assert events[-1]["reason"] == "nan" and "lower the learning rate (now 1e+12)" in events[-1]["message"]
    if (tmp_path / "last.json").exists():  # a checkpoint, if the first epoch survived, holds finite weights
        assert all(torch.isfinite(t).all() for t in load_checkpoint(tmp_path, "last")[0].values())


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
