"""An image folder: one sub-folder per class, any format Pillow reads, resized to one size.

    images/cat/001.png, images/cat/002.jpg, images/dog/a.png …  →  classes ["cat", "dog"]

Images become (C, H, W) float32 in [0, 1] with C = 1 (`grayscale`) or 3, resized to `image_size`
[H, W] (default [32, 32]); how many were resized (from which sizes) and converted (from which modes) is
said in the split's notes, so in its description, the dataset preview and the run's log. Each validation
image keeps its file's name (`DataSplit.val_source`: "cat/007.png"), so a mistake names the file to look at.

Hidden files and folders are ignored. Files Pillow cannot read (a note, a thumbnail database, a
truncated download) are skipped and named in the split's warnings — unless more than a tenth of the
files fail, which looks like the wrong folder or a damaged copy and is an error naming the first of
them; so is a class folder with no readable image at all.

A folder whose decoded images fit where the run keeps its data (`Options.in_memory`, see
placement.py) is decoded whole up front. A larger one is read lazily: only the files' headers are
checked when it is loaded, and `ImageFiles` decodes a batch's files when the DataLoader's workers ask
for it, so a folder of any size trains in bounded memory. Both give the same samples, bit for bit,
as long as the training part has at most `split.STATS_SAMPLES` images (the lazy standardisation
statistics come from that many).
"""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..preprocessing import ImageTooLarge, read_image
from .options import Options
from .split import DataSplit, SourceRows, assemble, split_arrays

MAX_UNREADABLE = 0.1  # the fraction of a folder's files that may be skipped with a warning
SHOWN = 5  # unreadable files named in a message
SIZES_SHOWN = 3  # source sizes named in the resizing note
MODES = {"1": "1-bit", "L": "grayscale", "LA": "grayscale with alpha", "P": "palette", "RGBA": "RGBA",
         "CMYK": "CMYK", "I;16": "16-bit grayscale", "I": "32-bit grayscale", "F": "float grayscale"}
Header = tuple[tuple[int, int], str]  # (width, height) and Pillow's mode, as a file's header declares them


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
    folders = {name: sorted(f for f in (root / name).iterdir() if f.is_file() and not f.name.startswith("."))
               for name in classes}
    reader = ImageReader((height, width), channels)
    total = sum(map(len, folders.values()))
    lazy = not opts.in_memory(total * channels * height * width * 4)  # float32 once decoded
    images, labels, unreadable, headers, names = [], [], [], [], []  # names: "cat/001.png", one per image kept
    for label, (name, files) in enumerate(folders.items()):
        read = []
        for f in files:
            header = image_header(f)
            image = None if header is None else str(f) if lazy else _decoded(reader, f)
            read.append((f, image))
            headers += [header] if image is not None else []
        loaded = [img for _, img in read if img is not None]
        if not loaded:
            raise DataError(f"{shown}: class folder {name!r} holds no readable images")
        images += loaded
        labels += [label] * len(loaded)
        names += [f"{name}/{f.name}" for f, img in read if img is not None]
        unreadable += [f"{name}/{f.name}" for f, img in read if img is None]
    if len(unreadable) > MAX_UNREADABLE * total:
        raise DataError(f"{shown}: {len(unreadable)} of {total} files are not images Pillow can read "
                        f"({_names(unreadable)}) — remove them, or point path at the right folder")
    x = np.array(images) if lazy else reader.scale(np.stack(images))
    y = np.array(labels, dtype=np.int64)
    (train_idx, y_train), (val_idx, y_val) = split_arrays(opts, np.arange(len(y)), y, seed, stratify=True)
    raw = {"kind": "image", "size": [height, width], "channels": channels, "scale": 1 / 255}
    split = assemble(opts, (x[train_idx], y_train), (x[val_idx], y_val), task="classification",
                     num_classes=len(classes), class_names=classes, raw=raw, lazy=reader if lazy else None)
    split.val_source = SourceRows([names[i] for i in val_idx], {})  # a mistake is named by its file
    split.notes += conversion_notes(headers, (height, width), channels)
    if unreadable:
        split.warnings.append(f"skipped {len(unreadable)} file(s) in {shown} that are not readable images: "
                              f"{_names(unreadable)}")
    return split


def _decoded(reader: ImageReader, path: Path) -> np.ndarray | None:
    """The image decoded, or None for a file to skip: not an image, or one too large to read safely."""
    try:
        return reader.read(path)
    except ImageTooLarge:
        return None


def image_header(path: Path) -> Header | None:
    """The size and mode of an image Pillow recognises and reads safely (its header only: the pixels are decoded
    later); None for a file that is not one, or declares more pixels than Pillow reads safely (a possible
    decompression bomb)."""
    from PIL import Image, UnidentifiedImageError

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as image:
                return image.size, image.mode
        except (UnidentifiedImageError, OSError, Image.DecompressionBombError, Image.DecompressionBombWarning):
            return None


def conversion_notes(headers: list[Header], size: tuple[int, int], channels: int) -> list[str]:
    """What became of the images: "resized 412 of 500 images to 32×32 (from 640×480: 300, …)" and "converted 20
    of 500 images to RGB (12 grayscale, 8 RGBA)"; sizes are width × height, as image viewers give them."""
    height, width = size
    target = "L" if channels == 1 else "RGB"
    resized = Counter(f"{w}×{h}" for (w, h), _ in headers if (w, h) != (width, height))
    converted = Counter(MODES.get(mode, mode) for _, mode in headers if mode != target)
    notes = []
    if resized:
        sizes = [f"{shape}: {count:,}" for shape, count in resized.most_common(SIZES_SHOWN)]
        others = len(resized) - SIZES_SHOWN
        notes.append(f"resized {resized.total():,} of {len(headers):,} images to {width}×{height} (from "
                     f"{', '.join(sizes)}{f' and {others} other sizes' if others > 0 else ''}) — image_size sets it")
    if converted:
        modes = ", ".join(f"{count:,} {mode}" for mode, count in converted.most_common())
        notes.append(f"converted {converted.total():,} of {len(headers):,} images to "
                     f"{'grayscale' if channels == 1 else 'RGB'} ({modes}) — grayscale sets it")
    return notes


class ImageReader:
    """Image files → (N, C, H, W) float32 in [0, 1], as this folder's settings say."""

    def __init__(self, size: tuple[int, int], channels: int):
        self.size, self.channels = size, channels

    def read(self, path: Path) -> np.ndarray | None:
        return read_image(path, self.size, self.channels)

    @staticmethod
    def scale(pixels: np.ndarray) -> np.ndarray:
        """uint8 (N, H, W, C) → float32 (N, C, H, W) in [0, 1]."""
        return pixels.astype(np.float32).transpose(0, 3, 1, 2) / 255.0

    def decode(self, paths: np.ndarray) -> np.ndarray:
        images = []
        for path in paths:
            image = self.read(Path(path))
            if image is None:
                raise DataError(f"{path}: Pillow recognised this file when the folder was loaded but cannot decode "
                                "it — it is damaged or was changed since; remove it and train again")
            images.append(image)
        return self.scale(np.stack(images))

    def dataset(self, paths: np.ndarray, labels: np.ndarray, mean: np.ndarray | None,
                std: np.ndarray | None) -> ImageFiles:
        return ImageFiles(self, paths, labels, mean, std)


class ImageFiles:
    """A split of an image folder read lazily: a batch's files are decoded (and standardised) when it is asked for,
    in a DataLoader worker. Holds only the paths and labels, so it is cheap to send to worker processes."""

    def __init__(self, reader: ImageReader, paths: np.ndarray, labels: np.ndarray, mean: np.ndarray | None,
                 std: np.ndarray | None):
        self.reader, self.paths, self.labels, self.mean, self.std = reader, paths, labels, mean, std

    def __len__(self) -> int:
        return len(self.paths)

    def __getitems__(self, indices: list[int]):
        import torch

        x = self.reader.decode(self.paths[indices])
        if self.mean is not None:
            x = (x - self.mean) / self.std
        return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(self.labels[indices])

    def __getitem__(self, index: int):
        x, y = self.__getitems__([index])
        return x[0], y[0]


def _names(paths: list[str]) -> str:
    more = f" and {len(paths) - SHOWN} more" if len(paths) > SHOWN else ""
    return ", ".join(paths[:SHOWN]) + more
