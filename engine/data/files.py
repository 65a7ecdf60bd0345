"""The user's own tables and arrays: CSV files, numpy `.npz` archives and `.npy` pairs.

CSV: the first row names the columns; rows are numbered as a spreadsheet shows them (the header is
row 1). Which columns feed the model, how text columns and empty cells are encoded and what the task
is: table_source.py (shared with Parquet).

NPZ: arrays `x_key` (default "x") and `y_key` (default "y"), loaded without pickle. NPY: two files,
`path` the inputs and `labels` the targets (`{"name": "npy", "path": "x.npy", "labels": "y.npy"}`).
Integer labels mean classification (class ids 0..K-1, any shape per sample), floating labels regression.
"""

from __future__ import annotations

import csv
import math
import zipfile
from pathlib import Path

import numpy as np

from ..errors import DataError
from .options import Options
from .split import DataSplit, assemble, split_arrays
from .table_source import TASKS, load_table


# -- CSV ---------------------------------------------------------------------------------------
def load_csv(opts: Options, seed: int) -> DataSplit:
    path, shown = opts.path(), opts.config["path"]
    header, rows = read_rows(path, shown)
    cells = {name: [row[i] for _, row in rows] for i, name in enumerate(header)}
    return load_table(opts, seed, header, cells, [f"row {line}" for line, _ in rows], shown)


def read_rows(path: Path, shown: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the non-blank data rows, each with its row number."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = [name.strip() for name in next(reader, [])]
            rows = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
    except UnicodeDecodeError as exc:
        raise DataError(f"{shown}: byte {exc.start} is not UTF-8 text — save the file as UTF-8 CSV") from None
    except (OSError, csv.Error) as exc:
        raise DataError(f"{shown}: cannot read the file as CSV ({exc})") from None
    if not header:
        raise DataError(f"{shown}: the file is empty — the first row must name the columns")
    if len(set(header)) != len(header):
        twice = next(name for name in header if header.count(name) > 1)
        raise DataError(f"{shown}: the header names column {twice!r} twice — give every column its own name")
    if not rows:
        raise DataError(f"{shown}: the header has no data rows under it")
    for line, row in rows:
        if len(row) != len(header):
            raise DataError(f"{shown}: row {line} has {len(row)} values but the header names {len(header)} columns")
    return header, rows


def parse_number(shown: str, line: int, column: str, text: str) -> float:
    text = text.strip()
    if not text:
        raise DataError(f"{shown}: row {line}, column {column!r}: the cell is empty — fill it or delete the row")
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{shown}: row {line}, column {column!r}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise DataError(f"{shown}: row {line}, column {column!r}: {text!r} is not a finite number")
    return value


# -- NPZ ---------------------------------------------------------------------------------------
def load_npz(opts: Options, seed: int) -> DataSplit:
    path, shown = opts.path(), opts.config["path"]
    x_key, y_key = opts.text("x_key", "x"), opts.text("y_key", "y")
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise DataError(f"{shown}: holds one array, not an .npz archive — save x and y together with numpy.savez")
        with archive:
            x, y = (_array(archive, shown, key) for key in (x_key, y_key))
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError(f"{shown}: not a readable .npz archive ({exc}) — save it with numpy.savez") from None
    return _arrays_split(opts, seed, (x, shown, x_key), (y, shown, y_key))


# -- NPY pairs ---------------------------------------------------------------------------------
def load_npy(opts: Options, seed: int) -> DataSplit:
    """Two .npy files: `path` the inputs, `labels` the targets, one entry per sample in each."""
    pair = []
    for key, name in (("path", "x"), ("labels", "y")):
        path, shown = opts.path(key), opts.config[key]
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DataError(f"{shown}: not a readable .npy array ({exc}) — save it with numpy.save") from None
        if not isinstance(array, np.ndarray) or array.ndim == 0:
            raise DataError(f"{shown}: is not one array with an entry per sample — save it with numpy.save")
        pair.append((array, shown, name))
    return _arrays_split(opts, seed, *pair)


def _arrays_split(opts: Options, seed: int, inputs: tuple, targets: tuple) -> DataSplit:
    """The dataset of arrays x and y, each given as (array, file shown, name in the file)."""
    (x, x_file, x_key), (y, y_file, y_key) = inputs, targets
    if len(x) != len(y):
        other = f"{y_file}'s" if y_file != x_file else ""
        raise DataError(f"{x_file}: array {x_key!r} has {len(x)} samples but {other}{' ' if other else ''}{y_key!r} "
                        f"has {len(y)} — they must match one to one")
    x = _inputs(x, x_file, x_key)
    task = opts.choice("task", None, TASKS) or ("classification" if y.dtype.kind in "iub" else "regression")
    if task == "regression":
        y = _finite(y.astype(np.float32), y_file, y_key)
        y = y.reshape(-1, 1) if y.ndim == 1 else y
        train, val = split_arrays(opts, x, y, seed, stratify=False)
        return assemble(opts, train, val, task=task)
    y = _class_ids(y, y_file, y_key)
    train, val = split_arrays(opts, x, y, seed, stratify=y.ndim == 1)
    return assemble(opts, train, val, task=task, num_classes=int(y.max()) + 1)


def _array(archive, shown: str, key: str) -> np.ndarray:
    if key not in archive.files:
        raise DataError(f"{shown}: no array {key!r} (arrays: {', '.join(archive.files) or 'none'})")
    array = archive[key]  # raises ValueError for pickled object arrays, which are refused
    if array.ndim == 0:
        raise DataError(f"{shown}: array {key!r} is a single value — it needs one entry per sample")
    return array


def _inputs(x: np.ndarray, shown: str, key: str) -> np.ndarray:
    """Floats become float32 features; integers int64 token ids (for an Embedding)."""
    if x.dtype.kind in "iu":
        return x.astype(np.int64)
    if x.dtype.kind in "fb":
        return _finite(x.astype(np.float32), shown, key)
    raise DataError(f"{shown}: array {key!r} holds {x.dtype} values — inputs must be numbers")


def _finite(a: np.ndarray, shown: str, key: str) -> np.ndarray:
    bad = ~np.isfinite(a)
    if bad.any():
        sample = int(np.argwhere(bad)[0][0])
        raise DataError(f"{shown}: array {key!r}, sample {sample}: holds NaN or infinity — remove or fix it")
    return a


def _class_ids(y: np.ndarray, shown: str, key: str) -> np.ndarray:
    if y.dtype.kind == "f" and np.isfinite(y).all() and (y == np.round(y)).all():
        y = y.astype(np.int64)
    if y.dtype.kind not in "iub":
        raise DataError(f"{shown}: array {key!r} holds {y.dtype} values — class labels must be whole numbers "
                        "(or set \"task\": \"regression\")")
    y = y.astype(np.int64)
    if (y < 0).any():
        where = tuple(np.argwhere(y < 0)[0])
        raise DataError(f"{shown}: array {key!r}, sample {where[0]}: class {int(y[where])} is negative — "
                        "class labels run 0, 1, 2, …")
    return y
