"""Where a run's data lives (engine/data/batches.py, placement.py) and whether it compiles (engine/train/speed.py).

Resident and streamed data must give the same batches for the same seed — so the same trained
weights —, an image folder streamed from disk must train in bounded memory, and `compile: auto`
must say no where compiling cannot pay (measured here: the digits MLP compiled for 29 s to run 0.57×
as fast on the CPU).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from torch.utils.data import TensorDataset
from train_harness import iris_mlp, of_type, run

from engine.data import load_dataset
from engine.data.batches import Resident, Streamed, epoch_order, take
from engine.data.placement import choose
from engine.document import Edge, GraphDocument
from engine.fileformat import save_document
from engine.train.speed import choose_compile

ROOT = Path(__file__).resolve().parents[2]


def dataset(n: int = 50) -> TensorDataset:
    generator = torch.Generator().manual_seed(1)
    return TensorDataset(torch.randn(n, 3, generator=generator), torch.randint(0, 4, (n,), generator=generator))


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("workers", [0, 1])
def test_resident_and_streamed_data_give_the_same_batches(shuffle, workers):
    data, cpu = dataset(), torch.device("cpu")
    order = epoch_order(len(data), seed=3, epoch=2, shuffle=shuffle)
    resident = list(Resident(data, cpu).batches(order, 8))
    streamed = list(Streamed(data, cpu, workers).batches(order, 8))
    assert [len(x) for x, _ in resident] == [8] * 6 + [2]
    for (x1, y1), (x2, y2) in zip(resident, streamed, strict=True):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)
    seen = torch.cat([y for _, y in resident])
    assert sorted(seen.tolist()) == sorted(data.tensors[1].tolist())  # every sample once


def test_a_streamed_run_trains_exactly_like_a_resident_one(tmp_path):
    weights = {}
    for placement in ("device", "stream"):
        result, events = run(iris_mlp(epochs=2, data_placement=placement, data_workers=0), tmp_path / placement)
        assert result.state == "finished"
        weights[placement] = load_file(str(tmp_path / placement / "last.safetensors"))
        if placement == "stream":
            assert any("streamed to cpu" in w["message"] for w in of_type(events, "warning"))
    for key, value in weights["device"].items():
        assert torch.equal(value, weights["stream"][key]), key


def test_auto_placement_keeps_what_fits_on_the_device_and_streams_the_rest():
    assert choose("auto", 400, 1000) == "device" and choose("auto", 600, 1000) == "stream"
    assert choose("stream", 1, 1000) == "stream" and choose("device", 10**12, 1000) == "device"


def test_compile_auto_says_no_for_a_tiny_net_and_says_why(tmp_path):
    cpu = choose_compile("auto", "cpu", total_steps=10**6, step_seconds=None)
    tiny = choose_compile("auto", "cuda", total_steps=200, step_seconds=1e-4)
    long = choose_compile("auto", "cuda", total_steps=10**6, step_seconds=0.2)
    assert not cpu.enabled and not tiny.enabled and long.enabled
    assert all(c.reason.startswith("compile auto chose") for c in (cpu, tiny, long))
    assert not choose_compile("off", "cuda", 10**6, 0.2).enabled and choose_compile("on", "cpu", 1, None).enabled
    result, events = run(iris_mlp(epochs=1, compile="auto"), tmp_path)
    assert result.state == "finished"
    assert any(w["message"].startswith("compile auto chose off") for w in of_type(events, "warning"))


def test_an_image_folder_read_lazily_gives_the_samples_and_statistics_of_one_decoded_whole(tmp_path):
    rng = np.random.default_rng(1)
    for c, name in enumerate(("a", "b", "c")):
        (tmp_path / "images" / name).mkdir(parents=True)
        for i in range(70):  # 210 images: statistics from several chunks of 64
            pixels = rng.integers(0, 200, (12, 10, 3), dtype=np.uint8) + 20 * c
            Image.fromarray(pixels.astype(np.uint8)).save(tmp_path / "images" / name / f"{i}.png")
    config = {"name": "image_folder", "path": "images", "image_size": [12, 10]}
    whole = load_dataset(config, seed=0, base_dir=tmp_path)
    lazy = load_dataset(config, seed=0, base_dir=tmp_path, in_memory=lambda size: False)
    assert not hasattr(lazy.train, "tensors") and hasattr(whole.train, "tensors")  # file paths, read when asked
    for key in ("mean", "std"):
        np.testing.assert_allclose(lazy.normalization[key], whole.normalization[key], rtol=1e-5)
    for part in ("train", "val"):
        a, b = getattr(whole, part), getattr(lazy, part)
        assert len(a) == len(b)
        indices = list(range(0, len(a), 7))
        (xa, ya), (xb, yb) = take(a, indices), take(b, indices)
        torch.testing.assert_close(xb, xa, rtol=1e-5, atol=1e-5)
        assert torch.equal(ya, yb)


# -- an image folder bigger than the memory it may use -----------------------------------------------------
SIDE, PER_CLASS = 64, 1500  # 3,000 RGB images: 147 MB once decoded to float32, 37 MB of noise PNGs on disk


def image_graph(folder: Path, placement: str) -> GraphDocument:
    doc = GraphDocument("images")
    doc.add_node("Input", {"shape": [3, SIDE, SIDE], "dtype": "float32"}, node_id="input1")
    doc.add_node("Conv2d", {"out_channels": 4, "kernel_size": 8, "stride": 8}, node_id="conv1")
    doc.add_node("Flatten", node_id="flat1")
    doc.add_node("Linear", {"out_features": 2}, node_id="fc1")
    doc.add_node("Output", node_id="output1")
    doc.add_node("Target", {"shape": [], "dtype": "int64"}, node_id="target1")
    doc.add_node("CrossEntropyLoss", node_id="loss1")
    for edge in [("input1", "out", "conv1", "in"), ("conv1", "out", "flat1", "in"), ("flat1", "out", "fc1", "in"),
                 ("fc1", "out", "output1", "in"), ("fc1", "out", "loss1", "pred"),
                 ("target1", "out", "loss1", "target")]:
        doc.add_edge(Edge(*edge))
    doc.training = {"dataset": {"name": "image_folder", "path": str(folder), "image_size": [SIDE, SIDE]},
                    "epochs": 1, "batch_size": 32, "device": "cpu", "num_threads": 1,
                    "data_placement": placement, "data_workers": 0}
    return doc


# VmHWM, this process's own peak: ru_maxrss would carry the (large) pytest parent's peak across fork and exec
PEAK = """
import sys
sys.path.insert(0, {root!r})
from engine.fileformat import load_document
from engine.train import train
import torch

def peak():
    line = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024

train(load_document({warmup!r}), {out!r} + "-warmup")  # imports and one-time allocations first
before = peak()
result = train(load_document({graph!r}), {out!r})
print(result.state, peak() - before)
"""


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak memory from Linux's /proc")
def test_an_image_folder_bigger_than_its_memory_cap_trains_streamed_under_the_cap(tmp_path):
    rng = np.random.default_rng(0)
    for folder, count in (("images", PER_CLASS), ("few", 16)):
        for name in ("a", "b"):
            (tmp_path / folder / name).mkdir(parents=True)
            for i in range(count):
                Image.fromarray(rng.integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8)).save(
                    tmp_path / folder / name / f"{i}.png", compress_level=0)
    decoded = 2 * PER_CLASS * 3 * SIDE * SIDE * 4
    cap = decoded // 2  # what training may add to the process's peak memory (what a kind looks at each epoch, 256
    # validation samples, and one batch are bounded costs; the dataset's size must not count)
    growth = {}
    for placement in ("stream", "device"):
        graph, warmup = tmp_path / f"{placement}.json", tmp_path / f"{placement}-few.json"
        save_document(image_graph(tmp_path / "images", placement), graph)
        save_document(image_graph(tmp_path / "few", placement), warmup)
        code = PEAK.format(root=str(ROOT), graph=str(graph), warmup=str(warmup), out=str(tmp_path / f"run-{placement}"))
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240)
        assert proc.returncode == 0, proc.stderr
        state, grew = proc.stdout.split()[-2:]
        assert state == "finished"
        growth[placement] = int(grew)
    assert growth["stream"] < cap < growth["device"], (growth, cap)  # decoded whole, the same data breaks the cap
    summary = json.loads((tmp_path / "run-stream" / "summary.json").read_text())
    assert summary["state"] == "finished"
