"""A table's columns as a model reads them: each raw column (strings, as a CSV holds them) becomes numbers.

    number    the value itself; an empty cell takes the column's fill (median by default)
    binary    two values (yes/no, true/false, male/female): one 0/1 column, the "no"-like value 0
    category  one 0/1 column per value (one-hot); past MAX_CATEGORIES values, the MAX_CATEGORIES most
              frequent keep their own column and every other value (rare, or unseen when predicting)
              shares one "(other)" column — a learned embedding would need a second model input
    indicator a "name (missing)" 0/1 column beside an imputed column that had empty cells

A `TableEncoding` is plain data: its `record()` travels in the run's data.json and the export's metadata
(the `columns` of a table's preprocessing entry), so `layerloom predict` rebuilds the same columns from
raw rows with their strings and empty cells. Numpy only: predict must run without torch. How columns
are chosen and fitted from a dataset's settings is table_source.py's job.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import DataError

MISSING_MARKERS = frozenset({"", "na", "n/a", "nan", "null", "none"})  # cells read as empty (any case)
MAX_CATEGORIES = 20
ZERO_VALUES = ("no", "false", "n", "f", "off", "0", "negative")  # the value of a binary column that is 0
OTHER = "(other)"


def is_missing(cell: str) -> bool:
    return cell.strip().lower() in MISSING_MARKERS


def as_number(text: str) -> float | None:
    """The cell as a finite float, None when it is not one."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def numbers(cells: list[str], column: str, where: list[str], shown: str) -> np.ndarray:
    """A column's cells as float64, NaN where empty; a cell that is not a finite number is an error."""
    out = np.full(len(cells), np.nan)
    for i, cell in enumerate(cells):
        if is_missing(cell):
            continue
        try:
            value = float(cell)
        except ValueError:
            raise DataError(f"{shown}: {where[i]}, column {column!r}: {cell.strip()!r} is not a number") from None
        if not math.isfinite(value):
            raise DataError(f"{shown}: {where[i]}, column {column!r}: {cell.strip()!r} is not a finite number")
        out[i] = value
    return out


@dataclass
class Column:
    """How one raw column becomes `len(names())` model features."""

    name: str
    kind: str  # number | binary | category
    values: list[str] = field(default_factory=list)  # binary: [the 0 value, the 1 value]; category: one column each
    other: bool = False  # category: an "(other)" column for every value not in `values`
    fill: float | str | None = None  # what an empty cell counts as: a number, or one of `values`
    indicator: bool = False  # a 0/1 column saying the cell was empty

    def names(self) -> list[str]:
        if self.kind == "category":
            names = [f"{self.name}={value}" for value in self.values] + ([f"{self.name}={OTHER}"] if self.other else [])
        else:
            names = [self.name]
        return names + ([f"{self.name} (missing)"] if self.indicator else [])

    def encode(self, cells: list[str], where: list[str], shown: str) -> np.ndarray:
        """(rows, width) float32 for the column's raw cells. A value the column has not seen is an error
        for a number or a binary column (no way to read it), the "(other)" column or all zeros for a category."""
        missing = np.array([is_missing(cell) for cell in cells], dtype=bool)
        if self.kind == "number":
            values = numbers(cells, self.name, where, shown)
            values[missing] = self.fill if self.fill is not None else 0.0
            parts = [values[:, None]]
        else:
            parts = [self._one_hot(cells, missing, where, shown)]
        if self.indicator:
            parts.append(missing[:, None].astype(np.float64))
        return np.concatenate(parts, axis=1).astype(np.float32)

    def _one_hot(self, cells: list[str], missing: np.ndarray, where: list[str], shown: str) -> np.ndarray:
        index = {value: i for i, value in enumerate(self.values)}
        width = len(self.values) + self.other
        out = np.zeros((len(cells), width))
        for row, cell in enumerate(cells):
            value = self.fill if missing[row] else cell.strip()
            i = index.get(value)
            if i is None and self.kind == "binary":
                raise DataError(f"{shown}: {where[row]}, column {self.name!r}: {value!r} is neither of the two "
                                f"values the model knows ({self.values[0]!r} or {self.values[1]!r})")
            if i is None:
                i = len(self.values) if self.other else None
            if i is not None:
                out[row, i] = 1.0
        return out[:, 1:2] if self.kind == "binary" else out  # binary: 1 for the second value

    def decode(self, features: list[float]) -> str:
        """The raw value a row's encoded features (this column's slice, unstandardised) stand for, as text."""
        if self.indicator and features[-1] >= 0.5:
            return "(empty)"
        if self.kind == "number":
            return f"{features[0]:.6g}"
        if self.kind == "binary":
            return self.values[int(features[0] >= 0.5)]
        hot = [i for i, v in enumerate(features[:len(self.values) + self.other]) if v >= 0.5]
        return (self.values + [OTHER])[hot[0]] if hot else "(unseen)"

    def record(self) -> dict:
        return {"name": self.name, "kind": self.kind, "values": self.values, "other": self.other,
                "fill": self.fill, "indicator": self.indicator}

    @classmethod
    def from_record(cls, data: dict) -> Column:
        return cls(data["name"], data["kind"], list(data.get("values") or []), bool(data.get("other")),
                   data.get("fill"), bool(data.get("indicator")))


@dataclass
class TableEncoding:
    """The columns a model reads, in order; x is their encodings side by side."""

    columns: list[Column]

    def names(self) -> list[str]:
        return [name for column in self.columns for name in column.names()]

    def encode(self, cells: dict[str, list[str]], where: list[str], shown: str) -> np.ndarray:
        """(rows, features) float32 from each column's raw cells (`cells[name]`); `where[i]` names row i."""
        if not self.columns:
            return np.zeros((len(where), 0), np.float32)
        return np.concatenate([c.encode(cells[c.name], where, shown) for c in self.columns], axis=1)

    def decode(self, x: list[float]) -> dict[str, str]:
        """One encoded row (unstandardised) back as {column: value as text} — what a person reads for a sample."""
        out, start = {}, 0
        for column in self.columns:
            width = len(column.names())
            out[column.name] = column.decode(list(x[start:start + width]))
            start += width
        return out

    def record(self) -> list[dict]:
        return [column.record() for column in self.columns]

    @classmethod
    def from_record(cls, data: list[dict]) -> TableEncoding:
        return cls([Column.from_record(item) for item in data])
