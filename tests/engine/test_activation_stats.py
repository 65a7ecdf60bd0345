"""Activation statistics at log points: per node mean, std, zeros, saturation, non-finite; dead layers said."""

from __future__ import annotations

import math

import torch
from safetensors.torch import save_file
from train_harness import iris_mlp

from engine.compile import compile_graph
from engine.inspect.activations import ActivationStats
from engine.train import read_events, train


def test_a_relu_behind_a_bias_of_minus_100_is_reported_dead(tmp_path):
    save_file({"fc1.bias": torch.full((16,), -100.0)}, tmp_path / "dead.safetensors")
    result = train(iris_mlp(init_weights=str(tmp_path / "dead.safetensors")), tmp_path / "run")
    assert result.state == "finished", result.message
    events = read_events(tmp_path / "run" / "events.jsonl")
    measured = [e["activations"] for e in events if "activations" in e]
    assert measured and all(set(m) == {"fc1", "relu1", "fc2"} for m in measured)  # layers, not the loss
    assert all(m["relu1"]["zero"] == 1.0 and m["fc1"]["mean"] < -90 for m in measured)
    dead = [e for e in events if e["type"] == "warning" and e.get("node") == "relu1"]
    assert len(dead) == 1 and "100% of its outputs are zero at step" in dead[0]["message"]  # said once
    assert dead[0]["step"] == next(e["step"] for e in events if e["type"] == "step")


def test_a_healthy_run_reports_no_dead_layer(tmp_path):
    result = train(iris_mlp(), tmp_path / "run")
    events = read_events(tmp_path / "run" / "events.jsonl")
    assert result.state == "finished" and not [e for e in events if e["type"] == "warning" and e.get("node")]
    relu = [e["activations"]["relu1"] for e in events if "activations" in e]
    assert relu
    assert all(0 < r["zero"] < 0.9 and r["saturated"] is None and r["nonfinite"] == 0 for r in relu)


def test_statistics_equal_the_ones_computed_by_hand():
    doc = iris_mlp()
    doc.add_node("Tanh", node_id="tanh1")
    doc.add_edge(next(e for e in doc.edges if e.src == "fc1")._replace(dst="tanh1", dst_port="in"))
    doc.add_node("Output", node_id="output2")
    from engine.document import Edge

    doc.add_edge(Edge("tanh1", "out", "output2", "in"))
    module = compile_graph(doc, with_loss=True).module
    with torch.no_grad():
        module.fc1.weight.mul_(50)  # most of tanh's inputs far from 0: saturated
    stats = ActivationStats(module, {n: s.type_id for n, s in doc.nodes.items()}, {"loss1": "loss"})
    x = torch.randn(32, 4)
    stats.tap(x, torch.zeros(32, dtype=torch.long))
    values = stats.as_dict(stats.take().tolist())
    fc1 = module.fc1(x)
    relu, tanh = fc1.relu(), fc1.tanh()
    assert math.isclose(values["fc1"]["mean"], fc1.mean().item(), rel_tol=1e-4)
    assert math.isclose(values["fc1"]["std"], fc1.std().item(), rel_tol=1e-4)
    assert values["relu1"]["zero"] == (relu == 0).float().mean().item()
    assert values["tanh1"]["saturated"] == (tanh.abs() >= 0.98).float().mean().item() > 0.5
    assert stats.take() is None  # a measurement is read once
