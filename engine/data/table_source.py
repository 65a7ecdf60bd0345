"""A table as a dataset: which columns feed the model, how each is encoded, what becomes of empty cells.

The CSV and Parquet sources read their file into columns of raw cells (strings; "" for an empty cell)
and hand them to `load_table`. Its settings, beside those every dataset has:

    label     the target column (default: the last)
    features  the input columns (default: every other one, less those that look like ids — text unique to
              each row, or whole numbers unique to each row in a column named like "customer_id" — which
              are left out with a note)
    task      classification | regression (default: text labels, or at most MAX_INFERRED_CLASSES whole
              numbers, classify)
    encode    {column: "number" | "binary" | "category" | "drop"} over the kind read from the cells
              (tables.py: all numbers → number, two values → binary, else category)
    missing   what an empty cell (or NA, null…) becomes: "median" (default; the most frequent value for a
              text column), "mean", "most_frequent" — each with a "(missing)" indicator column — or "drop"
              (the row); one word for every column, or {column: word} (other columns take the default)

Every empty cell is counted, per column, in one warning (`DataSplit.warnings`); rows without a label
are dropped and said so. Kinds and categories are read from every row (they say nothing about the
target); fill values from the training part only, as the standardisation statistics are. The split
remembers each validation sample's row and raw cells (`DataSplit.val_source`), so mistakes are shown
as rows of the file.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

from ..errors import DataError
from .options import Options
from .split import DataSplit, SourceRows, assemble, split_arrays
from .tables import MAX_CATEGORIES, ZERO_VALUES, Column, TableEncoding, as_number, is_missing, numbers

MAX_INFERRED_CLASSES = 20
TASKS = ("classification", "regression")
KINDS = ("number", "binary", "category", "drop")
STRATEGIES = ("median", "mean", "most_frequent", "drop")
DEFAULT_STRATEGY = "median"
MIN_ID_ROWS = 10  # fewer rows than this: a column unique per row is not taken for an id
ID_NAME = re.compile(r"(^|[_\s.-])(id|uuid|guid|index|key)$|[a-z0-9]ID$", re.IGNORECASE)


def load_table(opts: Options, seed: int, header: list[str], cells: dict[str, list[str]], where: list[str],
               shown: str, class_names: list[str] | None = None) -> DataSplit:
    """The dataset of a table: `cells[column]` its raw cells, `where[i]` how an error names row i ("row 5");
    `class_names` the label's classes in their order when the source declares them (a Hugging Face ClassLabel,
    whose cells are then these names): the task is then a classification over exactly these classes."""
    label = opts.text("label", header[-1])
    chosen = opts.texts("features")
    for column in [label, *(chosen or [])]:
        if column not in header:
            raise DataError(f"{shown}: no column {column!r} (columns: {', '.join(header)})")
    if chosen is not None and label in chosen:
        raise DataError(f"{shown}: column {label!r} is the label, so it cannot also be a feature")
    encode = _per_column(opts, "encode", header, KINDS, None, shown)
    missing = _per_column(opts, "missing", header, STRATEGIES, DEFAULT_STRATEGY, shown)
    task = opts.choice("task", None, TASKS)
    notes: list[str] = []

    keep = [i for i, cell in enumerate(cells[label]) if not is_missing(cell)]
    unlabelled = [where[i] for i, cell in enumerate(cells[label]) if is_missing(cell)]
    if unlabelled:
        notes.append(f"{len(unlabelled)} rows have no {label!r} (the label) and were left out "
                     f"({', '.join(unlabelled[:3])}{', …' if len(unlabelled) > 3 else ''})")
    features = chosen or [c for c in header if c != label]
    kinds = {c: encode.get(c) or _kind(cells[c], keep) for c in features}
    if chosen is None:
        ids = [c for c in features if c not in encode and _is_id(c, kinds[c], cells[c], keep)]
        if ids:
            notes.append(f"left out {', '.join(map(repr, ids))}: unique to every row, like an id — list it in "
                         "\"features\" to use it")
        features = [c for c in features if c not in ids]
    features = [c for c in features if kinds[c] != "drop"]
    if not features:
        raise DataError(f"{shown}: no feature columns besides the label {label!r} — add columns or set \"features\"")
    for column, kind in kinds.items():
        if kind in ("binary", "number") and column in features:
            _check_kind(column, kind, cells[column], keep, where, shown)

    empty = {c: sum(is_missing(cells[c][i]) for i in keep) for c in features}
    dropping = [c for c in features if empty[c] and missing.get(c, DEFAULT_STRATEGY) == "drop"]
    if dropping:
        kept = [i for i in keep if not any(is_missing(cells[c][i]) for c in dropping)]
        notes.append(f"{len(keep) - len(kept)} rows with empty cells in {', '.join(map(repr, dropping))} were dropped")
        keep = kept
    filled = {c: n for c, n in empty.items() if n and c not in dropping}
    if filled:
        notes.append(f"{sum(filled.values())} empty cells filled ("
                     + ", ".join(f"{c} {n}: {_strategy(missing, c, kinds[c])}" for c, n in filled.items())
                     + ") with a \"(missing)\" indicator column each")
    if not keep:
        raise DataError(f"{shown}: no rows left once rows without a label or with dropped empty cells are left out")

    labels = [cells[label][i].strip() for i in keep]
    rows = [where[i] for i in keep]
    task = task or ("classification" if class_names else _infer_task(labels))
    if task == "regression":
        y = numbers(labels, label, rows, shown).astype(np.float32)[:, None]
        names = None
    else:
        names = class_names or _class_names(labels)
        index = {name: i for i, name in enumerate(names)}
        y = np.array([index[text] for text in labels], dtype=np.int64)
    (train_idx, y_train), (val_idx, y_val) = split_arrays(opts, np.arange(len(keep)), y, seed,
                                                          stratify=task == "classification")
    train_rows = [keep[i] for i in train_idx]
    encoding = TableEncoding([_fit(c, kinds[c], cells[c], keep, train_rows, _strategy(missing, c, kinds[c]),
                                   indicator=bool(filled.get(c))) for c in features])
    raw_cells = {c: [cells[c][i] for i in keep] for c in features}
    x = encoding.encode(raw_cells, rows, shown)
    raw = {"kind": "table", "features": features, "label": label, "columns": encoding.record(),
           "encoded": encoding.names()}
    split = assemble(opts, (x[train_idx], y_train), (x[val_idx], y_val), task=task,
                     num_classes=len(names) if names else None, class_names=names, raw=raw)
    split.warnings[:0] = notes
    val_rows = [keep[i] for i in val_idx]
    split.val_source = SourceRows([where[i] for i in val_rows], {c: [cells[c][i] for i in val_rows] for c in header})
    return split


def _per_column(opts: Options, key: str, header: list[str], choices: tuple[str, ...], default: str | None,
                shown: str) -> dict[str, str]:
    """`key` as {column: choice}: one word for every column, or an object naming columns."""
    value = opts._get(key, default)
    if value is None:
        return {}
    if isinstance(value, str):
        if value not in choices:
            raise opts.error(key, f"must be one of {', '.join(choices)}, got {value!r}")
        return dict.fromkeys(header, value)
    if not isinstance(value, dict):
        raise opts.error(key, f"must be one of {', '.join(choices)} or an object {{column: choice}}, got {value!r}")
    for column, choice in value.items():
        if column not in header:
            raise DataError(f"{shown}: {key!r} names no column {column!r} (columns: {', '.join(header)})")
        if choice not in choices:
            raise opts.error(f"{key}.{column}", f"must be one of {', '.join(choices)}, got {choice!r}")
    return dict(value)


def _strategy(missing: dict[str, str], column: str, kind: str) -> str:
    """How `column`'s empty cells are filled: a text column's median or mean is its most frequent value."""
    strategy = missing.get(column, DEFAULT_STRATEGY)
    return "most_frequent" if kind != "number" and strategy in ("median", "mean") else strategy


def _kind(cells: list[str], rows: list[int]) -> str:
    values = {cells[i].strip() for i in rows if not is_missing(cells[i])}
    if all(_parses(v) for v in values):
        return "number"  # an infinite value too: refused naming its cell, rather than read as a category
    return "binary" if len(values) == 2 else "category"


def _parses(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_id(column: str, kind: str, cells: list[str], rows: list[int]) -> bool:
    """Unique to every row: text (a name, a code), or whole numbers in a column named like an id."""
    values = [cells[i].strip() for i in rows if not is_missing(cells[i])]
    if len(values) < MIN_ID_ROWS or len(set(values)) != len(values):
        return False
    if kind == "category":
        return True
    return kind == "number" and bool(ID_NAME.search(column)) and all(float(v).is_integer() for v in values)


def _check_kind(column: str, kind: str, cells: list[str], rows: list[int], where: list[str], shown: str) -> None:
    """A column set to number or binary must hold numbers, or two values."""
    if kind == "number":
        numbers([cells[i] for i in rows], column, [where[i] for i in rows], shown)
        return
    values = sorted({cells[i].strip() for i in rows if not is_missing(cells[i])})
    if len(values) > 2:
        raise DataError(f"{shown}: column {column!r} is set to binary but holds {len(values)} values "
                        f"({', '.join(values[:5])}…) — make it a category")


def _fit(column: str, kind: str, cells: list[str], rows: list[int], train_rows: list[int], strategy: str,
         indicator: bool) -> Column:
    """The column's encoding: values from every row, the fill value from the training rows."""
    present = [cells[i].strip() for i in rows if not is_missing(cells[i])]
    trained = [cells[i].strip() for i in train_rows if not is_missing(cells[i])] or present
    if kind == "number":
        values = np.array([float(v) for v in trained]) if trained else np.zeros(1)
        fill = {"median": np.median, "mean": np.mean}.get(strategy)
        fill_value = float(fill(values)) if fill else float(Counter(values.tolist()).most_common(1)[0][0])
        return Column(column, "number", fill=fill_value, indicator=indicator)
    counts = Counter(present)
    common = Counter(trained).most_common(1)[0][0] if trained else None
    if kind == "binary":
        values = sorted(counts, key=lambda v: (v.lower() not in ZERO_VALUES, v))
        values = values + [v for v in ("(none)",) if len(values) < 2]  # a column of one value still has a 1 side
        return Column(column, "binary", values[:2], fill=common, indicator=indicator)
    ranked = [value for value, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]
    kept = sorted(ranked[:MAX_CATEGORIES])
    return Column(column, "category", kept, other=len(ranked) > MAX_CATEGORIES, fill=common, indicator=indicator)


def _infer_task(labels: list[str]) -> str:
    values = [as_number(text) for text in labels]
    if any(v is None for v in values):
        return "classification"
    whole = all(v.is_integer() for v in values)
    return "classification" if whole and len(set(values)) <= MAX_INFERRED_CLASSES else "regression"


def _class_names(labels: list[str]) -> list[str]:
    """Distinct labels, in numeric order when all are numbers, else alphabetical."""
    distinct = set(labels)
    if all(as_number(text) is not None for text in distinct):
        return sorted(distinct, key=lambda text: (as_number(text), text))
    return sorted(distinct)
