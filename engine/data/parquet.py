"""Parquet tables (`{"name": "parquet", "path": "data.parquet", "label": …, "features": […]}`), read with pyarrow.

Every setting of a CSV table applies (table_source.py: column choice, text categories, yes/no columns,
empty cells, the task). A column's values are read as the text a CSV would hold — nulls and NaN as
empty cells, booleans as true/false, numbers exactly (`repr`) — so both formats are encoded, recorded and
predicted the same way; rows are named "row 1" for the first. Nested columns (lists, structs) are refused.

A table whose cells, as float32, do not fit where the run keeps its data (`Options.in_memory`, see
placement.py) is streamed instead: read a row group at a time when a batch asks (parquet_stream.py).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError
from .options import Options
from .parquet_cells import cells_bytes, table_cells, unreadable
from .split import DataSplit
from .table_source import load_table


def load_parquet(opts: Options, seed: int) -> DataSplit:
    path, shown = opts.path(), opts.config["path"]
    if not opts.in_memory(cells_bytes(path, shown)):
        from .parquet_stream import ParquetSource, stream_table

        return stream_table(opts, seed, ParquetSource(path, shown))
    header, cells = read_parquet(path, shown)
    rows = len(cells[header[0]]) if header else 0
    if not rows:
        raise DataError(f"{shown}: the table has no rows")
    return load_table(opts, seed, header, cells, [f"row {i + 1}" for i in range(rows)], shown)


def read_parquet(path: Path, shown: str, columns: list[str] | None = None) -> tuple[list[str], dict[str, list[str]]]:
    """The column names and each column's cells as text ("" for null); only `columns` when given."""
    import pyarrow.parquet as pq

    with unreadable(shown):
        names = pq.read_schema(path).names
        missing = [c for c in columns or [] if c not in names]
        if missing:
            raise DataError(f"{shown}: no column {', '.join(map(repr, missing))} (columns: {', '.join(names)})")
        table = pq.read_table(path, columns=columns)
    return table_cells(table, shown)
