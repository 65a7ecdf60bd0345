"""An image folder's validation samples keep their files' names (`DataSplit.val_source`), in memory and read lazily
alike, so a classifier's mistakes and a confusion cell's samples name the file to look at (issue 23)."""

from __future__ import annotations

import pytest
from test_data import make_images

from engine.data import load_dataset

CLASSES = ("cat", "dog")


@pytest.mark.parametrize("lazy", [False, True])
def test_each_validation_image_is_named_by_its_file(tmp_path, lazy):
    make_images(tmp_path / "images", CLASSES, per_class=8)  # file i of class c has blue value 40·c + i
    config = {"name": "image_folder", "path": "images", "image_size": [6, 10], "normalize": False}
    split = load_dataset(config, seed=0, base_dir=tmp_path, **({"in_memory": lambda size: False} if lazy else {}))
    source = split.val_source
    assert source is not None and len(source.rows) == len(split.val) == 4 and source.cells == {}
    assert len(set(source.rows)) == 4
    for i, name in enumerate(source.rows):
        x, y = split.val[i]
        folder, file = name.split("/")
        c = CLASSES.index(folder)
        assert int(y) == c and round(float(x[2, 0, 0]) * 255) == 40 * c + int(file.removesuffix(".png"))
        assert source.row(i) == {"row": name, "cells": {}}
