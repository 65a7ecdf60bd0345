"""What the Dataset tab shows, computed in the worker (engine/data/summary.py): class counts of each part, value
ranges as trained, a batch drawn by seed and augmented by the trainer's own augmentation, a text's tokens."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from engine.data import download, load_dataset
from engine.data.summary import BATCH, dataset_summary


def test_digits_counts_ranges_and_a_batch_drawn_by_seed_and_augmented_as_the_trainer_does():
    config = {"name": "digits", "augment": {"noise": 0.5}}
    split = load_dataset(config, seed=0)
    summary = dataset_summary(config, 0, None, augment=True, draw=4)
    classes = summary["classes"]
    assert classes["train"] == np.bincount(split.train.tensors[1].numpy()).tolist()
    assert classes["val"] == np.bincount(split.val.tensors[1].numpy()).tolist() and classes["names"][7] == "7"
    (channel,) = summary["ranges"]["rows"]
    x = split.train.tensors[0][:512]
    assert channel["min"] == pytest.approx(float(x.min())) and channel["std"] == pytest.approx(float(x.std()), 1e-3)

    batch = summary["batch"]
    indices = [s["index"] for s in batch["samples"]]
    assert len(indices) == BATCH and batch["augmented"] and batch["augment"] == "noise 0.5"
    torch.manual_seed(4)
    expected = split.augment(split.train.tensors[0][indices])  # the trainer's augmentation, seeded by the draw
    np.testing.assert_allclose([s["x"] for s in batch["samples"]], expected.reshape(BATCH, -1).numpy(), atol=1e-6)
    assert [s["label"] for s in batch["samples"]] == [str(int(split.train.tensors[1][i])) for i in indices]

    plain = dataset_summary(config, 0, None, augment=False, draw=4)["batch"]
    assert [s["index"] for s in plain["samples"]] == indices and not plain["augmented"]
    np.testing.assert_allclose([s["x"] for s in plain["samples"]],
                               split.train.tensors[0][indices].reshape(BATCH, -1).numpy())
    assert [s["index"] for s in dataset_summary(config, 0, None, draw=5)["batch"]["samples"]] != indices


def test_text_shows_its_tokens_and_no_class_chart():
    summary = dataset_summary({"name": "text", "tokenizer": "bpe", "vocab_size": 300}, 0, None)
    assert summary["classes"] is None and summary["ranges"] is None
    text = "".join(t["text"] for t in summary["tokens"])
    assert len(summary["tokens"]) == 64 and text.startswith("THE WEAVER")
    assert any(len(t["text"]) > 1 for t in summary["tokens"])  # BPE merges: tokens longer than a character


def test_an_image_folder_read_lazily_is_counted_from_its_labels(tmp_path):
    rng = np.random.default_rng(0)
    for name, count in (("cat", 12), ("dog", 3)):
        (tmp_path / name).mkdir()
        for i in range(count):
            Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(tmp_path / name / f"{i}.png")
    config = {"name": "image_folder", "path": str(tmp_path), "image_size": [8, 8], "val_split": 0.2}
    summary = dataset_summary(config, 0, None)  # never decodes the whole folder: its labels are counted
    assert summary["classes"]["names"] == ["cat", "dog"] and sum(summary["classes"]["train"]) == 12
    assert [r["name"] for r in summary["ranges"]["rows"]] == ["channel 0", "channel 1", "channel 2"]


def test_a_benchmark_set_not_downloaded_is_summarised_without_a_batch(tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERLOOM_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(download, "open_url", lambda *a, **k: pytest.fail("a summary never downloads"))
    summary = dataset_summary({"name": "fashion_mnist"}, 0, None)
    assert summary["batch"] is None and "not downloaded yet" in summary["unavailable"]
    assert summary["input_shape"] == [1, 28, 28] and summary["train_samples"] == 60_000
