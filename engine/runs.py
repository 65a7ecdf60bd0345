"""The run store: a graph's training runs live beside it, each in a self-contained folder.

    my_cnn.json                 the graph
    my_cnn.runs/                its run store
        my_cnn-20261202-173501/ one run: every path in it is absolute
            run.json            label (a display name the user can change), created, graph file
            graph.json          the graph exactly as trained (a later edit never mismatches old weights)
            config.json         the training settings as resolved: every default in force written out
            data.json           the data: class names, input shape, preprocessing statistics (split.record)
            events.jsonl        the event stream (engine/train/events.py); tensorboard/ the same for TensorBoard
            last.* best.*       checkpoints (engine/train/checkpoint_files.py)
            summary.json        how the run ended (RunResult), rewritten at every end, resumes included
            metrics.csv         one row per epoch
            artifacts/          what the run's task kind shows at epoch ends (engine/tasks): confusion data,
                                sample grids, reconstructions, generated text, as <tag>-epoch<NNNN>.png|txt|json

An unsaved graph has no folder to sit beside, so its runs go to the user data folder
(`unsaved_store`) until it is saved; `move_runs` then carries them over. Nothing here imports torch:
the GUI lists runs with it.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import shutil
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from .document import json_problem
from .errors import LayerloomError
from .fileformat import atomic_write_text
from .train.checkpoint_files import checkpoint_weights

STORE_SUFFIX = ".runs"
RUN_FILE = "run.json"
TERMINAL = ("finished", "stopped", "failed")
METRIC_FIELDS = ("epoch", "train_loss", "val_loss", "train_accuracy", "val_accuracy", "lr", "seconds")
# What a run's files may say and still be believed (anything beyond reads as unknown):
MAX_COUNT = 10**15  # epochs, steps
MAX_EPOCH_SECONDS = 366 * 24 * 3600.0  # one epoch's duration: a sum of them stays finite
UNKNOWN_DATE = "date ?"


class RunStoreError(LayerloomError):
    """A run folder cannot be created, read, renamed, moved or deleted; the message names the folder."""


def store_for(graph_path: str | Path) -> Path:
    """The absolute run store of the graph saved at `graph_path`: `my_cnn.json` → `my_cnn.runs`.

    A relative path is resolved against the current folder once, here, so the trainer, the worker
    process and the GUI all use the same absolute folder wherever they were started.
    """
    path = Path(graph_path).expanduser().resolve()
    return path.with_name(path.stem + STORE_SUFFIX)


def user_data_dir() -> Path:
    """Layerloom's per-user data folder (`~/.local/share/layerloom` on Linux), from platformdirs."""
    from platformdirs import user_data_path

    return Path(os.environ.get("LAYERLOOM_DATA_DIR") or user_data_path("layerloom", appauthor=False))


def unsaved_store(key: str) -> Path:
    """The run store of a graph not saved yet; `key` keeps two unsaved graphs' runs apart."""
    return user_data_dir() / "unsaved" / (slug(key) + STORE_SUFFIX)


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.")[:60] or "graph"


def new_run_dir(store: str | Path, name: str, graph_path: str | Path | None = None) -> Path:
    """Create and return a fresh, absolute run folder `<store>/<name>-<date>-<time>[-n]`, holding its
    run.json at once, so the run is listed from the moment it is asked for."""
    store = Path(store).expanduser().resolve()
    base = f"{slug(name)}-{time.strftime('%Y%m%d-%H%M%S')}"
    for n in range(1, 10_000):
        run_dir = store / (base if n == 1 else f"{base}-{n}")
        try:
            run_dir.mkdir(parents=True)
            _write_json(run_dir / RUN_FILE, _run_meta(run_dir, graph_path))
            return run_dir
        except FileExistsError:
            continue
        except OSError as exc:
            raise RunStoreError(f"{run_dir}: cannot create the run folder ({exc.strerror})") from None
    raise RunStoreError(f"{store}: too many runs started this second")


def write_run_files(run_dir: Path, graph: dict, config: dict, data: dict, graph_path: str | Path | None) -> None:
    """Record what a new run trains: run.json, graph.json, config.json and data.json (atomically)."""
    run_dir = Path(run_dir)
    if not (run_dir / RUN_FILE).exists():
        _write_json(run_dir / RUN_FILE, _run_meta(run_dir, graph_path))
    _write_json(run_dir / "graph.json", graph)
    _write_json(run_dir / "config.json", config)
    _write_json(run_dir / "data.json", data)


def _run_meta(run_dir: Path, graph_path: str | Path | None) -> dict:
    return {"label": run_dir.name, "created": time.time(),
            "graph_path": str(Path(graph_path).resolve()) if graph_path else None}


def update_config(run_dir: Path, config: dict) -> None:
    """A resumed run may train for more epochs: config.json follows what is in force."""
    _write_json(Path(run_dir) / "config.json", config)


@dataclass
class RunInfo:
    """One row of a run list: what the user reads before opening a run."""

    path: Path
    label: str
    created: float  # Unix seconds
    state: str  # finished | stopped | failed | running (events still coming, or the trainer died mid-run) | paused
    message: str
    epochs: int  # completed epochs
    total_epochs: int | None
    step: int
    best: dict | None  # {"monitor", "value", "epoch"} and a classifier's "val_accuracy" then
    metrics: dict  # the last epoch's numbers
    seconds: float  # training time: the sum of epoch durations
    checkpoints: dict[str, Path]  # tag → weights file, for the tags present

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def resumable(self) -> bool:
        return self.state in TERMINAL and "last" in self.checkpoints

    @property
    def date(self) -> str:
        """`2026-12-02 17:35` in local time, or UNKNOWN_DATE when `created` is no date (≤ 0, NaN, beyond
        the year 9999 or what the platform's clock functions take)."""
        return _date_text(self.created) or UNKNOWN_DATE

    def best_text(self) -> str:
        if not self.best:
            return "—"
        value = self.best["value"]
        shown = f"{value:.1%}" if "accuracy" in self.best["monitor"] and 0 <= value <= 1 else f"{value:.4g}"
        return f"{self.best['monitor']} {shown}"


def list_runs(store: str | Path) -> list[RunInfo]:
    """The runs in `store`, oldest first; folders that are not runs are ignored."""
    store = Path(store)
    if not store.is_dir():
        return []
    runs = [read_run(path) for path in store.iterdir() if is_run_dir(path)]
    return sorted(runs, key=lambda r: (r.created, r.name))


def is_run_dir(path: Path) -> bool:
    try:
        return path.is_dir() and ((path / RUN_FILE).is_file() or (path / "events.jsonl").is_file())
    except OSError:  # a folder this user cannot look into: not listed (nor deleted) rather than ending the list
        return False


def read_run(run_dir: str | Path) -> RunInfo:
    """What `run_dir` holds, from run.json, summary.json and the event log, tolerating any of them missing
    or damaged: a field of the wrong type or out of range reads as unknown, so a listing never fails.

    Every field is then safe to format: `label` and `message` are text; `created` a finite number of
    Unix seconds (the folder's modification time when run.json's is no date `date` can show, 0 when
    even that cannot be read — `date` then says UNKNOWN_DATE); counts whole numbers up to MAX_COUNT
    (else unknown); `seconds` the sum of the epoch durations from 0 to MAX_EPOCH_SECONDS (others count
    as 0); `best` exactly {"monitor": text, "value": finite, "epoch": count}, with "val_accuracy" (0…1) when a
    classifier's summary gives it; `metrics` the entries
    whose key is text and whose value JSON writes and reads back (finite numbers, bounded nesting)."""
    run_dir = Path(run_dir).resolve()
    meta = _object(_read_json(run_dir / RUN_FILE))
    summary = _object(_read_json(run_dir / "summary.json"))
    config = _object(_read_json(run_dir / "config.json"))
    epochs = [e for e in run_events(run_dir) if e.get("type") == "epoch"]
    state, message = _state(run_dir, summary)
    checkpoints = {tag: path for tag in ("best", "last") if (path := checkpoint_weights(run_dir, tag))}
    last_epoch = _count(epochs[-1].get("epoch")) if epochs else 0
    metrics = summary.get("metrics") if isinstance(summary.get("metrics"), dict) else (epochs[-1] if epochs else {})
    label = _text(meta.get("label"))
    return RunInfo(
        path=run_dir, label=label if label.strip() else run_dir.name,
        created=_created(meta.get("created"), run_dir), state=state, message=message,
        epochs=_count(summary.get("epochs")) or last_epoch or 0, total_epochs=_count(config.get("epochs")),
        step=_count(summary.get("step")) or 0, best=_best(summary.get("best")), metrics=_readable(metrics),
        seconds=sum(_duration(e.get("seconds")) for e in epochs), checkpoints=checkpoints)


def _object(data: Any) -> dict:
    return data if isinstance(data, dict) else {}


def _date_text(created: Any) -> str | None:
    """`created` (Unix seconds) as local date and time, or None when it is no such date."""
    number = _finite(created)
    if number is None or number <= 0:
        return None
    try:
        return datetime.fromtimestamp(number).strftime("%Y-%m-%d %H:%M")
    except (OverflowError, OSError, ValueError):  # beyond datetime's years, or the platform's time_t
        return None


def _created(value: Any, run_dir: Path) -> float:
    """run.json's `created` when it is a date, else the folder's modification time, else 0 (unknown)."""
    if _date_text(value) is not None:
        return float(value)
    try:
        modified = run_dir.stat().st_mtime
    except OSError:  # deleted meanwhile
        return 0.0
    return modified if _date_text(modified) is not None else 0.0


def _duration(value: Any) -> float:
    """One epoch's duration in seconds, 0 when unknown (negative, NaN, or longer than MAX_EPOCH_SECONDS)."""
    number = _finite(value)
    return number if number is not None and 0 <= number <= MAX_EPOCH_SECONDS else 0.0


def _best(best: Any) -> dict | None:
    if not isinstance(best, dict) or not isinstance(best.get("monitor"), str):
        return None
    value, epoch = _finite(best.get("value")), _count(best.get("epoch"))
    if value is None or epoch is None:
        return None
    accuracy = _finite(best.get("val_accuracy"))  # a classifier's, at the best epoch: what Results shows
    return {"monitor": _text(best["monitor"]), "value": value, "epoch": epoch,
            **({"val_accuracy": accuracy} if accuracy is not None and 0 <= accuracy <= 1 else {})}


def _readable(metrics: dict) -> dict:
    """The entries of `metrics` any reader can take (see `read_run`)."""
    return {key: value for key, value in metrics.items() if isinstance(key, str) and json_problem(value, 8) is None}


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer with hundreds of digits
        return None
    return number if math.isfinite(number) else None


def _count(value: Any) -> int | None:
    """A whole number from 0 to MAX_COUNT (an epoch or step count), else None."""
    number = _finite(value)
    return int(number) if number is not None and 0 <= number <= MAX_COUNT and number == int(number) else None


def _state(run_dir: Path, summary: dict) -> tuple[str, str]:
    """The run's state; a run whose last status is "started" (or "resumed") is running, or was killed; one
    whose last status is "paused" is held by the app training it, or was killed while paused."""
    last = None
    for event in run_events(run_dir):
        if event.get("type") == "status":
            last = event
    if last is not None and last.get("state") in TERMINAL:
        return last["state"], _text(last.get("message"))
    if last is not None and last.get("state") == "paused":
        return "paused", f"{_text(last.get('message')) or 'paused'} — Resume (F7) goes on (or the process was killed " \
                         "while paused)"
    if last is not None:
        return "running", "running, or ended without a word (the process was killed) — resume it to continue"
    if summary.get("state") in TERMINAL:
        return summary["state"], _text(summary.get("message"))
    return "running", "no events yet"


def _text(value: Any) -> str:
    """Text as it can be printed and shown (a lone surrogate, which JSON may hold, as `\\udc80`); "" if not text."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8") if isinstance(value, str) else ""


def run_events(run_dir: Path) -> list[dict]:
    """The run's events, skipping a line torn by a kill mid-write."""
    path = run_dir / "events.jsonl"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    events = []
    for line in lines:
        try:
            event = json.loads(line)
        except (ValueError, RecursionError):
            continue  # a line torn by a kill mid-write, or garbage
        if isinstance(event, dict):
            events.append(event)
    return events


def write_metrics_csv(run_dir: Path) -> None:
    """metrics.csv: one row per epoch of the run, resumed sessions included (spreadsheets read it)."""
    rows = [e for e in run_events(run_dir) if e.get("type") == "epoch"]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=METRIC_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(Path(run_dir) / "metrics.csv", out.getvalue())


def rename_run(run_dir: str | Path, label: str) -> None:
    """Give a run a display name (its folder, and so every path in it, stays as it is)."""
    label = label.strip()
    if not label:
        raise RunStoreError("a run's name cannot be empty")
    run_dir = Path(run_dir)
    meta = _read_json(run_dir / RUN_FILE) or {"created": run_dir.stat().st_mtime, "graph_path": None}
    _write_json(run_dir / RUN_FILE, {**meta, "label": label})


def delete_run(run_dir: str | Path) -> None:
    """Delete a run folder, refusing anything that is not one (never a stray rmtree)."""
    run_dir = Path(run_dir)
    if not is_run_dir(run_dir):
        raise RunStoreError(f"{run_dir}: not a run folder — nothing deleted")
    shutil.rmtree(run_dir)


def move_runs(source: str | Path, target: str | Path, keep: Path | None = None) -> dict[Path, Path]:
    """Move every run of store `source` into store `target` (a graph saved for the first time), except
    the run folder `keep` (one still training: it moves once it ends).

    Paths recorded inside a run (checkpoint events) are rewritten to the new folder. Returns
    {old run folder: new run folder}; a name already taken in `target` gets a suffix.
    """
    source, target = Path(source), Path(target)
    moved = {}
    for run in list_runs(source):
        if keep is not None and run.path.resolve() == Path(keep).resolve():
            continue
        destination, n = target / run.name, 1
        while destination.exists():
            n += 1
            destination = target / f"{run.name}-{n}"
        target.mkdir(parents=True, exist_ok=True)
        shutil.move(str(run.path), str(destination))
        _rewrite_paths(destination, str(run.path), str(destination))
        moved[run.path] = destination
    if source.is_dir() and not any(source.iterdir()):
        source.rmdir()
    return moved


def _rewrite_paths(run_dir: Path, old: str, new: str) -> None:
    for name in ("events.jsonl", "summary.json"):
        path = run_dir / name
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            atomic_write_text(path, text.replace(json.dumps(old)[1:-1], json.dumps(new)[1:-1]))


def run_graph(run_dir: str | Path) -> dict:
    """The graph a run trained (its graph.json), for resuming and exporting that run."""
    path = Path(run_dir) / "graph.json"
    data = _read_json(path)
    if data is None:
        raise RunStoreError(f"{path}: missing or unreadable — this run cannot be resumed from the app; "
                            "use `layerloom train GRAPH --out RUN --resume` with the graph it trained")
    return data


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):  # missing, torn, not JSON, nested beyond the parser
        return None


def _write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=1, ensure_ascii=False, allow_nan=False) + "\n")
