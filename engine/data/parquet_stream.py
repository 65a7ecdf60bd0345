"""A table larger than the in-memory budget, streamed: a Parquet file (parquet.py) or a Hugging Face dataset's
table (hf_table.py). A batch's rows are read from their chunks (a Parquet file's row groups,
`ParquetFile.read_row_group`; a dataset's runs of `hf_table.CHUNK_ROWS` rows) and encoded when a DataLoader
worker asks for them, as image folders are. Both come through a row source (`RowSource`: the first rows, one
column whole, the chunks' boundaries, one chunk's cells), which pickles small so each worker reads on its own.

What is fitted, and on what — the in-memory path (table_source.py) itself, run on a **sample**: the first
`SAMPLE_ROWS` rows of the table. Its settings, the feature columns and their kinds, categories, fill values
and missing-value indicators, the task, the classes, the standardisation statistics (from the sample's
training rows) are the streamed table's. The label column alone is then read whole (one column, cheap)
and every labelled row of the table is split with the same seed and `val_split`, stratified by label, as
the in-memory path splits them. So a table of at most `SAMPLE_ROWS` rows gives the in-memory samples bit
for bit, only read lazily; a larger one is encoded as its first rows say (a category first met later
goes to its column's "(other)", or to no column; a class first met later is refused naming its row —
put a row of every class first, or give the table room in memory).

Not streamed: `missing: "drop"` (which rows remain depends on every row's cells) and `class_balance:
"oversample"` are refused; a mistake is listed by its sample, not its table row (`val_source` is None).
Chunks are cached one at a time per process, so a batch in table order reads each chunk once; a
shuffled batch reads the chunks its rows fall in.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Protocol

import numpy as np

from ..errors import DataError
from .options import Options
from .parquet_cells import table_cells, unreadable
from .split import DataSplit, _class_weights, split_arrays
from .table_source import load_table

SAMPLE_ROWS = 20_000


class RowSource(Protocol):
    """Where a streamed table's rows come from: cells as text (parquet_cells.table_cells), "" for empty. Holds no
    open file, so it pickles small into DataLoader workers."""

    shown: str  # how errors name the table
    chunk: str  # what one read holds, for the note ("a row group")

    def head(self, rows: int) -> tuple[list[str], dict[str, list[str]]]:
        """The column names and the first `rows` rows' cells (all of them when the table has fewer)."""

    def column(self, name: str) -> list[str]:
        """One column's cells, every row."""

    def starts(self) -> np.ndarray:
        """The first row of each chunk, then the number of rows."""

    def read(self, chunk: int, columns: list[str]) -> dict[str, list[str]]:
        """One chunk's cells of `columns`."""

    def name(self, row: int) -> str:
        """How an error names a row ("row 5")."""


class ParquetSource:
    """A Parquet file as a row source: its row groups are its chunks, "row 1" its first row."""

    chunk = "a row group"

    def __init__(self, path: Path, shown: str):
        self.path, self.shown = path, shown

    def head(self, rows: int) -> tuple[list[str], dict[str, list[str]]]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        with unreadable(self.shown):
            parquet = pq.ParquetFile(self.path)
            batches, count = [], 0
            for batch in parquet.iter_batches(batch_size=rows):
                batches.append(batch)
                count += batch.num_rows
                if count >= rows:
                    break
            sample = pa.Table.from_batches(batches, schema=parquet.schema_arrow).slice(0, rows)
        return table_cells(sample, self.shown)

    def column(self, name: str) -> list[str]:
        import pyarrow.parquet as pq

        with unreadable(self.shown):
            table = pq.ParquetFile(self.path).read(columns=[name])
        return table_cells(table, self.shown)[1][name]

    def starts(self) -> np.ndarray:
        import pyarrow.parquet as pq

        with unreadable(self.shown):
            meta = pq.read_metadata(self.path)
        return np.cumsum([0] + [meta.row_group(g).num_rows for g in range(meta.num_row_groups)])

    def read(self, chunk: int, columns: list[str]) -> dict[str, list[str]]:
        import pyarrow.parquet as pq

        with unreadable(self.shown):
            table = pq.ParquetFile(self.path).read_row_group(chunk, columns=columns)
        return table_cells(table, self.shown)[1]

    def name(self, row: int) -> str:
        return f"row {row + 1}"


def stream_table(opts: Options, seed: int, source: RowSource, class_names: list[str] | None = None) -> DataSplit:
    """The split of a streamed table; `class_names` as load_table takes them (a source that declares its classes)."""
    shown = source.shown
    for key, word in (("missing", "drop"), ("class_balance", "oversample")):
        value = opts.config.get(key)
        if value == word or isinstance(value, dict) and word in value.values():
            raise opts.error(key, f"{word!r} needs the whole table in memory, and {shown} is streamed (larger than "
                                  "the memory budget) — choose another, or set training.data_placement to device")
    header, cells = source.head(SAMPLE_ROWS)
    count = len(cells[header[0]]) if header else 0
    if not count:
        raise DataError(f"{shown}: the table has no rows")
    fitted = load_table(opts, seed, header, cells, [source.name(i) for i in range(count)], shown,
                        class_names=class_names)
    labels = source.column(fitted.raw["label"])
    keep, y = _targets(fitted, labels, source)
    (train_idx, y_train), (val_idx, y_val) = split_arrays(opts, np.arange(len(keep)), y, seed,
                                                          stratify=fitted.task == "classification")
    rows = _Rows(source, source.starts(), fitted.raw, fitted.normalization)
    class_weights = fitted.class_weights and _class_weights(y_train, fitted.num_classes)
    return dataclasses.replace(fitted, train=TableRows(rows, keep[train_idx], y_train),
                               val=TableRows(rows, keep[val_idx], y_val), class_weights=class_weights,
                               val_source=None, notes=[*fitted.notes, _note(len(labels), source.chunk)])


def _targets(fitted: DataSplit, labels: list[str], source: RowSource) -> tuple[np.ndarray, np.ndarray]:
    """The labelled rows of the table and their targets, as the sample's fit reads them."""
    from .tables import is_missing, numbers

    shown = source.shown

    keep = np.array([i for i, cell in enumerate(labels) if not is_missing(cell)], dtype=np.int64)
    texts = [labels[i].strip() for i in keep]
    if fitted.task == "regression":
        y = numbers(texts, fitted.raw["label"], [source.name(i) for i in keep], shown).astype(np.float32)[:, None]
        scale = fitted.target_normalization
        if scale:
            y = (y - np.asarray(scale["mean"], np.float32)) / np.asarray(scale["std"], np.float32)
        return keep, y
    index = {name: i for i, name in enumerate(fitted.class_names)}
    unknown = next((i for i, text in zip(keep, texts, strict=True) if text not in index), None)
    if unknown is not None:
        raise DataError(f"{shown}: {source.name(unknown)}: class {labels[unknown].strip()!r} is not among the "
                        f"{len(index)} classes of the first {SAMPLE_ROWS:,} rows, which a streamed table's classes "
                        "are read from — put a row of every class among them")
    return keep, np.array([index[text] for text in texts], dtype=np.int64)


def _note(rows: int, chunk: str) -> str:
    sample = "all its rows" if rows <= SAMPLE_ROWS else f"its first {SAMPLE_ROWS:,} rows"
    return (f"streamed: {rows:,} rows read {chunk} at a time as batches ask for them; the encoding and "
            f"statistics were fitted on {sample}")


class _Rows:
    """Reads and encodes rows of the table; one chunk's cells kept at a time. Its source holds no open file, so it
    pickles small into DataLoader workers (each reads the table itself)."""

    def __init__(self, source: RowSource, starts: np.ndarray, raw: dict, normalization: dict | None):
        from .tables import TableEncoding

        self.source, self.shown, self.starts = source, source.shown, starts
        self.features, self.encoding = raw["features"], TableEncoding.from_record(raw["columns"])
        norm = normalization or {}
        self.mean, self.std = (np.asarray(norm[k], np.float32)[None] if norm else None for k in ("mean", "std"))
        self._group: tuple[int, dict[str, list[str]]] | None = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_group": None}

    def encode(self, table_rows: np.ndarray) -> np.ndarray:
        groups = np.searchsorted(self.starts, table_rows, side="right") - 1
        cells: dict[str, list[str]] = {c: [""] * len(table_rows) for c in self.features}
        for group in np.unique(groups):
            read = self._cells(int(group))
            for i in np.flatnonzero(groups == group):
                offset = int(table_rows[i] - self.starts[group])
                for column in self.features:
                    cells[column][i] = read[column][offset]
        x = self.encoding.encode(cells, [self.source.name(int(r)) for r in table_rows], self.shown)
        return x if self.mean is None else (x - self.mean) / self.std

    def _cells(self, group: int) -> dict[str, list[str]]:
        if self._group is None or self._group[0] != group:
            self._group = (group, self.source.read(group, self.features))
        return self._group[1]


class TableRows:
    """A split part of a streamed table: its rows' numbers in the table and their targets; a batch's x is read and
    encoded when asked for (batches.py streams it)."""

    def __init__(self, rows: _Rows, table_rows: np.ndarray, labels: np.ndarray):
        self.rows, self.table_rows, self.labels = rows, table_rows, labels

    def __len__(self) -> int:
        return len(self.table_rows)

    def __getitems__(self, indices: list[int]):
        import torch

        x = self.rows.encode(self.table_rows[indices])
        return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(self.labels[indices])

    def __getitem__(self, index: int):
        x, y = self.__getitems__([index])
        return x[0], y[0]


ParquetRows = TableRows  # its name when Parquet alone was streamed
