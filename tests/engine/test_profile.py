"""Per-node profiling: the node with the big matmul is measured as the slowest, memory matches the estimate."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from train_harness import EXAMPLES, example, iris_mlp

from engine.document import Edge
from engine.inspect.profile import PROFILE_FILE, profile_graph


def test_the_node_with_the_largest_matmul_is_measured_as_the_slowest(tmp_path):
    doc = iris_mlp(batch_size=120)
    doc.nodes["fc1"].params["out_features"] = 4096  # fc2 multiplies 120 × 4096 × 3, fc1 120 × 4 × 4096
    doc.nodes["fc2"].params["out_features"] = 3
    doc.add_node("Linear", {"out_features": 1024}, node_id="wide")  # 120 × 4096 × 1024: by far the most
    edges = [e for e in doc.edges if e.src == "relu1"]
    for edge in edges:
        doc.remove_edge(edge)
    doc.add_edge(Edge("relu1", "out", "wide", "in"))
    doc.add_edge(Edge("wide", "out", "fc2", "in"))
    profile = profile_graph(doc, tmp_path, steps=3)
    assert profile.slowest() == "wide"
    assert profile.forward_s["wide"] > 3 * profile.forward_s["relu1"]
    assert profile.backward_s["wide"] > 0
    record = json.loads((tmp_path / PROFILE_FILE).read_text())
    assert record["nodes"]["wide"]["activation_bytes"] == 120 * 1024 * 4  # its (120, 1024) float32 output


@pytest.mark.parametrize("name", ["digits_mlp", "digits_cnn"])
def test_measured_activation_memory_is_within_25_percent_of_the_estimate(tmp_path, name):
    profile_graph(example(name), tmp_path, steps=1)
    nodes = json.loads((tmp_path / PROFILE_FILE).read_text())["nodes"]
    measured = sum(n["activation_bytes"] for n in nodes.values())
    estimated = sum(n["estimated_activation_bytes"] for n in nodes.values())
    assert abs(measured - estimated) <= 0.25 * estimated, (measured, estimated)


def test_the_command_prints_the_table_and_writes_profile_json(tmp_path):
    graph = tmp_path / "mlp.json"
    graph.write_text((EXAMPLES / "digits_mlp.json").read_text())
    done = subprocess.run([sys.executable, "-m", "engine", "profile", str(graph), "--steps", "1", "--device", "cpu",
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "fc1" in done.stdout and f"written to {tmp_path / 'out' / PROFILE_FILE}" in done.stdout
    assert set(json.loads((tmp_path / "out" / PROFILE_FILE).read_text())["nodes"]) >= {"fc1", "relu1", "fc2"}
    bad = subprocess.run([sys.executable, "-m", "engine", "profile", str(graph), "--steps", "0"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "--steps must be at least 1" in bad.stdout
