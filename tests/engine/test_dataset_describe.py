"""A dataset described for the editor (engine/data/describe.py): a benchmark set with no copy on this machine
is still known — shape, dtype, classes, split sizes — so the graph is checked against it without a download."""

from __future__ import annotations

import pytest
from benchmark_writers import write_cifar10
from train_harness import example

from engine.data import download
from engine.data.describe import describe_dataset
from engine.data_fit import data_checks
from engine.errors import DataError
from engine.validate import validate


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    """An empty user data folder, and a network that fails the test if touched."""
    monkeypatch.setenv("LAYERLOOM_DATA_DIR", str(tmp_path / "user"))
    monkeypatch.setattr(download, "open_url", lambda *a, **k: pytest.fail("a description never downloads"))


def test_a_benchmark_set_not_downloaded_is_described_from_what_every_copy_is():
    info = describe_dataset({"name": "cifar10"}, seed=0, base_dir=None, samples=6)
    assert info["input_shape"] == [3, 32, 32] and info["input_dtype"] == "float32"
    assert info["task"] == "classification" and info["num_classes"] == 10 and info["class_names"][3] == "cat"
    assert (info["train_samples"], info["val_samples"]) == (50_000, 10_000) and info["samples"] == []
    assert "not downloaded yet" in info["unavailable"]
    assert info["description"].startswith("cifar10: 50000 train / 10000 val, x (3, 32, 32) float32, 10 classes")

    held_out = describe_dataset({"name": "mnist", "val_split": 0.25}, seed=0, base_dir=None, samples=6)
    assert (held_out["train_samples"], held_out["val_samples"]) == (45_000, 15_000)
    assert held_out["input_shape"] == [1, 28, 28] and len(held_out["class_names"]) == 10
    assert describe_dataset({"name": "cifar100"}, 0, None, 6)["num_classes"] == 100


def test_its_settings_are_still_checked():
    with pytest.raises(DataError, match="unknown setting 'val_splt'"):
        describe_dataset({"name": "cifar10", "val_splt": 0.1}, 0, None, 6)
    with pytest.raises(DataError, match="'augment.flip' must be true or false"):
        describe_dataset({"name": "cifar10", "augment": {"flip": 1}}, 0, None, 6)


def test_a_path_missing_its_files_is_described_too_and_says_what_is_missing(tmp_path):
    (tmp_path / "empty").mkdir()
    info = describe_dataset({"name": "cifar10", "path": "empty"}, 0, tmp_path, 6)
    assert info["input_shape"] == [3, 32, 32] and "has no data_batch_1.bin" in info["unavailable"]


def test_a_copy_on_disk_is_read_and_shows_its_samples(tmp_path):
    write_cifar10(tmp_path / "cifar-10-batches-bin")
    info = describe_dataset({"name": "cifar10", "path": str(tmp_path)}, 0, None, 6)
    assert "unavailable" not in info and (info["train_samples"], info["val_samples"]) == (30, 6)
    assert len(info["samples"]) == 6 and info["samples"][0]["shape"] == [3, 32, 32]


def test_the_digits_cnn_against_cifar10_gets_the_input_mismatch_and_its_fix_without_the_files():
    doc = example("digits_cnn")
    report = validate(doc)
    cifar10 = describe_dataset({"name": "cifar10"}, 0, None, 6)
    (check,) = data_checks(doc, report, cifar10)
    assert check.message == "dataset 'cifar10' gives (N, 3, 32, 32) float32, but input1 is (N, 1, 8, 8)"
    assert check.fix_text() == "set input1.shape to [3, 32, 32]"
    cifar100 = describe_dataset({"name": "cifar100"}, 0, None, 6)
    assert any("the dataset has 100 classes, but" in c.message for c in data_checks(doc, report, cifar100))
