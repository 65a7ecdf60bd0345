"""What `layerloom predict` is given, and how it becomes a batch of a model's raw input.

The raw input of one sample is what an exported graph with its preprocessing built in takes
(`preprocessing.raw_input`): uint8 pixels (H, W, C) for a model trained on images, the
feature values for one trained on a table, and x itself, shaped as the Input, for one trained on
arrays (digits, an .npz, a sequence). Any of them can be given as a NumPy file:

- `.npy`: N samples of the raw input's shape (N, …), or exactly one sample;
- `.npz`: its array `x` (or its only array), as above, and with an integer `y` of one class id per
  sample, the samples' true classes (so predict reports the accuracy).

A model trained on arrays also reads a CSV whose rows are its samples flattened (predict.py streams
it), and, when its input is shaped as a picture — (1, H, W), (3, H, W) or (H, W) float — images:
converted to gray or RGB, resized to H × W as training resizes an image folder, and their 0–255
pixels mapped linearly onto the range its training x spanned (the run's `value_range`, e.g. 0–16 for
the 8×8 digits), bright pixels to high values as in the training data.

`input_kind` names what was given ("a PNG image", "a CSV table") for messages that say what would
work instead (`what_it_reads`). Numpy only, like the rest of predict: no torch.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .errors import PredictError, UnreadableError
from .preprocessing import raw_input

IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP", ".gif": "GIF", ".webp": "WebP",
                 ".tif": "TIFF", ".tiff": "TIFF", ".ppm": "PPM", ".pgm": "PGM"}
OTHER_KINDS = {".csv": "a CSV table", ".tsv": "a tab-separated table", ".txt": "a text file",
               ".npy": "a NumPy array (.npy)", ".npz": "a NumPy archive (.npz)", ".json": "a JSON file",
               ".onnx": "an ONNX model"}
ARRAY_SUFFIXES = (".npy", ".npz")


def input_kind(path: Path) -> str:
    """What `path` is, as a message names it: "a folder", "a PNG image", "a CSV table", "a .dat file"."""
    if path.is_dir():
        return "a folder"
    suffix = path.suffix.lower()
    if suffix in IMAGE_FORMATS:
        return f"a {IMAGE_FORMATS[suffix]} image"
    return OTHER_KINDS.get(suffix) or (f"a {suffix} file" if suffix else "a file without an extension")


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_FORMATS


def image_layout(prep: dict) -> tuple[tuple[int, int], int] | None:
    """((H, W), channels) of the pictures a model trained on arrays can read, or None when it reads none:
    its x is not shaped as an image, is not float, or the run recorded no value range to scale pixels to."""
    shape = prep["input_shape"]
    if prep["kind"] != "array" or prep["input_dtype"] != "float32" or not prep.get("value_range"):
        return None
    if len(shape) == 3 and shape[0] in (1, 3):
        return (shape[1], shape[2]), shape[0]
    if len(shape) == 2:
        return (shape[0], shape[1]), 1
    return None


def pixels_to_x(prep: dict, pixels: np.ndarray) -> np.ndarray:
    """uint8 pixels (N, H, W, C) → float32 x (N, *input_shape): 0 → the training x's minimum, 255 → its maximum."""
    low, high = (np.float32(v) for v in prep["value_range"])
    x = pixels.astype(np.float32) * ((high - low) / np.float32(255)) + low
    x = x.transpose(0, 3, 1, 2)  # (N, C, H, W)
    return np.ascontiguousarray(x.reshape(len(x), *prep["input_shape"]))


def what_it_reads(prep: dict) -> str:
    """The inputs a model of this kind reads, for an error message."""
    shape, dtype = raw_input(prep)
    arrays = f"a .npy or .npz of samples shaped {_shape(shape)} {dtype}"
    if prep["kind"] == "table":
        return f"a CSV file with the columns it was trained on ({', '.join(prep['features'])}), or {arrays}"
    if prep["kind"] == "image":
        return f"an image file or a folder of images, or {arrays} (pixels as image libraries give them)"
    if prep["kind"] == "text":
        return "a text prompt"
    images = image_layout(prep)
    picture = f", or images (made {'gray' if images[1] == 1 else 'RGB'}, {images[0][0]}×{images[0][1]})" \
        if images else ""
    return f"{arrays}, a CSV whose rows are its {int(np.prod(shape))} values flattened{picture}"


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def read_arrays(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """x of a .npy (memory-mapped: only what is scored is read) or a .npz, and the .npz's `y` when it has one.
    Never unpickles: an object array is refused."""
    shown = str(path)
    try:
        if path.suffix.lower() == ".npy":
            return np.load(path, mmap_mode="r", allow_pickle=False), None
        with np.load(path, allow_pickle=False) as archive:
            keys = archive.files
            key = "x" if "x" in keys else (keys[0] if len(keys) == 1 else None)
            if key is None:
                raise PredictError(f"{shown}: holds arrays {', '.join(keys) or 'none'} but no x — save the samples "
                                   "as x (numpy.savez(path, x=samples))")
            return archive[key], (archive["y"] if key == "x" and "y" in keys else None)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise UnreadableError(f"{shown}: not a readable {input_kind(path)[2:]} ({str(exc)[:200]}) — "
                              "save it with numpy.save or numpy.savez") from None


def check_shape(prep: dict, array: np.ndarray, shown: str) -> np.ndarray:
    """`array` as a batch of raw samples (N, *shape): N samples, or one sample alone."""
    shape, dtype = raw_input(prep)
    if tuple(array.shape) == shape:
        array = array[None]
    if tuple(array.shape[1:]) != shape or not len(array):
        raise PredictError(f"{shown}: holds an array of shape {_shape(array.shape)}; the model reads samples "
                           f"shaped {_shape(shape)} — give it (N, {', '.join(map(str, shape))}) or one sample")
    if array.dtype.kind not in "biuf":
        raise PredictError(f"{shown}: holds {array.dtype} values; the model reads {dtype} numbers")
    return array


def converted(prep: dict, batch: np.ndarray, shown: str, name: Callable[[int], str]) -> np.ndarray:
    """A batch (N, *shape) in the raw dtype, converted only when nothing is lost: any finite number for
    float32, whole numbers in range for uint8 pixels and int64 token ids. `name(i)` names sample i."""
    dtype = np.dtype(raw_input(prep)[1])
    values = batch.reshape(len(batch), -1)
    if dtype == np.float32:
        with np.errstate(over="ignore"):  # past float32: infinity, refused below
            x = np.asarray(batch, dtype=np.float32)
        bad = ~np.isfinite(x.reshape(len(x), -1)).all(axis=1)
        what = "NaN, infinity or a value beyond float32"
    elif batch.dtype.kind in "biu":
        info = np.iinfo(dtype)
        bad = (values < info.min).any(axis=1) | (values > info.max).any(axis=1)
        x, what = batch, f"a value outside {info.min}…{info.max}"
    else:
        info = np.iinfo(dtype)
        with np.errstate(invalid="ignore"):
            bad = ~(np.isfinite(values) & (values == np.round(values)) & (values >= info.min)
                    & (values <= info.max)).all(axis=1)
        x, what = batch, f"a value that is not a whole number from {info.min} to {info.max}"
    if bad.any():
        reads = "pixels" if dtype == np.uint8 else "token ids" if dtype.kind == "i" else "numbers"
        raise PredictError(f"{shown}: {name(int(np.argmax(bad)))} holds {what} — the model reads {dtype} {reads}")
    return np.asarray(x, dtype=dtype)
