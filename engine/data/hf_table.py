"""A Hugging Face dataset's columns of numbers or text as a table (hf.py's default: neither `image` nor `text`),
encoded as a CSV/Parquet table is (table_source.py). A ClassLabel column's cells are its class names, and a
ClassLabel label keeps its classes in their order (class i is the dataset's label i). Rows are named by their
index in the split ("row 0" is `ds[0]`).

A dataset whose Arrow table (`Dataset.data.nbytes`) does not fit where the run keeps its data
(`Options.in_memory`, the budget a Parquet file is held to) is streamed as a Parquet file is (parquet_stream.py):
fitted on its first rows, then read `CHUNK_ROWS` rows at a time as batches ask. The library's dataset is
memory-mapped and pickles as a reference to its files, so DataLoader workers read it themselves.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError
from .options import Options
from .parquet_cells import table_cells
from .split import DataSplit

CHUNK_ROWS = 10_000  # rows a streamed dataset reads at a time


def table_split(opts: Options, seed: int, dataset, label: str | None, shown: str, hf) -> DataSplit:
    import pyarrow as pa

    from .parquet_stream import stream_table
    from .table_source import load_table

    if not len(dataset):
        raise DataError(f"{shown}: the dataset has no rows")
    schema = dataset.data.schema
    chosen = opts.texts("features")
    label = label or schema.names[-1]
    nested = [c for c in schema.names if pa.types.is_nested(schema.field(c).type) and c != label]
    columns = [c for c in (chosen or schema.names) if c != label and (chosen or c not in nested)]
    if not columns and nested:
        raise DataError(f"{shown}: no column of numbers or text besides the label {label!r} — set \"image\" or "
                        f"\"text\" to one of {', '.join(map(repr, nested))}")
    missing = [c for c in columns if c not in schema.names]
    if missing:
        raise DataError(f"{shown}: no column {missing[0]!r} (columns: {', '.join(schema.names)})")
    source = HfTable(dataset, [*columns, label], shown, hf)  # the label last: load_table's default
    class_names = class_labels(dataset, label, hf)
    if opts.in_memory(dataset.data.nbytes):
        header, cells = source.head(len(dataset))
        split = load_table(opts, seed, header, cells, [source.name(i) for i in range(len(dataset))], shown,
                           class_names=class_names)
    else:
        split = stream_table(opts, seed, source, class_names)
    if nested and chosen is None:
        split.notes.append(f"left out {', '.join(map(repr, nested))}: not numbers or text — set \"image\" or "
                           "\"text\" to train on such a column")
    return split


def class_labels(dataset, column: str, hf) -> list[str] | None:
    """A ClassLabel column's class names (id order), None for any other column."""
    kind = dataset.features[column]
    return [name.strip() for name in kind.names] if isinstance(kind, hf.ClassLabel) else None


class HfTable:
    """Some columns of a dataset as a row source (parquet_stream.RowSource): cells as text, a ClassLabel's as its
    class names; chunks of `CHUNK_ROWS` rows, read as Arrow slices of the memory-mapped dataset."""

    def __init__(self, dataset, columns: list[str], shown: str, hf):
        self.arrow = dataset.select_columns(columns).with_format("arrow")
        self.columns, self.shown, self.rows, self.chunk_rows = columns, shown, len(dataset), CHUNK_ROWS
        self.chunk = f"{CHUNK_ROWS:,} rows"
        self.names = {c: names for c in columns if (names := class_labels(dataset, c, hf))}

    def head(self, rows: int) -> tuple[list[str], dict[str, list[str]]]:
        return self._cells(self.arrow[:rows])

    def column(self, name: str) -> list[str]:
        return self._cells(self.arrow.select_columns([name])[:])[1][name]

    def starts(self) -> np.ndarray:
        return np.append(np.arange(0, self.rows, self.chunk_rows), self.rows)

    def read(self, chunk: int, columns: list[str]) -> dict[str, list[str]]:
        start = chunk * self.chunk_rows
        return self._cells(self.arrow[start:start + self.chunk_rows].select(columns))[1]

    def name(self, row: int) -> str:
        return f"row {row}"

    def _cells(self, table) -> tuple[list[str], dict[str, list[str]]]:
        header, cells = table_cells(table, self.shown)
        for column in header:
            if column in self.names:
                cells[column] = [_class_name(cell, self.names[column]) for cell in cells[column]]
        return header, cells


def _class_name(cell: str, names: list[str]) -> str:
    """A ClassLabel cell (its id as text; -1 or empty: no label) as its class name."""
    if not cell or cell == "-1":
        return ""
    return names[int(cell)]
