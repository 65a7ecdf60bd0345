"""The statistics say how long one training step takes on this machine (engine/step_time.py): a GRU over
a million time steps validates at 16 MB and then takes minutes a step, which the memory figure never said."""

from __future__ import annotations

import dataclasses
import json
import time

import pytest
import torch

import engine.step_time as step_time
from engine.cli import main
from engine.compile import compile_graph
from engine.document import Edge, GraphDocument
from engine.fileformat import save_document
from engine.stats import graph_stats
from engine.step_time import SLOW_STEP_S, Calibration
from engine.trainability import trainability
from engine.validate import TOTAL_LOSS, validate

# Figures of the order this project's 2-core test machine measured (one thread): given, so the verdicts below
# hold on any machine and take no measuring.
FIXED = Calibration(
    device="cpu", matmul_macs_per_s=5e10, conv_macs_per_s=3e10, elementwise_s_per_byte=6e-10,
    optimizer_s_per_param=3e-9, node_s=9e-5, step_s=1.3e-4,
    recurrent_step_s={"RNN": 4e-5, "LSTM": 1.5e-5, "GRU": 1.2e-4},
    recurrent_macs_per_s={"RNN": 2.4e10, "LSTM": 3.3e10, "GRU": 2.5e10})


@pytest.fixture
def fixed(monkeypatch):
    monkeypatch.setattr(step_time, "calibration", lambda device="auto": FIXED)
    return FIXED


@pytest.fixture
def data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("LAYERLOOM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(step_time, "_memo", {})
    return tmp_path / "data"


def chain(*layers, input_shape, loss_target: str | None = None) -> GraphDocument:
    """Input → layers… → Output; with `loss_target` "class", a CrossEntropyLoss against int64 labels."""
    doc = GraphDocument("chain")
    doc.add_node("Input", {"shape": list(input_shape)}, node_id="input1")
    previous = "input1"
    for node_id, type_id, params in layers:
        doc.add_node(type_id, params, node_id=node_id)
        doc.add_edge(Edge(previous, "out", node_id, "in"))
        previous = node_id
    doc.add_node("Output", node_id="output1")
    doc.add_edge(Edge(previous, "out", "output1", "in"))
    if loss_target:
        doc.add_node("Target", {"shape": [], "dtype": "int64"}, node_id="target1")
        doc.add_node("CrossEntropyLoss", node_id="loss1")
        doc.add_edge(Edge(previous, "out", "loss1", "pred"))
        doc.add_edge(Edge("target1", "out", "loss1", "target"))
    return doc


def long_gru(steps: int) -> GraphDocument:
    """(N, steps, 4) → GRU(16) → Linear(3): the tester's graph at 1,000,000 steps."""
    return chain(("gru1", "GRU", {"hidden_size": 16}), ("fc1", "Linear", {"out_features": 3}),
                 input_shape=(steps, 4), loss_target="class")


# -- the warning ------------------------------------------------------------------------------------

def test_a_gru_over_a_million_steps_warns_that_a_step_takes_minutes_and_names_it(fixed):
    doc = long_gru(1_000_000)
    report = validate(doc)
    stats = graph_stats(doc, report, batch_size=32)
    assert stats.training_memory_bytes < 2**30  # memory says nothing is wrong
    assert stats.nodes["gru1"].sequential_steps == 1_000_000
    assert stats.slowest_node == "gru1" and stats.step_seconds > 2 * SLOW_STEP_S
    (warning,) = trainability(doc, report, stats, "cpu")
    assert (warning.severity, warning.node) == ("warning", "gru1")
    assert warning.message.startswith("one training step would take about 2.1 min on this CPU at batch size 32 — "
                                      "gru1 (GRU) runs 1,000,000 sequential steps, ≈ 2.1 min; shorten the sequence "
                                      "(e.g. with a strided Conv1d first) or train on a GPU"), warning.message


def test_validate_prints_the_step_time_and_the_warning(fixed, tmp_path, capsys):
    path = tmp_path / "gru.json"
    save_document(long_gru(1_000_000), path)
    assert main(["validate", str(path)]) == 0  # a warning: it still trains, slowly
    out = capsys.readouterr().out
    assert "time per training step: ≈ 2.1 min on this CPU" in out
    assert "warning: gru1: one training step would take about 2.1 min on this CPU" in out
    gru_row = next(line for line in out.splitlines() if line.split()[:2] == ["gru1", "GRU"])
    assert gru_row.split()[-2:] == ["2.1", "min"]

    assert main(["validate", str(path), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)["stats"]
    assert stats["timed_on"] == "this CPU" and stats["step_seconds"] == pytest.approx(
        1_000_000 * 1.2e-4 + 3 * (32 * 1_000_000 * 3 * 16 * (4 + 16)) / 2.5e10, rel=0.001)  # steps + MACs of gru1
    assert stats["nodes"]["gru1"]["sequential_steps"] == 1_000_000


def test_a_short_sequence_or_a_gpu_gives_no_such_warning(fixed):
    doc = long_gru(1_000)
    report = validate(doc)
    assert trainability(doc, report, graph_stats(doc, report, 32), "cpu") == []
    on_gpu = dataclasses.replace(FIXED, device="cuda:0", recurrent_step_s={"GRU": 1e-4})
    doc = long_gru(1_000_000)
    stats = graph_stats(doc, validate(doc), 32, calibration=on_gpu)
    (warning,) = trainability(doc, validate(doc), stats, "cuda")
    assert "on this GPU" in warning.message and "train on a GPU" not in warning.message


def test_a_huge_layer_that_does_not_loop_is_named_with_its_multiply_adds(fixed):
    doc = chain(("fc1", "Linear", {"out_features": 65536}), ("fc2", "Linear", {"out_features": 65536}),
                input_shape=(4096,))
    report = validate(doc)
    (warning,) = [d for d in trainability(doc, report, graph_stats(doc, report, 4096), "cpu")
                  if "training step" in d.message]  # (its memory is a diagnostic of its own)
    assert warning.node == "fc2"
    assert "fc2 (Linear) alone ≈ " in warning.message and "multiply-adds); lower the batch size" in warning.message


def test_recurrent_time_follows_steps_layers_and_directions(fixed):
    def gru_seconds(**params):
        doc = chain(("gru1", "GRU", {"hidden_size": 16, **params}), input_shape=(1000, 4))
        node = graph_stats(doc, validate(doc), 8).nodes["gru1"]
        return node.sequential_steps, node.seconds

    one, two_layers, both_ways = gru_seconds(), gru_seconds(num_layers=2), gru_seconds(bidirectional=True)
    assert (one[0], two_layers[0], both_ways[0]) == (1000, 2000, 2000)
    assert 1000 * FIXED.recurrent_step_s["GRU"] < one[1] < two_layers[1] and one[1] < both_ways[1]
    assert two_layers[1] > 1.9 * one[1]


def test_a_block_instance_sums_the_time_of_its_layers(fixed):
    """A block's instance is one row of the stats: its time is all of its copies', its loop steps too."""
    from engine import block_edit

    doc = chain(("gru1", "GRU", {"hidden_size": 16, "output": "all"}), ("fc1", "Linear", {"out_features": 4}),
                input_shape=(1000, 4))
    plain = graph_stats(doc, validate(doc), 8)
    block = block_edit.group(doc, ["gru1", "fc1"], "Recurrent")
    doc.set_param(block, "repeat", 3)
    stats = graph_stats(doc, validate(doc), 8)
    inside = plain.nodes["gru1"].seconds + plain.nodes["fc1"].seconds
    assert stats.nodes[block].seconds == pytest.approx(3 * inside)
    assert stats.nodes[block].sequential_steps == 3 * 1000
    assert stats.step_seconds == pytest.approx(plain.step_seconds + 2 * inside)


# -- the estimate against a measured step -------------------------------------------------------------

def measured_step_seconds(doc: GraphDocument, batch_size: int, steps: int = 15) -> float:
    """The median of `steps` training steps (forward, loss, backward, Adam) of the compiled graph."""
    compiled = compile_graph(doc)
    model = compiled.module
    optimizer = torch.optim.Adam(model.parameters())
    args = compiled.example_inputs(batch_size)
    times = []
    for _ in range(steps + 3):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        model(*args)[TOTAL_LOSS].backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    return sorted(times[3:])[len(times[3:]) // 2]


@pytest.mark.parametrize("name, doc, batch_size", [
    ("mlp", chain(("fc1", "Linear", {"out_features": 256}), ("relu1", "ReLU", {}),
                  ("fc2", "Linear", {"out_features": 256}), ("relu2", "ReLU", {}),
                  ("fc3", "Linear", {"out_features": 10}), input_shape=(64,), loss_target="class"), 64),
    ("tiny mlp", chain(("fc1", "Linear", {"out_features": 16}), ("relu1", "ReLU", {}),
                       ("fc2", "Linear", {"out_features": 3}), input_shape=(4,), loss_target="class"), 16),
    # every step's output feeds the loss: with only the last one's, the gradients flowing back through a long
    # sequence fade into subnormal floats, which the CPU computes up to 10× slower (torch.set_flush_denormal)
    ("gru", chain(("gru1", "GRU", {"hidden_size": 32, "output": "all"}), ("flat1", "Flatten", {}),
                  ("fc1", "Linear", {"out_features": 3}), input_shape=(200, 8), loss_target="class"), 16),
    ("lstm", chain(("lstm1", "LSTM", {"hidden_size": 32, "output": "all"}), ("flat1", "Flatten", {}),
                   ("fc1", "Linear", {"out_features": 3}), input_shape=(200, 8), loss_target="class"), 16),
])
def test_the_estimate_is_within_a_small_factor_of_a_measured_step(name, doc, batch_size, data_dir):
    torch.manual_seed(0)
    estimate = graph_stats(doc, validate(doc), batch_size, device="cpu").step_seconds
    measured = measured_step_seconds(doc, batch_size)
    assert 0.2 < estimate / measured < 5, f"{name}: estimated {estimate * 1e3:.2f} ms, measured {measured * 1e3:.2f} ms"


# -- calibration ------------------------------------------------------------------------------------

def test_the_calibration_is_measured_once_cached_and_measured_again_when_its_key_changes(data_dir, monkeypatch):
    measured = []

    def fake_measure(device):
        measured.append(device)
        return dataclasses.replace(FIXED, device=device, measured_s=len(measured))

    monkeypatch.setattr(step_time, "measure", fake_measure)
    first = step_time.calibration("cpu")
    assert measured == ["cpu"] and first.measured_s == 1
    cached = json.loads((data_dir / "step_time.json").read_text())
    key = step_time.cache_key("cpu")
    assert f"torch {torch.__version__}" in key and f"{torch.get_num_threads()} threads" in key
    assert list(cached["entries"]) == [key]

    assert step_time.calibration("cpu") == first  # this process remembers it
    monkeypatch.setattr(step_time, "_memo", {})
    assert step_time.calibration("auto" if not torch.cuda.is_available() else "cpu") == first  # a new process reads it
    assert measured == ["cpu"]

    threads = torch.get_num_threads()
    torch.set_num_threads(threads + 1)
    try:
        assert step_time.calibration("cpu").measured_s == 2  # another thread count: measured again
    finally:
        torch.set_num_threads(threads)
    monkeypatch.setattr(torch, "__version__", "99.0")
    assert step_time.calibration("cpu").measured_s == 3  # another torch
    assert len(json.loads((data_dir / "step_time.json").read_text())["entries"]) == 3

    monkeypatch.setattr(step_time, "_memo", {})
    (data_dir / "step_time.json").write_text("{not json")
    assert step_time.calibration("cpu").measured_s == 4  # a damaged cache is measured over
    monkeypatch.setattr(step_time, "_memo", {})
    damaged = json.loads((data_dir / "step_time.json").read_text())
    damaged["entries"][step_time.cache_key("cpu")]["matmul_macs_per_s"] = 0
    (data_dir / "step_time.json").write_text(json.dumps(damaged))
    assert step_time.calibration("cpu").measured_s == 5  # and figures that would divide by zero too
    assert len(measured) == 5


def test_measuring_is_quick_and_leaves_the_random_numbers_alone(data_dir):
    step_time.measure("cpu")  # the first one in a process pays torch's first-use costs
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    start = time.perf_counter()
    figures = step_time.measure("cpu")
    assert time.perf_counter() - start < 2.0  # ≈ 0.15 s on the 2-core test machine
    assert torch.equal(torch.rand(3), expected)
    assert figures.matmul_macs_per_s > 1e8 and figures.conv_macs_per_s > 1e8
    assert set(figures.recurrent_step_s) == {"RNN", "LSTM", "GRU"}
    assert all(0 < s < 0.01 for s in figures.recurrent_step_s.values())
    assert 0 < figures.node_s < 0.01 and 0 <= figures.step_s < 0.01


def test_stats_stay_untimed_when_measuring_fails(monkeypatch):
    def broken(device="auto"):
        raise RuntimeError("no")

    monkeypatch.setattr(step_time, "calibration", broken)
    doc = long_gru(10)
    stats = graph_stats(doc, validate(doc), 4)
    assert stats.step_seconds is None and stats.timed_on is None and stats.nodes["gru1"].params > 0
    assert stats.to_dict()["step_seconds"] is None
