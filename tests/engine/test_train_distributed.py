"""Data-parallel training under torchrun: 2 CPU processes with gloo, DDP and FSDP (slow: spawns)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from train_harness import iris_mlp, of_type

from engine.fileformat import save_document
from engine.train import read_events
from engine.train.checkpoint_files import read_metadata

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def torchrun(tmp_path: Path, strategy: str) -> tuple[subprocess.CompletedProcess, Path]:
    graph = tmp_path / "iris.json"
    save_document(iris_mlp(epochs=1), graph)
    out = tmp_path / strategy
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "engine", "train", str(graph), "--out", str(out), "--strategy", strategy],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc, out


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    return torchrun(tmp_path_factory.mktemp("dist"), "ddp")


def test_ddp_trains_on_two_processes_and_only_rank_0_writes(ddp_run):
    proc, out = ddp_run
    assert proc.stdout.count("epoch 1:") == 1 and proc.stdout.count("finished 1 epochs") == 1
    events = read_events(out / "events.jsonl")
    assert [e["state"] for e in of_type(events, "status")] == ["started", "finished"]  # not one per rank
    (started,) = of_type(events, "started")
    assert started["world_size"] == 2 and started["steps_per_epoch"] == 4  # 60 samples per rank, batch 16
    assert of_type(events, "step")[-1]["step"] == 4
    checkpoints = {f"{tag}.safetensors" for tag in ("last", "best")}
    checkpoints |= {read_metadata(out / name)["train"] for name in checkpoints}  # each names its training state
    assert {p.name for p in out.iterdir()} == checkpoints | {
        "events.jsonl", "summary.json", "metrics.csv", "tensorboard", "run.json", "graph.json", "config.json",
        "data.json", "artifacts"}
    assert [e["tag"] for e in of_type(events, "artifact")] == ["confusion"]  # rank 0's, once
    assert json.loads((out / "summary.json").read_text())["state"] == "finished"


def test_fsdp_shards_yet_trains_exactly_like_ddp(ddp_run, tmp_path):
    _, ddp_out = ddp_run
    _, out = torchrun(tmp_path, "fsdp")
    ddp, fsdp = load_file(str(ddp_out / "last.safetensors")), load_file(str(out / "last.safetensors"))
    assert ddp.keys() == fsdp.keys()
    for key in ddp:
        torch.testing.assert_close(fsdp[key], ddp[key], atol=1e-5, rtol=1e-5)
    ddp_steps, fsdp_steps = (of_type(read_events(d / "events.jsonl"), "step") for d in (ddp_out, out))
    # norms of the sharded gradients are gathered: the same as DDP's full gradients
    assert fsdp_steps[0]["layer_grad_norms"] == pytest.approx(ddp_steps[0]["layer_grad_norms"], rel=1e-4)
    assert all(v > 0 for v in fsdp_steps[0]["layer_grad_norms"].values())
