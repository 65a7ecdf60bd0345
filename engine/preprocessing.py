"""How a raw input becomes a model's x: the record an export carries, and its numpy reference.

A training run writes what it did to the data in data.json (`raw` and `normalization`, see
`DataSplit.record` in engine/data/split.py). An ONNX export carries it as the metadata entry
`layerloom.preprocessing`, built by `entry`:

    {"input": "input1", "kind": "table" | "image" | "text" | "array", "built_in": true,
     "input_shape": [C, H, W], "input_dtype": "float32",      # the model's x for one sample
     "features": ["a", "b"], "label": "status",                # table: the CSV columns
     "columns": [{"name": "a", "kind": "category", …}],         # … how each becomes numbers (data/tables.py)
     "encoded": ["a=x", "a=y", "b"],                          # … and the model's features they give
     "target_normalization": {"mean": [...], "std": [...], "axis": k},   # regression: outputs·std + mean
     "size": [H, W], "channels": 1 | 3, "scale": 1/255,        # image
     "vocab": ["a", "b", …],                                   # text: token id → character
     "value_range": [0.0, 16.0],                               # float array: the training x's range
     "normalization": {"mean": [...], "std": [...], "axis": k} | null}

x = (raw·scale − mean) / std, with mean/std per entry along sample axis `axis`. When `built_in`
the exported graph does this itself and its input is the raw data (images: uint8 pixels
(N, H, W, C) as image libraries give them); otherwise the graph is the bare model and the caller
applies `to_model_input`. Text is token ids either way: encoding characters happens outside, and so
does a table's encoding of its raw cells (text categories, empty cells) into numbers. A regression
trained on standardised targets (`target_normalization`) gives outputs in those units; `destandardise`
maps them back to the data's.
`data_record` turns an entry back into the data.json it came from: what `layerloom import` keeps of an
exported model, so that exporting the import builds the same preprocessing in again.

Numpy and Pillow only: `layerloom predict` must run where torch is not installed.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from .errors import DataError


def entry(data: dict, input_name: str, built_in: bool) -> dict:
    """The metadata entry for a run's data.json, fed to Input `input_name`."""
    return {"input": input_name, **data["raw"], "built_in": built_in, "input_shape": data["input_shape"],
            "input_dtype": data["input_dtype"], "normalization": data.get("normalization")}


ENTRY_KEYS = ("input", "built_in", "input_shape", "input_dtype", "normalization")  # the rest of an entry is `raw`


def data_record(prep: dict, *, task: str | None, class_names: list[str] | None, summary: str) -> dict:
    """The data.json record an `entry` was made from, as far as an export keeps it: what `export` needs to
    build the same preprocessing again (and to name the classes) — an imported model's run record."""
    return {"summary": summary, "task": task, "class_names": class_names,
            "num_classes": len(class_names) if class_names else None,
            "input_shape": list(prep["input_shape"]), "input_dtype": prep["input_dtype"],
            "raw": {key: value for key, value in prep.items() if key not in ENTRY_KEYS},
            "normalization": prep.get("normalization")}


def raw_input(prep: dict) -> tuple[tuple[int, ...], str]:
    """Shape of one raw sample and its dtype, as an exported graph with preprocessing built in takes it."""
    if prep["kind"] == "image":
        channels, height, width = prep["input_shape"]
        return (height, width, channels), "uint8"
    return tuple(prep["input_shape"]), prep["input_dtype"]


def standardisation(prep: dict) -> tuple[np.ndarray, np.ndarray] | None:
    """Mean and std shaped to broadcast against a batch of x (N, *input_shape); None when not standardised."""
    norm = prep.get("normalization")
    if not norm:
        return None
    sample_ndim = len(prep["input_shape"])
    shape = [1] * (sample_ndim + 1)
    if sample_ndim:
        shape[norm["axis"] + 1] = -1
    mean, std = (np.asarray(norm[key], dtype=np.float32).reshape(shape) for key in ("mean", "std"))
    return mean, std


def to_model_input(prep: dict, raw: np.ndarray) -> np.ndarray:
    """What an exported graph with preprocessing built in does to a batch of raw samples."""
    x = raw
    if prep["kind"] == "image":
        x = raw.transpose(0, 3, 1, 2).astype(np.float32) * np.float32(prep["scale"])  # (N, C, H, W)
    stats = standardisation(prep)
    if stats is not None:
        mean, std = stats
        x = (x.astype(np.float32) - mean) / std
    return x


def destandardise(target_normalization: dict | None, y: np.ndarray) -> np.ndarray:
    """A batch (N, *target_shape) of standardised targets or predictions back in the data's units."""
    if not target_normalization:
        return y
    shape = [1] * y.ndim
    if y.ndim > 1:
        shape[target_normalization["axis"] + 1] = -1
    mean, std = (np.asarray(target_normalization[key], dtype=np.float64).reshape(shape) for key in ("mean", "std"))
    return y * std + mean


class ImageTooLarge(DataError):
    """An image declaring more pixels than Pillow reads safely: a possible decompression bomb."""


def read_image(path: Path, size: tuple[int, int], channels: int) -> np.ndarray | None:
    """The image as uint8 (H, W, C), converted to `channels` (1 or 3) and resized to `size` (H, W) — the one
    reader for training (engine/data/images.py) and prediction; None when Pillow cannot read the file.
    An image declaring more pixels than `Image.MAX_IMAGE_PIXELS` raises ImageTooLarge before decoding
    (Pillow only warns up to twice that many, and a 370-byte file can declare 30000 × 30000)."""
    from PIL import Image, UnidentifiedImageError

    height, width = size
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as image:
                image = image.convert("L" if channels == 1 else "RGB")
                pixels = np.asarray(image.resize((width, height), Image.Resampling.BILINEAR))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            declared = re.search(r"\((\d+) pixels\)", str(exc))
            what = f"declares {int(declared.group(1)):,} pixels" if declared else f"is too large ({exc})"
            raise ImageTooLarge(f"{path}: {what}, more than the {Image.MAX_IMAGE_PIXELS:,} Pillow reads safely — "
                                "refused as a possible decompression bomb (resize the image)") from None
        except (UnidentifiedImageError, OSError):
            return None
    return pixels.reshape(height, width, channels)
