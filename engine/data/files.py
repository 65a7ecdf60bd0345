"""The user's own tables and arrays: CSV files and numpy `.npz` archives.

CSV: the first row names the columns; `label` (default: the last column) is the target and
`features` (default: every other column) the inputs, which must be numbers. Rows are numbered as
a spreadsheet shows them (the header is row 1). Unless `task` says otherwise, the task is
classification when a label is not a number or all labels are whole numbers with at most
`MAX_INFERRED_CLASSES` distinct values, and regression otherwise.

NPZ: arrays `x_key` (default "x") and `y_key` (default "y"), loaded without pickle. Integer labels
mean classification (class ids 0..K-1, any shape per sample), floating labels regression.
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

MAX_INFERRED_CLASSES = 20
TASKS = ("classification", "regression")


# -- CSV ---------------------------------------------------------------------------------------
def load_csv(opts: Options, seed: int) -> DataSplit:
    path, shown = opts.path(), opts.config["path"]
    header, rows = read_rows(path, shown)
    label = opts.text("label", header[-1])
    features = opts.texts("features") or [c for c in header if c != label]
    for column in [label, *features]:
        if column not in header:
            raise DataError(f"{shown}: no column {column!r} (columns: {', '.join(header)})")
    if not features:
        raise DataError(f"{shown}: no feature columns besides the label {label!r} — add columns or set \"features\"")
    if label in features:
        raise DataError(f"{shown}: column {label!r} is the label, so it cannot also be a feature")
    x = np.array([[parse_number(shown, line, col, row[header.index(col)]) for col in features] for line, row in rows],
                 dtype=np.float32).reshape(len(rows), len(features))
    labels = [(line, row[header.index(label)].strip()) for line, row in rows]
    task = opts.choice("task", None, TASKS) or _infer_task([text for _, text in labels])
    raw = {"kind": "table", "features": features, "label": label}
    if task == "regression":
        y = np.array([[parse_number(shown, line, label, text)] for line, text in labels], dtype=np.float32)
        train, val = split_arrays(opts, x, y, seed, stratify=False)
        return assemble(opts, train, val, task=task, raw=raw)
    names = _class_names([text for _, text in labels])
    index = {name: i for i, name in enumerate(names)}
    y = np.array([index[text] for _, text in labels], dtype=np.int64)
    train, val = split_arrays(opts, x, y, seed, stratify=True)
    return assemble(opts, train, val, task=task, num_classes=len(names), class_names=names, raw=raw)


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


def _as_number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _infer_task(labels: list[str]) -> str:
    numbers = [_as_number(text) for text in labels]
    if any(n is None for n in numbers):
        return "classification"
    whole = all(n.is_integer() for n in numbers)
    return "classification" if whole and len(set(numbers)) <= MAX_INFERRED_CLASSES else "regression"


def _class_names(labels: list[str]) -> list[str]:
    """Distinct labels, in numeric order when all are numbers, else alphabetical."""
    distinct = set(labels)
    if all(_as_number(text) is not None for text in distinct):
        return sorted(distinct, key=lambda text: (_as_number(text), text))
    return sorted(distinct)


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
    if len(x) != len(y):
        raise DataError(f"{shown}: array {x_key!r} has {len(x)} samples but {y_key!r} has {len(y)} — "
                        "they must match one to one")
    x = _inputs(x, shown, x_key)
    task = opts.choice("task", None, TASKS) or ("classification" if y.dtype.kind in "iub" else "regression")
    if task == "regression":
        y = _finite(y.astype(np.float32), shown, y_key)
        y = y.reshape(-1, 1) if y.ndim == 1 else y
        train, val = split_arrays(opts, x, y, seed, stratify=False)
        return assemble(opts, train, val, task=task)
    y = _class_ids(y, shown, y_key)
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
