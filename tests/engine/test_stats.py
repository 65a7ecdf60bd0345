"""Graph statistics: parameter counts, multiply-adds and memory, checked against real torch modules."""

import dataclasses
import json
import time

import pytest

from engine.cli import main
from engine.compile import compile_graph
from engine.document import Edge, GraphDocument
from engine.fileformat import save_document
from engine.stats import GraphStats, format_bytes, format_count, format_seconds, graph_stats
from engine.step_time import Calibration
from engine.validate import validate
from nodes import registry


def token_classifier() -> GraphDocument:
    """int64 tokens (N, 6) → Embedding(20, 8) → LSTM(5) → Linear(3) → output1 + CrossEntropyLoss."""
    doc = GraphDocument()
    doc.add_node("Input", {"shape": [6], "dtype": "int64"}, node_id="input1")
    doc.add_node("Embedding", {"num_embeddings": 20, "embedding_dim": 8}, node_id="embed1")
    doc.add_node("LSTM", {"hidden_size": 5}, node_id="lstm1")
    doc.add_node("Linear", {"out_features": 3}, node_id="fc1")
    doc.add_node("Output", node_id="output1")
    doc.add_node("Target", {"shape": [], "dtype": "int64"}, node_id="target1")
    doc.add_node("CrossEntropyLoss", node_id="loss1")
    for src, dst in (("input1", "embed1"), ("embed1", "lstm1"), ("lstm1", "fc1"), ("fc1", "output1")):
        doc.add_edge(Edge(src, "out", dst, "in"))
    doc.add_edge(Edge("fc1", "out", "loss1", "pred"))
    doc.add_edge(Edge("target1", "out", "loss1", "target"))
    return doc


def test_parameter_counts_equal_the_compiled_modules():
    doc = token_classifier()
    stats = graph_stats(doc, validate(doc), batch_size=4)
    module = compile_graph(doc).module
    assert stats.total_params == sum(p.numel() for p in module.parameters())
    for node_id, child in module.named_children():
        assert stats.nodes[node_id].params == sum(p.numel() for p in child.parameters())


def test_linear_macs_and_activation_bytes_follow_the_batch():
    doc = token_classifier()
    stats = graph_stats(doc, validate(doc), batch_size=4)
    assert stats.nodes["fc1"].macs == 4 * 5 * 3  # N · in · out
    assert stats.nodes["fc1"].activation_bytes == 4 * 3 * 4  # (N, 3) fp32
    assert stats.nodes["input1"].activation_bytes == 4 * 6 * 8  # int64 token ids
    assert stats.nodes["embed1"].activation_bytes == 4 * 6 * 8 * 4  # dtype flows: int64 in, fp32 out
    assert stats.nodes["lstm1"].macs == 4 * 6 * 4 * 5 * (8 + 5)  # N · T · 4 gates · H · (in + H)
    bigger = graph_stats(doc, validate(doc), batch_size=8)
    assert bigger.nodes["fc1"].macs == 2 * stats.nodes["fc1"].macs
    assert bigger.total_params == stats.total_params


def test_training_memory_counts_adam_state_and_activations():
    doc = token_classifier()
    stats = graph_stats(doc, validate(doc), batch_size=4)
    activations = sum(s.activation_bytes for s in stats.nodes.values())
    assert stats.total_activation_bytes == activations
    assert stats.training_memory_bytes == 16 * stats.total_params + activations


def test_a_layer_that_cannot_be_built_is_skipped_with_the_reason(monkeypatch):
    def refuse(params, in_shapes):
        raise RuntimeError("no")

    linear = registry.get_spec("Linear")
    monkeypatch.setitem(registry._SPECS, "Linear", dataclasses.replace(linear, build=refuse))
    doc = token_classifier()
    stats = graph_stats(doc, validate(doc), batch_size=4)
    assert stats.skipped == {"fc1": "cannot build the layer: no"}
    assert "fc1" not in stats.nodes and "loss1" not in stats.nodes  # the loss needs fc1's output
    assert stats.nodes["lstm1"].params > 0


@pytest.mark.parametrize("value, count, size", [
    (0, "0", "0 B"), (999, "999", "999 B"), (1234, "1.2 k", "1.2 KiB"), (3_565_158, "3.6 M", "3.4 MiB"),
    (2_500_000_000, "2.5 G", "2.3 GiB"),
])
def test_human_formats(value, count, size):
    assert (format_count(value), format_bytes(value)) == (count, size)


@pytest.mark.parametrize("seconds, text", [
    (0, "0 µs"), (42e-6, "42 µs"), (1.234e-3, "1.2 ms"), (0.0123, "12 ms"), (0.5, "500 ms"), (2.5, "2.5 s"),
    (59, "59 s"), (250, "4.2 min"), (3000, "50 min"), (7200, "2.0 h"), (4 * 86400, "4.0 d"),
])
def test_durations_read_in_their_unit(seconds, text):
    assert format_seconds(seconds) == text


def test_validate_command_prints_and_reports_the_stats(tmp_path, capsys):
    path = tmp_path / "tokens.json"
    save_document(token_classifier(), path)
    assert main(["validate", str(path), "--batch-size", "4"]) == 0
    out = capsys.readouterr().out
    fc1_row = next(line for line in out.splitlines() if line.split()[:2] == ["fc1", "Linear"])
    assert fc1_row.split()[2:6] == ["18", "60", "48", "B"]  # params, MACs, activations at batch 4
    assert fc1_row.split()[7] in ("µs", "ms")  # its time in a training step
    assert "training memory" in out and out.rstrip().endswith("valid")
    assert "time per training step: ≈ " in out and " on this CPU" in out

    assert main(["validate", str(path), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)["stats"]
    assert stats["batch_size"] == 32
    assert stats["nodes"]["fc1"].items() >= {"params": 18, "macs": 32 * 15, "activation_bytes": 32 * 12}.items()
    assert stats["total_params"] == sum(n["params"] for n in stats["nodes"].values())
    assert stats["timed_on"] == "this CPU" and 0 < stats["nodes"]["fc1"]["seconds"] < stats["step_seconds"] < 1
    assert stats["nodes"]["lstm1"]["sequential_steps"] == 6
    assert GraphStats.from_dict(stats).to_dict() == stats


def test_stats_of_a_graph_of_hundreds_of_distinct_layers_are_quick():
    doc = GraphDocument()
    doc.add_node("Input", {"shape": [8]}, node_id="input1")
    previous = "input1"
    for i in range(200):  # every width differs, so nothing is memoised
        doc.add_node("Linear", {"out_features": 8 + i}, node_id=f"fc{i}")
        doc.add_edge(Edge(previous, "out", f"fc{i}", "in"))
        previous = f"fc{i}"
    doc.add_node("Output", node_id="output1")
    doc.add_edge(Edge(previous, "out", "output1", "in"))
    graph_stats(doc, validate(doc), batch_size=2)  # warm the flop counter's imports
    report = validate(doc)
    start = time.perf_counter()
    stats = graph_stats(doc, report, batch_size=3)
    assert time.perf_counter() - start < 5.0  # ≈ 0.2 s on one laptop core
    assert stats.nodes["fc199"].macs == 3 * (8 + 198) * (8 + 199)


def long_lstm(steps: int) -> GraphDocument:
    """(N, steps, 4) → LSTM(16) → Linear(3) → output1."""
    doc = GraphDocument()
    doc.add_node("Input", {"shape": [steps, 4]}, node_id="input1")
    doc.add_node("LSTM", {"hidden_size": 16}, node_id="lstm1")
    doc.add_node("Linear", {"out_features": 3}, node_id="fc1")
    doc.add_node("Output", node_id="output1")
    for src, dst in (("input1", "lstm1"), ("lstm1", "fc1"), ("fc1", "output1")):
        doc.add_edge(Edge(src, "out", dst, "in"))
    return doc


def test_stats_of_a_long_sequence_run_no_layer_and_grow_linearly(monkeypatch, tmp_path):
    """Stats used to run each layer: minutes for an LSTM over 100,000 steps. Now no layer ever runs (the
    step-time calibration runs small layers once per machine: here it is given)."""
    import torch

    import engine.step_time

    calibration = Calibration("cpu", 5e10, 3e10, 6e-10, 3e-9, 9e-5, 1.3e-4, {"LSTM": 1.5e-5}, {"LSTM": 3e10})
    monkeypatch.setattr(engine.step_time, "calibration", lambda device="auto": calibration)
    monkeypatch.setattr(torch.nn.Module, "__call__", lambda *args, **kwargs: pytest.fail("stats ran a layer"))
    short, long = (graph_stats(doc, validate(doc), batch_size=2) for doc in (long_lstm(100), long_lstm(100_000)))
    assert long.nodes["lstm1"].macs == 1000 * short.nodes["lstm1"].macs == 1000 * 2 * 100 * 4 * 16 * (4 + 16)
    assert long.total_params == short.total_params
    assert long.nodes["input1"].activation_bytes == 1000 * short.nodes["input1"].activation_bytes
    assert (short.nodes["lstm1"].sequential_steps, long.nodes["lstm1"].sequential_steps) == (100, 100_000)
    assert long.nodes["lstm1"].seconds > 100_000 * 1.5e-5 > 500 * short.nodes["lstm1"].seconds
    path = tmp_path / "long.json"
    save_document(long_lstm(100_000), path)
    assert main(["validate", str(path)]) == 0
