"""A Parquet table larger than the in-memory budget, streamed: a batch's rows are read from their row groups
(`ParquetFile.read_row_group`) and encoded when a DataLoader worker asks for them, as image folders are.

What is fitted, and on what — the in-memory path (table_source.py) itself, run on a **sample**: the first
`SAMPLE_ROWS` rows of the file. Its settings, the feature columns and their kinds, categories, fill values
and missing-value indicators, the task, the classes, the standardisation statistics (from the sample's
training rows) are the streamed table's. The label column alone is then read whole (one column, cheap)
and every labelled row of the file is split with the same seed and `val_split`, stratified by label, as
the in-memory path splits them. So a table of at most `SAMPLE_ROWS` rows gives the in-memory samples bit
for bit, only read lazily; a larger one is encoded as its first rows say (a category first met later
goes to its column's "(other)", or to no column; a class first met later is refused naming its row —
put a row of every class first, or give the table room in memory).

Not streamed: `missing: "drop"` (which rows remain depends on every row's cells) and `class_balance:
"oversample"` are refused; a mistake is listed by its sample, not its file row (`val_source` is None).
Row groups are cached one at a time per process, so a batch in file order reads each group once; a
shuffled batch reads the groups its rows fall in.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ..errors import DataError
from .options import Options
from .parquet_cells import table_cells, unreadable
from .split import DataSplit, _class_weights, split_arrays
from .table_source import load_table

SAMPLE_ROWS = 20_000


def stream_parquet(opts: Options, seed: int, path: Path, shown: str) -> DataSplit:
    import pyarrow as pa
    import pyarrow.parquet as pq

    for key, word in (("missing", "drop"), ("class_balance", "oversample")):
        value = opts.config.get(key)
        if value == word or isinstance(value, dict) and word in value.values():
            raise opts.error(key, f"{word!r} needs the whole table in memory, and {shown} is streamed (larger than "
                                  "the memory budget) — choose another, or set training.data_placement to device")
    with unreadable(shown):
        parquet = pq.ParquetFile(path)
        batches, count = [], 0
        for batch in parquet.iter_batches(batch_size=SAMPLE_ROWS):
            batches.append(batch)
            count += batch.num_rows
            if count >= SAMPLE_ROWS:
                break
        sample = pa.Table.from_batches(batches, schema=parquet.schema_arrow).slice(0, SAMPLE_ROWS)
    if not sample.num_rows:
        raise DataError(f"{shown}: the table has no rows")
    header, cells = table_cells(sample, shown)
    fitted = load_table(opts, seed, header, cells, [f"row {i + 1}" for i in range(sample.num_rows)], shown)
    with unreadable(shown):
        labels = table_cells(parquet.read(columns=[fitted.raw["label"]]), shown)[1][fitted.raw["label"]]
    keep, y = _targets(fitted, labels, shown)
    (train_idx, y_train), (val_idx, y_val) = split_arrays(opts, np.arange(len(keep)), y, seed,
                                                          stratify=fitted.task == "classification")
    starts = np.cumsum([0] + [parquet.metadata.row_group(g).num_rows for g in range(parquet.num_row_groups)])
    rows = _Rows(path, shown, starts, fitted.raw, fitted.normalization)
    class_weights = fitted.class_weights and _class_weights(y_train, fitted.num_classes)
    return dataclasses.replace(fitted, train=ParquetRows(rows, keep[train_idx], y_train),
                               val=ParquetRows(rows, keep[val_idx], y_val), class_weights=class_weights,
                               val_source=None, notes=[*fitted.notes, _note(len(labels))])


def _targets(fitted: DataSplit, labels: list[str], shown: str) -> tuple[np.ndarray, np.ndarray]:
    """The labelled rows of the file and their targets, as the sample's fit reads them."""
    from .tables import is_missing, numbers

    keep = np.array([i for i, cell in enumerate(labels) if not is_missing(cell)], dtype=np.int64)
    texts = [labels[i].strip() for i in keep]
    if fitted.task == "regression":
        y = numbers(texts, fitted.raw["label"], [f"row {i + 1}" for i in keep], shown).astype(np.float32)[:, None]
        scale = fitted.target_normalization
        if scale:
            y = (y - np.asarray(scale["mean"], np.float32)) / np.asarray(scale["std"], np.float32)
        return keep, y
    index = {name: i for i, name in enumerate(fitted.class_names)}
    unknown = next((i for i, text in zip(keep, texts, strict=True) if text not in index), None)
    if unknown is not None:
        raise DataError(f"{shown}: row {unknown + 1}: class {labels[unknown].strip()!r} is not among the "
                        f"{len(index)} classes of the first {SAMPLE_ROWS:,} rows, which a streamed table's classes "
                        "are read from — put a row of every class among them")
    return keep, np.array([index[text] for text in texts], dtype=np.int64)


def _note(rows: int) -> str:
    sample = "all its rows" if rows <= SAMPLE_ROWS else f"its first {SAMPLE_ROWS:,} rows"
    return (f"streamed: {rows:,} rows read a row group at a time as batches ask for them; the encoding and "
            f"statistics were fitted on {sample}")


class _Rows:
    """Reads and encodes rows of the file; one row group's cells kept at a time. Holds no open file, so it
    pickles small into DataLoader workers (each opens the file itself)."""

    def __init__(self, path: Path, shown: str, starts: np.ndarray, raw: dict, normalization: dict | None):
        from .tables import TableEncoding

        self.path, self.shown, self.starts = path, shown, starts
        self.features, self.encoding = raw["features"], TableEncoding.from_record(raw["columns"])
        norm = normalization or {}
        self.mean, self.std = (np.asarray(norm[k], np.float32)[None] if norm else None for k in ("mean", "std"))
        self._group: tuple[int, dict[str, list[str]]] | None = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_group": None}

    def encode(self, file_rows: np.ndarray) -> np.ndarray:
        groups = np.searchsorted(self.starts, file_rows, side="right") - 1
        cells: dict[str, list[str]] = {c: [""] * len(file_rows) for c in self.features}
        for group in np.unique(groups):
            read = self._cells(int(group))
            for i in np.flatnonzero(groups == group):
                offset = int(file_rows[i] - self.starts[group])
                for column in self.features:
                    cells[column][i] = read[column][offset]
        x = self.encoding.encode(cells, [f"row {r + 1}" for r in file_rows], self.shown)
        return x if self.mean is None else (x - self.mean) / self.std

    def _cells(self, group: int) -> dict[str, list[str]]:
        if self._group is None or self._group[0] != group:
            import pyarrow.parquet as pq

            with unreadable(self.shown):
                table = pq.ParquetFile(self.path).read_row_group(group, columns=self.features)
            self._group = (group, table_cells(table, self.shown)[1])
        return self._group[1]


class ParquetRows:
    """A split part of a streamed table: its rows' numbers in the file and their targets; a batch's x is read and
    encoded when asked for (batches.py streams it)."""

    def __init__(self, rows: _Rows, file_rows: np.ndarray, labels: np.ndarray):
        self.rows, self.file_rows, self.labels = rows, file_rows, labels

    def __len__(self) -> int:
        return len(self.file_rows)

    def __getitems__(self, indices: list[int]):
        import torch

        x = self.rows.encode(self.file_rows[indices])
        return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(self.labels[indices])

    def __getitem__(self, index: int):
        x, y = self.__getitems__([index])
        return x[0], y[0]
