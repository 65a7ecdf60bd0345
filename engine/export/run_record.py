"""What a training run folder says about the weights in it (engine/runs.py writes these files).

An export reads them beside the weights file: data.json (the preprocessing and class names the
exported graph needs), config.json (the resolved settings for the model card) and summary.json
(the metrics). A weights file may carry a data record of its own, `NAME.data.json` beside
`NAME.safetensors` — what `layerloom import` writes for a model whose export held its preprocessing —
which then stands instead of the folder's data.json. Weights from anywhere else — or no weights —
give an empty record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import ExportError

DATA_SUFFIX = ".data.json"


def data_record_path(weights: str | Path) -> Path:
    """The data record that belongs to one weights file: `model.safetensors` → `model.data.json`."""
    return Path(weights).with_suffix(DATA_SUFFIX)


@dataclass(frozen=True)
class TrainedRun:
    config: dict | None = None
    data: dict | None = None
    summary: dict | None = None

    @classmethod
    def beside(cls, weights: Path | None) -> TrainedRun:
        """The run files in the folder of the (resolved) weights file; each None when absent."""
        if weights is None:
            return cls()
        folder = Path(weights).parent
        data_path = data_record_path(weights) if data_record_path(weights).is_file() else folder / "data.json"
        record = cls(_read(folder / "config.json"), _read(data_path), _read(folder / "summary.json"))
        if record.data is not None and not _describes_data(record.data):
            raise ExportError(f"{data_path}: lacks the input description (raw, input_shape, "
                              "input_dtype) — retrain to record it, or export the weights file from another folder")
        return record


def _describes_data(data: dict) -> bool:
    raw = data.get("raw")
    return (isinstance(raw, dict) and isinstance(raw.get("kind"), str) and isinstance(data.get("input_shape"), list)
            and isinstance(data.get("input_dtype"), str))


def _read(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ExportError(f"{path}: cannot be read as JSON ({exc}) — the run folder is damaged") from None
    if not isinstance(data, dict):
        raise ExportError(f"{path}: holds {type(data).__name__}, not a JSON object — the run folder is damaged")
    return data
