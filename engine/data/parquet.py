"""Parquet tables (`{"name": "parquet", "path": "data.parquet", "label": …, "features": […]}`), read with pyarrow.

Every setting of a CSV table applies (table_source.py: column choice, text categories, yes/no columns,
empty cells, the task). A column's values are read as the text a CSV would hold — nulls and NaN as
empty cells, booleans as true/false, numbers exactly (`repr`) — so both formats are encoded, recorded and
predicted the same way; rows are named "row 1" for the first. Nested columns (lists, structs) are refused.
"""

from __future__ import annotations

import math
from pathlib import Path

from ..errors import DataError
from .options import Options
from .split import DataSplit
from .table_source import load_table


def load_parquet(opts: Options, seed: int) -> DataSplit:
    path, shown = opts.path(), opts.config["path"]
    header, cells = read_parquet(path, shown)
    rows = len(cells[header[0]]) if header else 0
    if not rows:
        raise DataError(f"{shown}: the table has no rows")
    return load_table(opts, seed, header, cells, [f"row {i + 1}" for i in range(rows)], shown)


def read_parquet(path: Path, shown: str, columns: list[str] | None = None) -> tuple[list[str], dict[str, list[str]]]:
    """The column names and each column's cells as text ("" for null); only `columns` when given."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(path).names
        missing = [c for c in columns or [] if c not in names]
        if missing:
            raise DataError(f"{shown}: no column {', '.join(map(repr, missing))} (columns: {', '.join(names)})")
        table = pq.read_table(path, columns=columns)
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"{shown}: not a readable Parquet file ({str(exc).splitlines()[0][:200]})") from None
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
