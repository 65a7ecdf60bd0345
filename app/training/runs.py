"""A run as the live view sees it: the event stream folded into plain arrays, no Qt, no torch.

`RunRecord.add(event)` is called in the GUI thread for every event the worker sends (cheap list
appends); the plots read the arrays on their redraw timer and check `version` to skip redraws when
nothing arrived. A finished run's record can be rebuilt from its events.jsonl (`from_file`), which
is what the run list keeps for overlays.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from engine.train.events import read_events

TERMINAL = ("finished", "stopped", "failed")


def _num(value) -> float:
    return math.nan if value is None else float(value)


@dataclass
class RunRecord:
    name: str
    run_dir: Path | None = None
    state: str = "starting"  # starting | running | finished | stopped | failed
    reason: str | None = None
    message: str = ""
    dataset: str = ""
    device: str = ""
    params: int = 0
    steps_per_epoch: int = 0
    total_steps: int = 0
    steps: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    # Per step event, the named losses of a step with several (a GAN's generator and discriminator).
    losses: dict[str, list[float]] = field(default_factory=dict)
    lr: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    samples_per_s: list[float] = field(default_factory=list)  # per step event: training throughput since the last
    mean_samples_per_s: float | None = None  # the last step event's: training throughput since the session began
    layer_ids: list[str] = field(default_factory=list)
    layer_norms: list[list[float]] = field(default_factory=list)  # per step event: one norm per layer_ids entry
    epochs: list[dict] = field(default_factory=list)
    checkpoints: dict[str, str] = field(default_factory=dict)  # tag → weights path
    task_kind: str | None = None  # the started event's (engine/tasks); None for a run from before it was recorded
    artifacts: list[dict] = field(default_factory=list)  # the artifact events, in order
    events: list[dict] = field(default_factory=list)
    version: int = 0  # bumped on every event: redraw only when it moved
    started_at: float = field(default_factory=time.monotonic)
    resumed_step: int = 0  # the step this session of the run started from (0 unless resumed)
    paused_at: float | None = None  # monotonic time the run was paused; None while it runs
    paused_for: float = 0.0  # seconds spent paused since started_at (not counted in the ETA)

    @classmethod
    def from_file(cls, path: str | Path, name: str | None = None) -> RunRecord:
        path = Path(path)
        record = cls(name or path.parent.name, path.parent)
        for event in read_events(path):
            record.add(event)
        return record

    @property
    def active(self) -> bool:
        return self.state not in TERMINAL

    def add(self, event: dict) -> None:
        self.events.append(event)
        self.version += 1
        kind = event.get("type")
        if kind == "step":
            self._add_step(event)
        elif kind == "epoch":
            self.epochs.append(event)
        elif kind == "started":
            self.state, self.dataset, self.device = "running", event["dataset"], event["device"]
            self.params, self.steps_per_epoch = event["params"], event["steps_per_epoch"]
            self.total_steps = event["config"]["epochs"] * event["steps_per_epoch"]
            self.resumed_step = event.get("resumed_step") or 0
            self.task_kind = event.get("task_kind") or self.task_kind
            self.started_at, self.paused_at, self.paused_for = time.monotonic(), None, 0.0
        elif kind == "checkpoint":
            self.checkpoints[event["tag"]] = event["path"]
        elif kind == "artifact":
            self.artifacts.append(event)
        elif kind == "status" and event["state"] in TERMINAL:
            self.state, self.reason, self.message = event["state"], event["reason"], event["message"]
            self.paused_at = None
        elif kind == "status" and event["state"] == "started" and self.state in TERMINAL:
            self.state = "starting"  # a resumed run: its earlier events were read from the file first
        elif kind == "status" and event["state"] in ("paused", "resumed") and self.active:
            self.set_paused(event["state"] == "paused")  # a followed run's, or one read back from its file

    def set_paused(self, paused: bool) -> None:
        """Pause freezes the ETA: time spent paused does not count as time per step."""
        now = time.monotonic()
        if paused and self.paused_at is None:
            self.paused_at = now
        elif not paused and self.paused_at is not None:
            self.paused_for += now - self.paused_at
            self.paused_at = None
        self.version += 1

    @property
    def paused(self) -> bool:
        return self.paused_at is not None

    def _add_step(self, event: dict) -> None:
        norms = event["layer_grad_norms"]
        if not self.layer_ids:
            self.layer_ids = list(norms)
        self.steps.append(event["step"])
        self.loss.append(_num(event["loss"]))
        for name, value in (event.get("losses") or {}).items():
            self.losses.setdefault(name, []).append(_num(value))
        self.lr.append(_num(event["lr"]))
        self.grad_norm.append(_num(event["grad_norm"]))
        self.samples_per_s.append(_num(event["samples_per_s"]))
        self.mean_samples_per_s = event.get("mean_samples_per_s")
        self.layer_norms.append([_num(norms.get(node_id)) for node_id in self.layer_ids])

    def fail(self, message: str) -> None:
        """End the run from outside the stream (worker error, worker crash)."""
        if self.active:
            self.state, self.reason, self.message = "failed", "error", message
            self.version += 1

    # -- derived -------------------------------------------------------------------------------
    @property
    def step(self) -> int:
        return self.steps[-1] if self.steps else 0

    def latest_layer_norms(self) -> dict[str, float]:
        return dict(zip(self.layer_ids, self.layer_norms[-1], strict=True)) if self.layer_norms else {}

    def mean_rate(self) -> float | None:
        """The session's training throughput (samples/s of training time, engine/train/speed.py); for a run
        recorded before step events carried it, the median of their rates (robust to the windows that held
        an epoch's validation)."""
        if self.mean_samples_per_s is not None:
            return float(self.mean_samples_per_s)
        rates = sorted(r for r in self.samples_per_s if math.isfinite(r))
        return rates[len(rates) // 2] if rates else None

    def eta_seconds(self) -> float | None:
        """Time left at the average pace since this session of the run started, paused time excluded
        (None until a step is known)."""
        done = self.step - self.resumed_step
        if done <= 0 or not self.total_steps:
            return None
        now = self.paused_at if self.paused_at is not None else time.monotonic()
        elapsed = now - self.started_at - self.paused_for
        return max(0.0, elapsed / done * (self.total_steps - self.step))

    def epoch_series(self, key: str) -> tuple[list[float], list[float]]:
        """(x at the epoch's last step, value) for an epoch metric, skipping missing values."""
        xs, ys = [], []
        for event in self.epochs:
            if event.get(key) is not None:
                xs.append(float(event["epoch"] * self.steps_per_epoch))
                ys.append(float(event[key]))
        return xs, ys

    @property
    def weights(self) -> str | None:
        """The checkpoint to evaluate or export: best, else last."""
        return self.checkpoints.get("best") or self.checkpoints.get("last")

    @property
    def weights_checkpoint(self) -> tuple[str, int | None] | None:
        """The tag of the checkpoint `weights` names ("best", else "last") and the epoch it saved (None when its
        event is missing): what Results scores, while the live view shows each epoch's own weights."""
        tag = "best" if "best" in self.checkpoints else "last" if "last" in self.checkpoints else None
        if tag is None:
            return None
        return tag, next((e.get("epoch") for e in reversed(self.events)
                          if e.get("type") == "checkpoint" and e.get("tag") == tag), None)


def smooth(values: list[float], weight: float) -> list[float]:
    """Exponential moving average with bias correction (TensorBoard's smoothing); NaNs are skipped."""
    out, average, count = [], 0.0, 0
    for value in values:
        if math.isfinite(value):
            count += 1
            average = weight * average + (1 - weight) * value
        out.append(average / (1 - weight**count) if count else math.nan)
    return out


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else \
        f"{seconds // 60}:{seconds % 60:02d}"
