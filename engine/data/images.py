"""An image folder: one sub-folder per class, any format Pillow reads, resized to one size.

    images/cat/001.png, images/cat/002.jpg, images/dog/a.png …  →  classes ["cat", "dog"]

Images become (C, H, W) float32 in [0, 1] with C = 1 (`grayscale`) or 3, resized to `image_size`
[H, W] (default [32, 32]). Hidden files and folders are ignored. Files Pillow cannot read (a
note, a thumbnail database, a truncated download) are skipped and named in the split's warnings —
unless more than a tenth of the files fail, which looks like the wrong folder or a damaged copy and
is an error naming the first of them; so is a class folder with no readable image at all.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError
from ..preprocessing import read_image
from .options import Options
from .split import DataSplit, assemble, split_arrays

MAX_UNREADABLE = 0.1  # the fraction of a folder's files that may be skipped with a warning
SHOWN = 5  # unreadable files named in a message


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
    images, labels, unreadable, total = [], [], [], 0
    for label, name in enumerate(classes):
        files = sorted(f for f in (root / name).iterdir() if f.is_file() and not f.name.startswith("."))
        read = [(f, read_image(f, (height, width), channels)) for f in files]
        loaded = [img for _, img in read if img is not None]
        if not loaded:
            raise DataError(f"{shown}: class folder {name!r} holds no readable images")
        images += loaded
        labels += [label] * len(loaded)
        unreadable += [f"{name}/{f.name}" for f, img in read if img is None]
        total += len(files)
    if len(unreadable) > MAX_UNREADABLE * total:
        raise DataError(f"{shown}: {len(unreadable)} of {total} files are not images Pillow can read "
                        f"({_names(unreadable)}) — remove them, or point path at the right folder")
    x = np.stack(images).astype(np.float32).transpose(0, 3, 1, 2) / 255.0  # (N, H, W, C) → (N, C, H, W)
    y = np.array(labels, dtype=np.int64)
    train, val = split_arrays(opts, x, y, seed, stratify=True)
    raw = {"kind": "image", "size": [height, width], "channels": channels, "scale": 1 / 255}
    split = assemble(opts, train, val, task="classification", num_classes=len(classes), class_names=classes, raw=raw)
    if unreadable:
        split.warnings.append(f"skipped {len(unreadable)} file(s) in {shown} that are not readable images: "
                              f"{_names(unreadable)}")
    return split


def _names(paths: list[str]) -> str:
    more = f" and {len(paths) - SHOWN} more" if len(paths) > SHOWN else ""
    return ", ".join(paths[:SHOWN]) + more
