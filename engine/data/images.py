"""An image folder: one sub-folder per class, any format Pillow reads, resized to one size.

    images/cat/001.png, images/cat/002.jpg, images/dog/a.png …  →  classes ["cat", "dog"]

Images become (C, H, W) float32 in [0, 1] with C = 1 (`grayscale`) or 3, resized to `image_size`
[H, W] (default [32, 32]). Files Pillow cannot read (notes, thumbnails databases) are skipped;
a class folder with no readable image at all is an error. Hidden files and folders are ignored.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError
from ..preprocessing import read_image
from .options import Options
from .split import DataSplit, assemble, split_arrays


def load_image_folder(opts: Options, seed: int) -> DataSplit:
    root, shown = opts.path(), opts.config["path"].rstrip("/\\") + "/"
    height, width = opts.ints("image_size", [32, 32], 2, 1, 4096)
    channels = 1 if opts.boolean("grayscale", False) else 3
    if not root.is_dir():
        raise DataError(f"{shown}: is not a folder — point path at a folder holding one sub-folder per class")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise DataError(f"{shown}: found {len(classes)} class folder(s) — put the images of each class in its own "
                        "sub-folder, at least two classes")
    images, labels = [], []
    for label, name in enumerate(classes):
        files = sorted(f for f in (root / name).iterdir() if f.is_file() and not f.name.startswith("."))
        loaded = [img for img in (read_image(f, (height, width), channels) for f in files) if img is not None]
        if not loaded:
            raise DataError(f"{shown}: class folder {name!r} holds no readable images")
        images += loaded
        labels += [label] * len(loaded)
    x = np.stack(images).astype(np.float32).transpose(0, 3, 1, 2) / 255.0  # (N, H, W, C) → (N, C, H, W)
    y = np.array(labels, dtype=np.int64)
    train, val = split_arrays(opts, x, y, seed, stratify=True)
    raw = {"kind": "image", "size": [height, width], "channels": channels, "scale": 1 / 255}
    return assemble(opts, train, val, task="classification", num_classes=len(classes), class_names=classes, raw=raw)
