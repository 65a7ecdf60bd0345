"""`layerloom predict` on a Parquet table: the columns a table model was trained on, read by name, encoded as in
training (engine/data/tables.py) and scored `chunk_rows` rows at a time. With the label column present, each
prediction carries its true value, as a CSV's rows do. pyarrow and numpy only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from .data.parquet import read_parquet
from .data.tables import TableEncoding
from .errors import DataError, PredictError


def predict_parquet(model, path: Path, chunk_rows: int) -> Iterator[tuple]:
    """(row name, scores, true value or None) per row of the Parquet file at `path`, for engine/predict.py to make
    its Predictions of."""
    shown = str(path)
    if model.prep["kind"] != "table" or model.table is None:
        raise model.refuse("a Parquet table")
    import pyarrow.parquet as pq

    label = model.prep.get("label")
    try:
        names = pq.read_schema(path).names
    except Exception as exc:  # noqa: BLE001 — pyarrow raises its own untyped errors for a damaged file
        raise PredictError(f"{shown}: not a readable Parquet file ({str(exc).splitlines()[0][:200]})") from None
    features = model.prep["features"]
    missing = [name for name in features if name not in names]
    if missing:
        raise PredictError(f"{shown}: no column {', '.join(map(repr, missing))} — the model reads "
                           f"{', '.join(features)} (this file has {', '.join(names)})")
    with_target = label in names and (model.classifier or model.task == "regression")
    try:
        _, cells = read_parquet(path, shown, [*features, *([label] if with_target else [])])
    except DataError as exc:
        raise PredictError(str(exc)) from None
    rows = len(cells[features[0]])
    encoding: TableEncoding = model.table
    for start in range(0, rows, chunk_rows):
        stop = min(start + chunk_rows, rows)
        where = [f"row {i + 1}" for i in range(start, stop)]
        try:
            x = encoding.encode({c: cells[c][start:stop] for c in features}, where, shown)
        except DataError as exc:
            raise PredictError(str(exc)) from None
        for i, score in enumerate(model.scores(x)):
            yield where[i], score, cells[label][start + i] if with_target else None
