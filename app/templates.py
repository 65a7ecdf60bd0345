"""The example graphs shipped in resources/examples, offered under File → New from template."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "resources" / "examples"
DEFAULT_EXAMPLE = "digits_cnn.json"


@dataclass(frozen=True)
class Template:
    path: Path
    name: str
    description: str


def templates(folder: Path = EXAMPLES) -> list[Template]:
    """Every readable example with its "name" and "description" (unreadable files are left out)."""
    found = []
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        if isinstance(data, dict):
            found.append(Template(path, str(data.get("name") or path.stem), str(data.get("description") or "")))
    return found


def started_from(name: str) -> str:
    """The description a graph made from template `name` takes in place of the template's own."""
    return f"Started from the template {name!r}."


def untitled_from(name: str) -> str:
    """The name a run or an export records for a graph made from template `name` and not saved yet (its first
    save names it after the file)."""
    return f"Untitled (from {name})"


def default_example(folder: Path = EXAMPLES) -> Path | None:
    """The graph `layerloom` opens with no arguments: digits_cnn.json, else the first example."""
    preferred = folder / DEFAULT_EXAMPLE
    if preferred.is_file():
        return preferred
    return next(iter(sorted(folder.glob("*.json"))), None)
