"""The training loop: epochs of optimizer steps over a compiled graph, reported as an event stream.

`train(doc, run_dir)` knows nothing about Qt or terminals; it writes `events.jsonl`, checkpoints and
`summary.json` into `run_dir` and hands every event to `on_event` (see events.py for the contract).

Host syncs are the expensive part of a small model's step on a GPU, so per step the loss, gradient
norms and the divergence flag stay on the device; they are read (one `.tolist()`) only when a step
event is due (≤ 20/s), at the end of an epoch and at a checkpoint. A NaN/Inf loss is therefore
noticed at the next read, not at once — but the step where it first happened is recorded on the
device, and no checkpoint is ever written from diverged weights.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DistributedSampler

from ..config import TrainingConfig
from ..document import GraphDocument
from ..fileformat import atomic_write_text
from . import events
from .checkpoint import CheckpointError, all_finite, load_checkpoint, restore_rng, save_checkpoint
from .distributed import Distributed, env_rank, full_state, load_full_state
from .setup import Setup, prepare, resolve_device

StopSignal = Callable[[], bool] | Any  # a callable, or anything with is_set() (threading.Event)


@dataclass
class RunResult:
    state: str  # "finished" | "stopped" | "failed"
    reason: str | None
    message: str
    run_dir: Path
    epochs: int = 0  # completed epochs
    step: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)  # the last epoch event's numbers
    best: dict[str, Any] | None = None  # {"monitor", "value", "epoch"}

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "reason": self.reason, "message": self.message, "run_dir": str(self.run_dir),
                "epochs": self.epochs, "step": self.step, "metrics": self.metrics, "best": self.best}


class _Diverged(Exception):
    def __init__(self, step: int):
        self.step = step


def train(doc: GraphDocument, run_dir: str | Path, *, epochs: int | None = None, device: str | None = None,
          resume: bool = False, on_event: Callable[[dict], None] | None = None, stop: StopSignal = None,
          base_dir: str | Path | None = None, strategy: str | None = None) -> RunResult:
    """Train `doc` with its training section (epochs/device overridden when given).

    Returns a RunResult for finished, stopped and diverged/out-of-memory runs. User errors (bad
    settings, invalid graph, unusable data, unusable checkpoint) are reported as a failed status
    event and then raised as the project's LayerloomError subclasses.
    """
    run_dir = Path(run_dir)
    main = env_rank() == 0
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
    log = events.EventLog(run_dir / "events.jsonl" if main else None, on_event)
    log.emit(events.status("started", message=f"training {doc.name}"))
    dist = Distributed()
    result = RunResult("failed", "error", "", run_dir)
    try:
        overrides = {k: v for k, v in (("epochs", epochs), ("device", device)) if v is not None}
        config = TrainingConfig.from_dict({**doc.training, **overrides})
        device_kind = resolve_device(config.device)
        dist = Distributed.from_env(strategy, device_kind)
        trainer = _Trainer(prepare(doc, config, dist, device_kind, base_dir), run_dir, log, stop)
        if resume:
            trainer.resume()
        result = trainer.run()
    except torch.OutOfMemoryError:
        torch.cuda.empty_cache()
        result.reason = "oom"
        result.message = ("out of GPU memory — lower training.batch_size, use precision bf16, "
                          "or make the model smaller")
    except Exception as exc:
        result.message = str(exc)
        log.emit(events.status("failed", "error", result.message))
        raise
    finally:
        if result.reason != "error":
            log.emit(events.status(result.state, result.reason, result.message))
        if main:
            atomic_write_text(run_dir / "summary.json", json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n")
        log.close()
        dist.close()
    return result


class _Trainer:
    def __init__(self, setup: Setup, run_dir: Path, log: events.EventLog, stop: StopSignal):
        self.s, self.run_dir, self.log = setup, run_dir, log
        self.stop_requested = getattr(stop, "is_set", stop) or (lambda: False)
        self.epoch = 0  # completed epochs
        self.batch = 0  # batches done in the epoch after `epoch` (non-zero only after a mid-epoch stop)
        self.step = 0
        self.best: dict[str, Any] | None = None
        self.bad_epochs = 0
        self.metrics: dict[str, Any] = {}
        self.lr = setup.schedule.lr(0)
        device = setup.device
        self.sums = torch.zeros(2, device=device)  # this epoch's (Σ loss·n, Σ correct predictions) on this rank
        self.samples, self.scored = 0, 0  # this epoch's training samples and scored targets on this rank
        self.epoch_started = time.perf_counter()
        self.first_bad = torch.full((), -1, dtype=torch.long, device=device)  # first step with a NaN/Inf loss
        self.last_loss: torch.Tensor | None = None
        # (layer norms, global norm) measured before clipping, when grad_clip needed them this step
        self.clip_norms: tuple[torch.Tensor, torch.Tensor] | None = None
        self.throttle = events.Throttle()
        self.seen = 0  # training samples on this rank since the run (or resume) began: throughput
        self.emitted_step, self.emitted_at, self.emitted_seen = 0, time.perf_counter(), 0
        self.sampler = DistributedSampler(setup.data.train, num_replicas=setup.dist.world_size,
                                          rank=setup.dist.rank, shuffle=True, seed=setup.config.seed)

    # -- the run ---------------------------------------------------------------------------------
    def run(self) -> RunResult:
        s = self.s
        self.log.emit(events.started(
            s.config.to_dict(), s.data.describe(), sum(p.numel() for p in s.compiled.module.parameters()),
            str(s.device), s.dist.world_size, self.step, s.steps_per_epoch))
        try:
            for epoch in range(self.epoch + 1, s.config.epochs + 1):
                if not self._train_epoch(epoch):
                    self._flush_step(epoch)
                    self._save("last")
                    return self._result("stopped", "request", f"stopped at step {self.step} as asked; resume "
                                        f"the run to continue from here")
                if self._end_epoch(epoch):
                    self._flush_step(epoch)
                    return self._result("finished", "early_stopping",
                                        f"{self._monitor} did not improve for {self.bad_epochs} epochs "
                                        f"(best {self.best['value']:.4g} at epoch {self.best['epoch']})")
            self._flush_step(self.epoch)
            return self._result("finished", None, f"finished {self.epoch} epochs")
        except _Diverged as exc:
            kept = "the last good checkpoint is kept in " + str(self.run_dir) if self.epoch else "no checkpoint yet"
            return self._result("failed", "nan", f"the loss became NaN or infinite at step {exc.step} — training "
                                f"diverged; lower the learning rate (now {self.lr:g}) or set grad_clip; {kept}")

    def _train_epoch(self, epoch: int) -> bool:
        """Train one epoch (or its remainder after a resume); False when a stop was requested."""
        s = self.s
        s.model.train()
        self.epoch_started = time.perf_counter()
        self.sampler.set_epoch(epoch)
        indices = list(self.sampler)
        bs = s.config.batch_size
        for start in range(self.batch * bs, len(indices), bs):
            self._step(*_batch(s.data.train, indices[start:start + bs], s.device))
            self.batch += 1
            stop, due = self._agree(bool(self.stop_requested()), self.throttle.due())
            if due:
                self._emit_step(epoch)
            if stop:
                return False
        return True

    def _step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        s = self.s
        self.lr = s.schedule.apply(s.optimizer, self.step)
        x = s.data.augment(x)
        with s.autocast():
            out = s.model(x, y)
        loss = out["loss"]
        s.optimizer.zero_grad(set_to_none=True)
        s.scaler.scale(loss).backward()
        s.scaler.unscale_(s.optimizer)
        self.clip_norms = None
        if s.config.grad_clip:  # clipping needs the global norm every step; the per-layer ones come with it
            self.clip_norms = s.grad_norms()
            s.dist.clip_grads(s.model, s.config.grad_clip, self.clip_norms[1])
        s.scaler.step(s.optimizer)
        s.scaler.update()
        self.step += 1
        loss = loss.detach().float()
        self.first_bad = torch.where((self.first_bad < 0) & ~torch.isfinite(loss), self.step, self.first_bad)
        self.sums += torch.stack([loss * len(y), self._correct(out[s.prediction], y)])
        self.samples += len(y)
        self.seen += len(y)
        self.scored += y.numel() if s.classification else 0
        self.last_loss = loss

    def _correct(self, pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """How many class indices in y the argmax of (N, C) or (N, T, C) predictions hits (0 for regression)."""
        if not self.s.classification:
            return torch.zeros((), device=y.device)
        return (pred.detach().argmax(-1) == y).sum().float()

    def _agree(self, stop: bool, due: bool) -> tuple[bool, bool]:
        """Every rank must stop and sync at the same step; rank 0's clock decides when events are due."""
        dist = self.s.dist
        if not dist.active:
            return stop, due
        flags = dist.sum(torch.tensor([int(stop), int(due and dist.is_main)], device=dist.collective_device))
        return bool(flags[0]), bool(flags[1])

    # -- reading the device: the only host syncs ----------------------------------------------------
    def _emit_step(self, epoch: int) -> None:
        """Report the step just taken. Its gradients are still in `.grad` (they are cleared at the start of
        the next step), so per-layer norms are measured only here, at log points, not on every step."""
        layer_norms, norm = self.clip_norms or self.s.grad_norms()
        first_bad, loss, norm, *layers = torch.cat(
            [self.first_bad.float().view(1), self.last_loss.view(1), norm.view(1), layer_norms]).tolist()  # host sync
        self._check_finite(first_bad)
        now = time.perf_counter()
        rate = (self.seen - self.emitted_seen) * self.s.dist.world_size / max(now - self.emitted_at, 1e-9)
        self.emitted_step, self.emitted_at, self.emitted_seen = self.step, now, self.seen
        self.log.emit(events.step(self.step, epoch, loss, self.lr, norm,
                                  dict(zip(self.s.grad_norms.node_ids, layers, strict=True)), rate))

    def _flush_step(self, epoch: int) -> None:
        """Emit the run's last step unless the throttle already did."""
        if self.last_loss is not None and self.emitted_step != self.step:  # a step was taken since (re)start
            self._emit_step(epoch)

    def _check_finite(self, first_bad: float) -> None:
        if self.s.dist.any(first_bad >= 0):
            raise _Diverged(int(first_bad) if first_bad >= 0 else self.step)

    def _end_epoch(self, epoch: int) -> bool:
        """Validate, report, checkpoint; True when early stopping ends the run."""
        s = self.s
        self._check_finite(self.first_bad.item())  # host sync
        sums = torch.cat([self.sums, self.sums.new_tensor([self.samples, self.scored])])
        loss_sum, correct, samples, scored = s.dist.sum(sums).tolist()  # host sync
        val_loss, val_acc = self._validate()
        self.metrics = {"epoch": epoch, "train_loss": loss_sum / samples, "val_loss": events.finite(val_loss),
                        "train_accuracy": correct / scored if scored else None, "val_accuracy": val_acc,
                        "lr": self.lr}
        self.log.emit(events.epoch(**self.metrics, seconds=time.perf_counter() - self.epoch_started))
        self.epoch, self.batch, self.samples, self.scored = epoch, 0, 0, 0
        self.sums.zero_()
        value = self.metrics[self._monitor]
        improved = value is not None and (self.best is None or (
            value < self.best["value"] if self._monitor == "val_loss" else value > self.best["value"]))
        if improved:
            self.best, self.bad_epochs = {"monitor": self._monitor, "value": value, "epoch": epoch}, 0
        else:
            self.bad_epochs += 1
        self._save("last")
        if improved:
            self._save("best")
        patience = s.config.early_stopping.patience
        return bool(patience) and self.bad_epochs >= patience

    @property
    def _monitor(self) -> str:
        return self.s.config.early_stopping.monitor

    @torch.no_grad()
    def _validate(self) -> tuple[float | None, float | None]:
        """Mean validation loss and accuracy (under DDP/FSDP each rank scores its shard, then summed)."""
        s = self.s
        s.model.eval()
        sampler = DistributedSampler(s.data.val, num_replicas=s.dist.world_size, rank=s.dist.rank, shuffle=False)
        indices = list(sampler)
        sums = torch.zeros(2, device=s.device)  # Σ loss·n, Σ correct
        n = scored = 0
        for start in range(0, len(indices), s.config.batch_size):
            x, y = _batch(s.data.val, indices[start:start + s.config.batch_size], s.device)
            with s.autocast():
                out = s.model(x, y)
            sums += torch.stack([out["loss"].float() * len(y), self._correct(out[s.prediction], y)])
            n, scored = n + len(y), scored + (y.numel() if s.classification else 0)
        loss_sum, correct, n, scored = s.dist.sum(torch.cat([sums, sums.new_tensor([n, scored])])).tolist()  # sync
        s.model.train()
        return (loss_sum / n if n else None), (correct / scored if scored else None)

    # -- checkpoints ---------------------------------------------------------------------------------
    def _save(self, tag: str) -> None:
        s = self.s
        model_state, optimizer_state = full_state(s.model, s.optimizer)  # every rank takes part
        if s.dist.any(s.dist.is_main and not all_finite(model_state)):
            raise _Diverged(self.step)
        if not s.dist.is_main:
            return
        partial = None
        if self.batch:
            loss_sum, correct = self.sums.tolist()
            partial = {"loss_sum": loss_sum, "correct": correct, "scored": self.scored, "samples": self.samples}
        meta = {"epoch": self.epoch, "batch": self.batch, "step": self.step, "partial": partial, "best": self.best,
                "bad_epochs": self.bad_epochs, "scaler": s.scaler.state_dict(), "config": s.config.to_dict()}
        path = save_checkpoint(self.run_dir, tag, model_state, optimizer_state, meta)
        self.log.emit(events.checkpoint(tag, str(path), self.epoch, self.step))

    def resume(self) -> None:
        """Continue exactly where the `last` checkpoint left off: weights, optimizer, RNG, counters."""
        s = self.s
        model_state, optimizer_state, meta = load_checkpoint(self.run_dir, "last")
        try:
            load_full_state(s.model, s.optimizer, model_state, optimizer_state)
        except (RuntimeError, KeyError, ValueError) as exc:
            raise CheckpointError(f"{self.run_dir / 'last.safetensors'} does not fit this graph ({exc}) — the graph "
                                  "changed since it was saved; train into a new run folder") from None
        restore_rng(meta)
        if meta["scaler"]:
            s.scaler.load_state_dict(meta["scaler"])
        self.epoch, self.batch, self.step = meta["epoch"], meta["batch"], meta["step"]
        self.best, self.bad_epochs = meta["best"], meta["bad_epochs"]
        if partial := meta["partial"]:
            self.sums = torch.tensor([partial["loss_sum"], partial["correct"]], device=s.device)
            self.samples, self.scored = partial["samples"], partial["scored"]
        self.emitted_step = self.step

    def _result(self, state: str, reason: str | None, message: str) -> RunResult:
        return RunResult(state, reason, message, self.run_dir, self.epoch, self.step, self.metrics, self.best)


def _batch(dataset, indices: list[int], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples `indices` of a dataset as one (x, y) batch on `device` (TensorDatasets are sliced directly)."""
    if hasattr(dataset, "tensors"):
        x, y = (t[torch.as_tensor(indices)] for t in dataset.tensors)
    else:
        from torch.utils.data import default_collate

        x, y = default_collate([dataset[i] for i in indices])
    return x.to(device, non_blocking=True), y.to(device, non_blocking=True)

