"""Typed reading of one `training["dataset"]` dict, with errors that name the field at fault.

Every loader reads its settings through an `Options`, then calls `finish()`, so a misspelt key
(`"val_splt"`) is reported instead of silently ignored.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import DataError


class Options:
    def __init__(self, config: dict, base_dir: str | Path | None = None, prefix: str = ""):
        self.config = config
        self.name = config["name"]
        self.base_dir = Path(base_dir) if base_dir is not None else Path.cwd()
        self.prefix = prefix  # "augment." when reading a nested object
        self._read: set[str] = {"name"}
        # whether a source that can be read lazily should be decoded whole, given its decoded size in bytes
        self.in_memory: Callable[[int], bool] = lambda size: True
        # told how a download goes: (file name, bytes so far, total bytes or None); None: a line on stderr
        self.progress: Callable[[str, int, int | None], None] | None = None
        self.fetch = True  # whether a benchmark set missing from the user's cache may be downloaded

    def error(self, key: str, message: str) -> DataError:
        return DataError(f"dataset {self.name!r}: {self.prefix + key!r} {message}")

    def _get(self, key: str, default: Any) -> Any:
        self._read.add(key)
        return self.config.get(key, default)

    def number(self, key: str, default: float, low: float, high: float, *, open_low: bool = False,
               open_high: bool = False) -> float:
        value = self._get(key, default)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if ok:
            ok = (value > low if open_low else value >= low) and (value < high if open_high else value <= high)
        if not ok:
            lo, hi = "(" if open_low else "[", ")" if open_high else "]"
            raise self.error(key, f"must be a number in {lo}{low:g}, {high:g}{hi}, got {value!r}")
        return float(value)

    def integer(self, key: str, default: int, low: int, high: int = 10**9) -> int:
        value = self._get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise self.error(key, f"must be a whole number from {low} to {high}, got {value!r}")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise self.error(key, f"must be true or false, got {value!r}")
        return value

    def text(self, key: str, default: str | None) -> str | None:
        value = self._get(key, default)
        if value is not None and not isinstance(value, str):
            raise self.error(key, f"must be text, got {value!r}")
        return value

    def choice(self, key: str, default: str | None, choices: tuple[str, ...]) -> str | None:
        value = self._get(key, default)
        if value is not None and value not in choices:
            raise self.error(key, f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    def texts(self, key: str) -> list[str] | None:
        value = self._get(key, None)
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
            raise self.error(key, f"must be a list of names, got {value!r}")
        return value

    def ints(self, key: str, default: list[int], length: int, low: int, high: int) -> list[int]:
        value = self._get(key, default)
        ok = isinstance(value, list) and len(value) == length and all(
            isinstance(v, int) and not isinstance(v, bool) and low <= v <= high for v in value)
        if not ok:
            raise self.error(key, f"must be a list of {length} whole numbers from {low} to {high}, got {value!r}")
        return value

    def mapping(self, key: str) -> dict:
        value = self._get(key, {})
        if not isinstance(value, dict):
            raise self.error(key, f"must be an object, got {value!r}")
        return value

    def path(self, key: str = "path", default: str | None = None) -> Path:
        """A file or folder resolved against `base_dir` (the graph file's folder); it must exist."""
        value = self.text(key, default)
        if not value:
            raise self.error(key, "is required — set it to the file or folder to load")
        path = Path(value).expanduser()
        path = path if path.is_absolute() else self.base_dir / path
        if not path.exists():
            raise DataError(f"{value}: not found (looked for {path.resolve()})")
        return path

    def finish(self) -> None:
        """Refuse keys no loader read, naming the ones that are understood."""
        unknown = sorted(set(self.config) - self._read)
        if unknown:
            raise DataError(f"dataset {self.name!r}: unknown setting {unknown[0]!r} "
                            f"(understood: {', '.join(sorted(self._read))})")
