"""A Parquet file's cells as the text a CSV would hold, for the whole-table reader (parquet.py) and the
streamed one (parquet_stream.py): nulls and NaN as empty cells, booleans as true/false, numbers exactly (`repr`)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import DataError


def cells_bytes(path: Path, shown: str) -> int:
    """The table's size as float32 cells, from its footer (rows × columns × 4): what deciding whether it is read
    whole goes by — a lower bound of the encoded x, which one-hot categories widen."""
    import pyarrow.parquet as pq

    with unreadable(shown):
        meta = pq.read_metadata(path)
    return meta.num_rows * meta.num_columns * 4


@contextmanager
def unreadable(shown: str) -> Iterator[None]:
    """pyarrow's errors reading the file, as a DataError naming it."""
    import pyarrow as pa

    try:
        yield
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"{shown}: not a readable Parquet file ({str(exc).splitlines()[0][:200]})") from None


def table_cells(table, shown: str) -> tuple[list[str], dict[str, list[str]]]:
    """A pyarrow Table (a whole file, or one row group of it) as column names and each column's cells as text."""
    import pyarrow as pa

    if len(set(table.column_names)) != len(table.column_names):
        twice = next(n for n in table.column_names if table.column_names.count(n) > 1)
        raise DataError(f"{shown}: the table names column {twice!r} twice — give every column its own name")
    cells = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        kind = column.type
        if pa.types.is_nested(kind):
            raise DataError(f"{shown}: column {name!r} holds {kind} values — a table's cells must be numbers or text")
        cells[name] = [_text(value) for value in column.to_pylist()]
    return list(table.column_names), cells


def _text(value) -> str:
    """A cell as a CSV would hold it."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)
