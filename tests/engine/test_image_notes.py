"""An image folder says what it did to the images: how many were resized, from which sizes, and how many
converted to grayscale or RGB, from which modes — in the split's description (so the dataset preview and the
run's log) and the Dataset tab's summary (issue 23)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from engine.data import load_dataset
from engine.data.images import conversion_notes
from engine.data.summary import dataset_summary


def _folder(root):
    for c, name in enumerate(("cat", "dog")):
        (root / name).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(np.full((6, 10, 3), 40 * c + i, np.uint8)).save(root / name / f"rgb{i}.png")
        Image.fromarray(np.full((8, 8), 90, np.uint8)).save(root / name / "gray.png")  # 8×8 grayscale
        Image.fromarray(np.full((6, 10, 4), 90, np.uint8)).save(root / name / "alpha.png")  # RGBA, the right size
        Image.fromarray(np.full((30, 40, 3), 90, np.uint8)).save(root / name / "big.jpg")  # 40×30 pixels


@pytest.mark.parametrize("in_memory", [True, False], ids=["decoded", "lazy"])
def test_the_notes_count_resized_and_converted_images_with_their_sizes(tmp_path, in_memory):
    _folder(tmp_path / "images")
    config = {"name": "image_folder", "path": "images", "image_size": [6, 10]}
    split = load_dataset(config, seed=0, base_dir=tmp_path, in_memory=lambda size: in_memory)
    assert split.notes == ["resized 4 of 18 images to 10×6 (from 40×30: 2, 8×8: 2) — image_size sets it",
                           "converted 4 of 18 images to RGB (2 RGBA, 2 grayscale) — grayscale sets it"]
    assert split.warnings == []
    assert " — note: resized 4 of 18 images" in split.describe()
    assert split.notes[1] in split.record(config)["summary"]  # data.json; the run's started event says the same


def test_grayscale_counts_colour_images_as_converted_and_the_summary_carries_the_notes(tmp_path):
    _folder(tmp_path / "images")
    summary = dataset_summary({"name": "image_folder", "path": "images", "image_size": [8, 8], "grayscale": True},
                              seed=0, base_dir=tmp_path)
    assert summary["notes"] == [
        "resized 16 of 18 images to 8×8 (from 10×6: 14, 40×30: 2) — image_size sets it",
        "converted 16 of 18 images to grayscale (14 RGB, 2 RGBA) — grayscale sets it"]


def test_images_already_at_size_and_mode_need_no_note_and_many_sizes_are_summed_up():
    assert conversion_notes([((32, 32), "RGB")] * 3, (32, 32), 3) == []
    headers = [((w, 20), "RGB") for w in (10, 11, 12, 13, 13)]
    assert conversion_notes(headers, (32, 32), 3) == [
        "resized 5 of 5 images to 32×32 (from 13×20: 2, 10×20: 1, 11×20: 1 and 1 other sizes) — image_size sets it"]
