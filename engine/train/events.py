"""The training event stream: the one contract the CLI, the GUI and run records all read.

Every event is a JSON-serialisable dict with "type" and "time" (Unix seconds); one event per line in
`<run_dir>/events.jsonl` (appended across resumes) and, live, through the `on_event` callback.

    status      state: "started" | "paused" | "resumed" | "finished" | "stopped" | "failed"
                reason: None, or for failed "nan" (a NaN/Inf loss) | "diverged" (an epoch's mean training
                loss far above the run's first logged loss) | "oom" (out of GPU or CPU memory) | "error",
                for stopped "request", for finished "early_stopping" (the monitored metric stopped
                improving before the last epoch)
                message: human text (what happened, what to do); paused / resumed: the worker's Pause held
                the run between two steps / let it go on (message "paused at step N")
    started     config (TrainingConfig.to_dict()), dataset (describe() text), params (int), device (str),
                world_size (int), resumed_step (int, 0 for a fresh run), steps_per_epoch (int),
                task_kind (the run's task kind, engine/tasks KINDS: "classification", "adversarial", …)
    step        step (1-based optimizer steps so far), epoch (1-based), loss, lr, grad_norm,
                layer_grad_norms {node_id: float, one per node with parameters}, samples_per_s (since the
                last step event), mean_samples_per_s (since the run, or its resume, began) — both training
                samples per second of training time: the steps only, never startup, validation, checkpoints,
                artifacts or a pause (speed.TrainingClock); optional losses {name: float} when a step has
                several losses (GAN mode: {"generator", "discriminator"}; loss is then the generator's);
                optional activations {node_id: {mean, std, zero, saturated, nonfinite}} measured on that
                step (engine/inspect/activations.py: fractions in 0..1, saturated None for an unbounded one)
    epoch       epoch, train_loss, val_loss, train_accuracy, val_accuracy (None unless classification),
                lr, seconds (wall time of the epoch); optional losses {name: float}, the epoch means of
                the step losses (GAN mode: train_loss is the generator's mean loss, val_loss the
                discriminator's loss on the validation images against generated ones); optional metrics
                {name: float}, what the run's task kind measures on a fixed validation subset
                (engine/tasks: mae/rmse, reconstruction_error, perplexity, d_real/d_fake)
    checkpoint  tag ("last" | "best"), path (weights file), epoch, step
    artifact    kind ("image" | "text" | "data"), tag (what it shows: "samples", "confusion", …), epoch,
                step, path (its file under artifacts/, relative to the run folder: a PNG, .txt or .json),
                text (kind text), data (kind data: the JSON the file holds). Tag "nan_origin" (a failed run's,
                emitted before its last status): data {node, port, phase, value, step, input_max, input_min,
                fed, message} of the first non-finite value (engine/inspect/nan_origin.py). Tag "histograms"
                (every epoch end of a single-process run): data {node: {"weights", "gradients": {min, max, num,
                sum, sum_squares, edges, counts}}} (engine/inspect/histograms.py)
    download    file, done (bytes so far), total (bytes, or None when the server did not say): a benchmark
                set's first download, between status started and started (download_events.py; live only —
                the training worker's stream, never events.jsonl)
    warning     message: something the user should know that does not stop the run (a resume from
                `best` because `last` was unusable, a changed optimizer starting afresh; right after started, a
                last batch of one sample left out of every epoch, a memory estimate beyond the machine);
                optional node and step when it is about one node at one step (a dead or saturated layer)

A run emits status started first and exactly one of status finished/stopped/failed last (paused and
resumed, when it was paused, between them). Step events are throttled to at most
`MAX_STEP_EVENTS_PER_S`, always including the run's first and last step; the trainer reads loss and
norms from the device only for the steps it emits.
Non-finite numbers are written as null so every line is strict JSON.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .tensorboard_log import TensorBoardLog

MAX_STEP_EVENTS_PER_S = 20
STATES = ("started", "paused", "resumed", "finished", "stopped", "failed")
Event = dict[str, Any]


def status(state: str, reason: str | None = None, message: str = "") -> Event:
    assert state in STATES, state
    return _event("status", state=state, reason=reason, message=message)


def started(config: dict, dataset: str, params: int, device: str, world_size: int, resumed_step: int,
            steps_per_epoch: int, task_kind: str = "plain") -> Event:
    return _event("started", config=config, dataset=dataset, params=params, device=device, world_size=world_size,
                  resumed_step=resumed_step, steps_per_epoch=steps_per_epoch, task_kind=task_kind)


def step(step: int, epoch: int, loss: float, lr: float, grad_norm: float, layer_grad_norms: dict[str, float],
         samples_per_s: float, losses: dict[str, float] | None = None,
         mean_samples_per_s: float | None = None, activations: dict[str, dict] | None = None) -> Event:
    return _event("step", step=step, epoch=epoch, loss=finite(loss), lr=lr, grad_norm=finite(grad_norm),
                  layer_grad_norms={k: finite(v) for k, v in layer_grad_norms.items()},
                  samples_per_s=finite(samples_per_s), mean_samples_per_s=finite(mean_samples_per_s),
                  **_losses(losses), **({"activations": activations} if activations else {}))


def epoch(epoch: int, train_loss: float, val_loss: float | None, train_accuracy: float | None,
          val_accuracy: float | None, lr: float, seconds: float, losses: dict[str, float] | None = None,
          metrics: dict[str, float] | None = None) -> Event:
    return _event("epoch", epoch=epoch, train_loss=finite(train_loss), val_loss=finite(val_loss),
                  train_accuracy=finite(train_accuracy), val_accuracy=finite(val_accuracy), lr=lr, seconds=seconds,
                  **_losses(losses), **({"metrics": {k: finite(v) for k, v in metrics.items()}} if metrics else {}))


def _losses(losses: dict[str, float] | None) -> dict[str, Any]:
    """The optional `losses` field: absent unless a step or epoch has several named losses."""
    return {} if losses is None else {"losses": {k: finite(v) for k, v in losses.items()}}


def checkpoint(tag: str, path: str, epoch: int, step: int) -> Event:
    return _event("checkpoint", tag=tag, path=path, epoch=epoch, step=step)


def artifact(kind: str, tag: str, epoch: int, step: int, path: str, text: str | None = None,
             data: Any = None) -> Event:
    assert kind in ("image", "text", "data"), kind
    extra = {"text": text} if kind == "text" else {"data": data} if kind == "data" else {}
    return _event("artifact", kind=kind, tag=tag, epoch=epoch, step=step, path=path, **extra)


def download(file: str, done: int, total: int | None) -> Event:
    return _event("download", file=file, done=done, total=total)


def warning(message: str, node: str | None = None, step: int | None = None) -> Event:
    return _event("warning", message=message, **({"node": node, "step": step} if node else {}))


def _event(kind: str, /, **fields: Any) -> Event:
    return {"type": kind, "time": time.time(), **fields}


def finite(value: float | None) -> float | None:
    """`value` as a float, or None when missing or not finite (JSON has no NaN)."""
    return None if value is None or not math.isfinite(value) else float(value)


class Throttle:
    """Says whether a step event is due: the first always, then at most `rate` per second."""

    def __init__(self, rate: float = MAX_STEP_EVENTS_PER_S, clock: Callable[[], float] = time.monotonic):
        self.interval, self.clock = 1.0 / rate, clock
        self.last: float | None = None

    def ready(self) -> bool:
        """Whether `due` would say yes now (without counting it): the step about to run will be reported."""
        return self.last is None or self.clock() - self.last >= self.interval

    def due(self) -> bool:
        now = self.clock()
        if self.last is not None and now - self.last < self.interval:
            return False
        self.last = now
        return True


class EventLog:
    """Appends events to events.jsonl, writes them as TensorBoard files in `tensorboard_dir` when
    given (see tensorboard_log.py) and passes them to `on_event`; a no-op off the main rank (path None)."""

    def __init__(self, path: Path | None, on_event: Callable[[Event], None] | None = None,
                 tensorboard_dir: Path | None = None):
        self.on_event = on_event
        self._file = open(path, "a", encoding="utf-8") if path is not None else None  # noqa: SIM115
        if self._file is not None and _ends_mid_line(path):
            self._file.write("\n")  # a kill tore the last line: the next event starts a line of its own
        self._tensorboard = TensorBoardLog(tensorboard_dir) if path is not None and tensorboard_dir else None

    def emit(self, event: Event) -> None:
        if self._file is None:
            return
        self._file.write(json.dumps(event, allow_nan=False) + "\n")
        self._file.flush()
        if self._tensorboard is not None:
            self._tensorboard(event)
        if self.on_event is not None:
            self.on_event(event)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._tensorboard is not None:
            self._tensorboard.close()
            self._tensorboard = None


def _ends_mid_line(path: Path) -> bool:
    with open(path, "rb") as handle:
        if handle.seek(0, 2) == 0:
            return False
        handle.seek(-1, 2)
        return handle.read(1) != b"\n"


def read_events(path: str | Path) -> list[Event]:
    """Every event of a run, in order (for tests, reports and the GUI re-opening a run)."""
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
