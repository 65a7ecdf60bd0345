"""What every trainer shares: epochs of steps, stop requests, throttled events, NaN checks, checkpoints.

`Trainer` runs the epochs, batches and bookkeeping; a subclass says what one optimizer step is
(`_step`) and what an epoch's scores are (`_scores`): loop.py's SupervisedTrainer (loss nodes) and
gan.py's GanTrainer (two networks, two optimizers) are the two. Batches come from the data's placement
(engine/data/batches.py: resident on the device, or streamed by DataLoader workers) in the order
DistributedSampler would give. A step ends with `_record`, which only keeps the step's detached losses
on the device; every `FOLD` steps, and whenever they are read, they are folded into the epoch's running
sums and the divergence flag with a few tensor operations for all of them. At every epoch end the run's
task kind (engine/tasks) adds its metrics to the epoch event and, throttled, writes its artifacts.

Host syncs are the expensive part of a small model's step on a GPU, so per step the losses, gradient
norms and the divergence flag stay on the device; they are read (one `.tolist()`) only when a step
event is due (≤ 20/s), at the end of an epoch and at a checkpoint. A NaN/Inf loss is therefore
noticed at the next read, not at once — but the step where it first happened is recorded on the
device, and no checkpoint is ever written from diverged weights. When a run fails so (or diverges), the
steps since the last good state are replayed with checks on to name the node where the first NaN/inf
appeared (engine/inspect/nan_origin.py): the failure's message, and a `nan_origin` artifact.

Checkpoints are written off the training thread: at an epoch end the trainer takes a snapshot of the
state (checkpoint.py: a CPU copy where training would change it, the RNG states) and hands it to a
`CheckpointWriter`, whose thread writes and fsyncs `last` (and `best` from the same snapshot, when the
monitored metric improved) while the next epoch trains. The next save waits for the previous one; the
run's end waits for the last; a checkpoint event is emitted once its files are committed (seen at the
next step event, save or the run's end), and a save that failed fails the run with its error.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from nodes import get_spec

from .. import atomic
from ..data.batches import epoch_order, place
from ..inspect.activations import MEASURES_PER_S, ActivationStats, Findings
from ..inspect.histograms import histograms
from ..inspect.nan_origin import Origin, StartState, replay
from ..tasks import TaskReport, kind_for
from ..tasks.artifacts import ARTIFACTS_DIR, ArtifactWriter
from . import events
from .checkpoint import (
    CheckpointError,
    CheckpointWriter,
    Saved,
    Snapshot,
    all_finite,
    load_latest,
    restore_rng,
    snapshot,
    storage_address,
)
from .checkpoint_files import remove_stale, weights_file
from .distributed import full_state, load_model_state, load_optimizer_state
from .setup import RunSetup
from .speed import TrainingClock

# A callable, or anything with is_set() (threading.Event). One that can hold the run paused inside the
# call (the worker's Control) has a `pause_listener` attribute: the trainer sets it to a function the
# signal calls, on the training thread, with True as the pause begins and False as the run goes on.
StopSignal = Callable[[], bool] | Any


@dataclass
class RunResult:
    state: str  # "finished" | "stopped" | "failed"
    reason: str | None
    message: str
    run_dir: Path
    epochs: int = 0  # completed epochs
    step: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)  # the last epoch event's numbers
    # {"monitor", "value", "epoch"}, and a classifier's "val_accuracy" at that epoch (the best checkpoint's)
    best: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "reason": self.reason, "message": self.message, "run_dir": str(self.run_dir),
                "epochs": self.epochs, "step": self.step, "metrics": self.metrics, "best": self.best}


# An epoch whose mean training loss exceeds both the run's first logged loss × FACTOR and FLOOR has
# diverged (the floor spares a loss that starts near zero from its noise); losses here are never negative.
DIVERGENCE_FACTOR = 100
DIVERGENCE_FLOOR = 1.0
FOLD = 64  # steps whose losses are kept as a list before they are summed on the device
FOLD_BYTES = 16 << 20  # … or fewer, when the tensors they keep for the second sum (predictions) reach this size
NAN_ORIGIN = "nan_origin"  # the artifact tag of where a failed run's first non-finite value came from
HISTOGRAMS = "histograms"  # the artifact tag of each epoch's weight and gradient histograms per node
NEVER = 2**62  # `first_bad` while every loss was finite (exact as a float, and no step count reaches it)


class Diverged(Exception):
    """Training blew up by `step`: reason "nan" (a NaN/Inf loss) or "diverged" (`what` says how far the loss rose)."""

    def __init__(self, step: int, reason: str = "nan", what: str = ""):
        self.step, self.reason = step, reason
        self.what = what or f"the loss became NaN or infinite at step {step}"


class Trainer:
    # Names of the epoch's two running sums on the device (kept in checkpoints); the first is Σ loss·n.
    SUMS = ("loss_sum", "correct")
    # Names of the step's losses when it has several (reported as the step event's `losses`); the
    # first is the event's `loss`. Empty: one loss, no `losses` field.
    LOSS_NAMES: tuple[str, ...] = ()
    KEEPS_BEST = True  # save a `best` checkpoint when the monitored metric improves

    def __init__(self, setup: RunSetup, run_dir: Path, log: events.EventLog, stop: StopSignal):
        self.s, self.run_dir, self.log = setup, run_dir, log
        self.stop_requested = getattr(stop, "is_set", stop) or (lambda: False)
        if hasattr(stop, "pause_listener"):
            stop.pause_listener = self._paused
        self.epoch = 0  # completed epochs
        self.batch = 0  # batches done in the epoch after `epoch` (non-zero only after a mid-epoch stop)
        self.step = 0
        self.best: dict[str, Any] | None = None
        self.bad_epochs = 0
        self.metrics: dict[str, Any] = {}
        self.lr = setup.schedule.lr(0)
        self.applied_lr: float | None = None  # the learning rate last set on the optimizers by this trainer
        device = setup.device
        self.sums = torch.zeros(2, device=device)  # this epoch's running sums on this rank, named by SUMS
        self.samples, self.scored = 0, 0  # this epoch's training samples and scored targets on this rank
        # steps not yet folded into `sums`/`first_bad`: their losses and second-sum terms; a step whose batch is
        # not batch_size samples (an epoch's last) also adds (n − batch_size)·loss to `odd`, as Σ loss·n is folded
        # as batch_size·Σ loss
        self.pending: list[torch.Tensor] = []
        self.pending_second: list = []
        self.pending_bytes = 0
        self.odd: list[torch.Tensor] = []
        self.zero = torch.zeros((), device=device)  # the second-sum term of a step that has none
        self.fold_steps = torch.arange(1, FOLD + 1, device=device)  # a fold's steps, counted from its first
        self.epoch_started = time.perf_counter()
        self.first_bad = torch.full((), NEVER, dtype=torch.long, device=device)  # first step with a NaN/Inf loss
        self.last_losses: torch.Tensor | None = None  # the last step's losses, (1,) or (len(LOSS_NAMES),)
        self.first_loss: float | None = None  # the first loss this session logged: divergence is measured from it
        # (layer norms, global norm) measured before clipping, when grad_clip needed them this step
        self.clip_norms: tuple[torch.Tensor, torch.Tensor] | None = None
        self.throttle = events.Throttle()
        self.start_state: StartState | None = None  # the state before the first step, until a checkpoint exists
        # the instruments of engine/inspect look into one process's plain graph only (not a GAN's two networks)
        self.inspected = getattr(setup, "compiled", None) is not None and not setup.dist.active
        # activation statistics at log points (engine/inspect/activations.py), unless training.activation_stats is off
        self.activations, self.findings = None, Findings({})
        self.measures = events.Throttle(MEASURES_PER_S)
        if self.inspected and setup.config.activation_stats:
            specs = {node_id: get_spec(type_id) for node_id, type_id in setup.node_types.items()}
            self.activations = ActivationStats(setup.model, setup.node_types,
                                               {n: spec.role for n, spec in specs.items() if spec})
            self.findings = Findings({n: spec.category for n, spec in specs.items() if spec})
        elif setup.config.activation_stats:
            setup.warnings.append("activation statistics are not measured in this run: " + (
                "a GAN's two networks are not instrumented" if setup.config.mode == "gan"
                else "they are measured in a single process only"))
        self.writer = CheckpointWriter(run_dir)  # rank 0's checkpoints, written on a thread of their own
        self.unsaved: tuple[Snapshot, int, list[str]] | None = None  # a snapshot `_save` took, its step and tags
        self.taken_at: int | None = None  # the step `_save` took the state at, until `_submit_saves` (every rank)
        self.seen = 0  # training samples on this rank since the run (or resume) began: throughput
        self.clock = TrainingClock()  # seconds spent in training steps since then (speed.py)
        self.emitted_step, self.emitted_at, self.emitted_seen = 0, 0.0, 0  # the last step event's step, clock, seen
        # what the run's task kind measures and shows at epoch ends (engine/tasks)
        self.tasks = TaskReport(kind_for(setup), setup, run_dir, lambda **fields: log.emit(events.artifact(**fields)))
        placement, workers = setup.config.data_placement, setup.config.data_workers
        self.train_batches = place(setup.data.train, device, placement, workers)
        self.val_batches = place(setup.data.val, device, placement, workers)
        if self.train_batches.placement == "stream":
            setup.warnings.append(f"the training data is streamed to {device.type} by {self.train_batches.workers} "
                                  "DataLoader worker process(es)" + (
                                      ": it would take more than half the free memory there"
                                      if setup.config.data_placement == "auto" else ""))

    # -- what a subclass defines ---------------------------------------------------------------------
    def _step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """One optimizer step on the batch (x, y), ending with `_record`."""
        raise NotImplementedError

    def _scores(self, train_loss: float, second_sum: float, samples: int, scored: int) -> dict[str, Any]:
        """The epoch event's val_loss, train_accuracy and val_accuracy (and optional losses), given the
        epoch's mean training loss and second running sum over all ranks."""
        raise NotImplementedError

    # -- the run ---------------------------------------------------------------------------------
    def run(self) -> RunResult:
        s = self.s
        self.log.emit(events.started(
            s.config.to_dict(), s.data.describe(), sum(p.numel() for p in s.model.parameters()),
            str(s.device), s.dist.world_size, self.step, s.steps_per_epoch, self.tasks.kind.name))
        for message in s.warnings:
            self.log.emit(events.warning(message))
        if self.inspected and self.step == 0:
            # the last good state until the first checkpoint: what a NaN's replay starts from (nan_origin.py)
            self.start_state = StartState.capture(s.model, s.optimizers, (self.epoch, self.batch, self.step))
        if s.dist.is_main:  # what killed saves and writes left in the run folder (best effort: a save cleans too)
            try:
                remove_stale(self.run_dir)
            except OSError:
                pass
            for folder in (self.run_dir, self.run_dir / ARTIFACTS_DIR):
                atomic.remove_leftovers(folder)
        try:
            result = self._epochs()
        except BaseException:
            self._finish_writes(failing=True)
            raise
        self._finish_writes()  # the run's last checkpoints are on disk before its final status
        return result

    def _epochs(self) -> RunResult:
        s = self.s
        try:
            for epoch in range(self.epoch + 1, s.config.epochs + 1):
                if not self._train_epoch(epoch):
                    self._flush_step(epoch)
                    self._save("last")
                    self._submit_saves()
                    return self._result("stopped", "request", f"stopped at step {self.step} as asked; resume "
                                        f"the run to continue from here")
                if self._end_epoch(epoch):
                    self._flush_step(epoch)
                    return self._result("finished", "early_stopping",
                                        f"{self._monitor} did not improve for {self.bad_epochs} epochs "
                                        f"(best {self.best['value']:.4g} at epoch {self.best['epoch']})")
            self._flush_step(self.epoch)
            return self._result("finished", None, f"finished {self.epoch} epochs")
        except Diverged as exc:
            kept = "the last good checkpoint is kept in " + str(self.run_dir) if self.epoch else "no checkpoint yet"
            what = exc.what
            if (origin := self._locate(exc)) is not None:
                ArtifactWriter(self.run_dir, lambda **fields: self.log.emit(events.artifact(**fields)), self.epoch,
                               origin.step).data(NAN_ORIGIN, origin.to_dict())
                what = f"{origin.message}; then {exc.what}" if exc.reason == "nan" else f"{exc.what}; {origin.message}"
            return self._result("failed", exc.reason, f"{what} — training diverged; lower the learning rate "
                                f"(now {self.lr:g}) or set grad_clip; {kept}")

    def _locate(self, failure: Diverged) -> Origin | None:
        """Where the first non-finite value came from: the last good state restored, the steps up to the failing
        one replayed with checks on (engine/inspect/nan_origin.py). None when the replay stays finite, or for
        what it cannot replay (a GAN's two networks, several processes); a replay that fails only warns."""
        s = self.s
        if not self.inspected:
            return None
        counters = self.epoch, self.batch, self.step
        try:
            self._submit_saves()
            self._report(self.writer.wait())
            if self.start_state is not None:
                self.epoch, self.batch, self.step = self.start_state.restore(s.model, s.optimizers)
            else:
                self.resume()
            return replay(self, failure.step)
        except Exception as exc:  # the run's own failure is what the user must see
            self.log.emit(events.warning(f"could not replay the failing steps to find where the NaN came from: {exc}"))
            return None
        finally:
            self.epoch, self.batch, self.step = counters

    def _train_epoch(self, epoch: int) -> bool:
        """Train one epoch (or its remainder after a resume); False when a stop was requested."""
        s = self.s
        s.train_mode()
        self.epoch_started = time.perf_counter()
        self.clock.start()  # only the steps count as training time: not validation, checkpoints or pauses
        try:
            stopped = self._steps(epoch)
            if s.device.type == "cuda":  # steps still queued on the GPU are training time too (and the
                torch.cuda.synchronize(s.device)  # epoch's end would wait for them next anyway)
        finally:
            self.clock.stop()
        return not stopped

    def epoch_batches(self, epoch: int):
        """The (x, y) batches of `epoch` still to train: from a resumed epoch's next batch, less a last batch of
        one sample BatchNorm refuses (pace)."""
        s, bs = self.s, self.s.config.batch_size
        order = epoch_order(len(s.data.train), s.config.seed, epoch, s.dist.rank, s.dist.world_size)
        return self.train_batches.batches(order[self.batch * bs:s.steps_per_epoch * bs], bs)

    def _steps(self, epoch: int) -> bool:
        """A step per batch of the epoch; True when a stop was requested."""
        for x, y in self.epoch_batches(epoch):
            # a step whose event is due measures activation statistics (at most MEASURES_PER_S a second)
            measure = self.activations is not None and self.throttle.ready() and self.measures.due()
            with self.activations.measuring(self.s) if measure else nullcontext():
                self._step(x, y)
            self.batch += 1
            stop, due = self._agree(self._poll_stop(), self.throttle.due())
            if due:
                self._emit_step(epoch)
            if stop:
                return True
        return False

    def _poll_stop(self) -> bool:
        """Whether a stop was asked for. The poll blocks while the run is paused: not training time."""
        self.clock.stop()
        stop = bool(self.stop_requested())
        self.clock.start()
        return stop

    def _paused(self, paused: bool) -> None:
        """The stop signal holds the run paused (True) or lets it go on (False): recorded in the event log,
        so the run list reads a paused run as paused (engine/runs.py)."""
        self.log.emit(events.status("paused", message=f"paused at step {self.step}") if paused else
                      events.status("resumed", message=f"resumed at step {self.step}"))

    def _apply_schedule(self) -> None:
        """Set this step's learning rate on every optimizer (only when it changed: a constant one is set once)."""
        lr = self.s.schedule.lr(self.step)
        if lr != self.applied_lr:
            for optimizer in self.s.optimizers:
                self.s.schedule.apply(optimizer, self.step)
            self.lr = self.applied_lr = lr

    def _second_sum(self, terms: list) -> torch.Tensor:
        """The second running sum's total over the pending steps, from the `second` terms `_record` was given."""
        return torch.stack(terms).sum()

    def _record(self, losses: torch.Tensor, second, n: int, scored: int = 0, held: int = 0) -> None:
        """Count the step just taken: its detached losses (K,) (the first is the loss), its term of the second
        running sum (what `_second_sum` takes; `held` bytes of tensors), n training samples and `scored` targets.
        No host sync, and no tensor operation unless the pending steps are due to be folded."""
        self.pending.append(losses)
        self.pending_second.append(second)
        self.pending_bytes += held
        if n != self.s.config.batch_size:
            self.odd.append(losses[0] * (n - self.s.config.batch_size))
        self.step += 1
        self.samples += n
        self.seen += n
        self.scored += scored
        self.last_losses = losses
        if len(self.pending) == FOLD or self.pending_bytes >= FOLD_BYTES:
            self._fold()

    def _fold(self) -> None:
        """Add the pending steps to the running sums and the first non-finite step to `first_bad` (on the device)."""
        k = len(self.pending)
        if not k:
            return
        losses = torch.stack(self.pending)  # (k, K)
        first = torch.where(losses.isfinite().all(1), NEVER, self.fold_steps[:k]).min()  # NEVER when all are finite
        self.first_bad = torch.minimum(self.first_bad, first + (self.step - k))
        loss_sum = losses[:, 0].sum() * self.s.config.batch_size
        if self.odd:
            loss_sum = loss_sum + torch.stack(self.odd).sum()
        self.sums += torch.stack([loss_sum, self._second_sum(self.pending_second).float()])
        self.pending.clear()
        self.pending_second.clear()
        self.pending_bytes = 0
        self.odd.clear()

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
        the next step), so per-layer norms are measured only here, at log points, not on every step.
        Checkpoints committed since are reported first."""
        self._report(self.writer.poll())
        self._fold()
        layer_norms, norm = self.clip_norms or self.s.grad_norms()
        count, nodes = len(self.last_losses), len(layer_norms)
        measured = self.activations.take() if self.activations is not None else None
        first_bad, norm, *values = torch.cat([self.first_bad.float().view(1), norm.view(1), self.last_losses,
                                              layer_norms, *([] if measured is None else [measured])]).tolist()  # sync
        self._check_finite(first_bad)
        losses, layers = values[:count], values[count:count + nodes]
        activations = self.activations.as_dict(values[count + nodes:]) if measured is not None else None
        if self.first_loss is None:
            self.first_loss = losses[0]
        now, world = self.clock.read(), self.s.dist.world_size
        rate = (self.seen - self.emitted_seen) * world / max(now - self.emitted_at, 1e-9)
        self.emitted_step, self.emitted_at, self.emitted_seen = self.step, now, self.seen
        self.log.emit(events.step(self.step, epoch, losses[0], self.lr, norm,
                                  dict(zip(self.s.grad_norms.node_ids, layers, strict=True)), rate,
                                  dict(zip(self.LOSS_NAMES, losses, strict=True)) if self.LOSS_NAMES else None,
                                  mean_samples_per_s=self.seen * world / max(now, 1e-9), activations=activations))
        for node, message in self.findings.check(activations or {}, self.step):  # a dead or saturated layer
            self.log.emit(events.warning(message, node, self.step))

    def _flush_step(self, epoch: int) -> None:
        """Emit the run's last step unless the throttle already did."""
        if self.last_losses is not None and self.emitted_step != self.step:  # a step was taken since (re)start
            self._emit_step(epoch)

    def _check_finite(self, first_bad: float) -> None:
        if self.s.dist.any(first_bad < NEVER):
            raise Diverged(int(first_bad) if first_bad < NEVER else self.step)

    def _end_epoch(self, epoch: int) -> bool:
        """Validate, report, checkpoint; True when early stopping ends the run."""
        s = self.s
        self._fold()
        self._check_finite(self.first_bad.item())  # host sync
        sums = torch.cat([self.sums, self.sums.new_tensor([self.samples, self.scored])])
        loss_sum, second, samples, scored = s.dist.sum(sums).tolist()  # host sync
        train_loss = loss_sum / samples
        self.metrics = {"epoch": epoch, "train_loss": train_loss, **self._scores(train_loss, second, samples, scored),
                        "lr": self.lr}
        self.log.emit(events.epoch(**self.metrics, seconds=time.perf_counter() - self.epoch_started,
                                   metrics=self.tasks.metrics()))
        self._check_growth(epoch, train_loss)  # before the checkpoint: `last` keeps the weights before the blow-up
        self.epoch, self.batch, self.samples, self.scored = epoch, 0, 0, 0
        self.sums.zero_()
        value = self.metrics[self._monitor] if self.KEEPS_BEST else None
        improved = value is not None and (self.best is None or (
            value < self.best["value"] if self._monitor == "val_loss" else value > self.best["value"]))
        if improved:
            self.best, self.bad_epochs = {"monitor": self._monitor, "value": value, "epoch": epoch}, 0
            if self.metrics.get("val_accuracy") is not None:  # the figure Results shows for this checkpoint
                self.best["val_accuracy"] = self.metrics["val_accuracy"]
        else:
            self.bad_epochs += 1
        self._save("last")
        if improved:  # best only when the metric improved
            self._save("best")
        patience = s.config.early_stopping.patience
        stopping = bool(patience) and self.bad_epochs >= patience
        if self.inspected:  # the inspected graph: its weights and gradients this epoch
            ArtifactWriter(self.run_dir, lambda **fields: self.log.emit(events.artifact(**fields)), epoch,
                           self.step).data(HISTOGRAMS, histograms(s.model))
        self.tasks.artifacts(epoch, self.step, final=stopping or epoch == s.config.epochs)
        self._submit_saves()  # after the artifacts: their file's fsync does not queue behind the checkpoints'
        return stopping

    def _check_growth(self, epoch: int, train_loss: float) -> None:
        """Raise Diverged when the epoch's mean training loss rose far above the first logged loss (every rank
        agrees: each compares the same all-reduced mean with its own first loss)."""
        first = self.first_loss
        grown = first is not None and train_loss > max(DIVERGENCE_FACTOR * first, DIVERGENCE_FLOOR)
        if self.s.dist.any(grown):
            raise Diverged(self.step, "diverged", f"the mean training loss of epoch {epoch} is {train_loss:.3g}, "
                                                  f"over {DIVERGENCE_FACTOR}× the first logged loss {first:.3g}")

    @property
    def _monitor(self) -> str:
        return self.s.config.early_stopping.monitor

    # -- checkpoints ---------------------------------------------------------------------------------
    def _save(self, tag: str) -> None:
        """Checkpoint `tag` of the state now: the snapshot is taken here (a second tag at the same step —
        best after last — shares it), the files are written by the writer's thread once `_submit_saves`
        hands it over, while training goes on."""
        if self.taken_at == self.step:  # (on every rank: so all take part in the same collectives)
            if self.unsaved is not None:
                self.unsaved[2].append(tag)
            return
        self._submit_saves()
        s = self.s
        # every rank takes part in a distributed run's; a single process's is its own state dicts
        model_state, optimizer_state = (full_state if s.dist.active else local_state)(s.model, s.optimizers)
        if s.dist.any(s.dist.is_main and not all_finite(model_state)):
            raise Diverged(self.step)
        self.taken_at = self.step
        if not s.dist.is_main:
            return
        partial = None
        self._fold()
        if self.batch:
            partial = {**dict(zip(self.SUMS, self.sums.tolist(), strict=True)), "scored": self.scored,
                       "samples": self.samples}
        meta = {"epoch": self.epoch, "batch": self.batch, "step": self.step, "partial": partial, "best": self.best,
                "bad_epochs": self.bad_epochs, "scaler": s.scaler.state_dict(), "config": s.config.to_dict()}
        self.unsaved = (snapshot(model_state, optimizer_state, meta, live=self._live_storages()), self.step, [tag])

    def _submit_saves(self) -> None:
        """Hand the snapshot taken by `_save` to the writer (which first finishes the save before it)."""
        self.taken_at = None
        if self.unsaved is not None:
            snap, step, tags = self.unsaved
            self.unsaved = None
            self._report(self.writer.submit(tags, snap, self.epoch, step))

    def _live_storages(self) -> set[int]:
        """The storages training changes in place (parameters, buffers, optimizer state): a snapshot copies
        the state dict's tensors that share one."""
        s = self.s
        tensors = [*s.model.parameters(), *s.model.buffers()]
        tensors += [value for optimizer in s.optimizers for slots in optimizer.state.values()
                    for value in slots.values() if isinstance(value, torch.Tensor)]
        return {storage_address(getattr(t, "_local_tensor", t)) for t in tensors} - {None}  # a DTensor's: its shard's

    def _report(self, saved: list[Saved]) -> None:
        if saved:
            self.start_state = None  # a checkpoint is the last good state now
        for tag, path, epoch, step in saved:
            self.log.emit(events.checkpoint(tag, str(path), epoch, step))

    def _finish_writes(self, failing: bool = False) -> None:
        """Write the checkpoint not yet handed over, wait for the writer, report, and end its thread. When the
        run is `failing` already, its own error stands and the writer's, if any, is reported as a warning."""
        try:
            try:
                self._submit_saves()
            finally:
                self._report(self.writer.close())
        except Exception as exc:
            if not failing:
                raise
            self.log.emit(events.warning(f"the last checkpoint could not be written either: {exc}"))

    def resume(self) -> None:
        """Continue exactly where the `last` checkpoint left off (`best` when `last` is unusable): weights,
        optimizers, RNG, counters. A changed optimizer starts fresh from the checkpoint's weights."""
        s = self.s
        model_state, optimizer_state, meta = load_latest(self.run_dir)
        if "fallback" in meta:
            self.log.emit(events.warning(meta["fallback"]))
        weights = weights_file(self.run_dir, meta["tag"])
        try:
            load_model_state(s.model, model_state)
        except (RuntimeError, KeyError, ValueError) as exc:
            raise CheckpointError(f"{weights} does not fit this graph ({exc}) — the graph changed since it was "
                                  "saved; train into a new run folder") from None
        saved, current = meta["config"]["optimizer"]["name"], s.config.optimizer.name
        if saved != current:
            self.log.emit(events.warning(
                f"the optimizer changed from {saved} to {current} since the checkpoint: its state cannot be reused, "
                f"so {current} starts fresh from the weights of step {meta['step']}"))
        else:
            try:
                load_optimizer_state(s.model, s.optimizers, optimizer_state)
            except (RuntimeError, KeyError, ValueError) as exc:
                raise CheckpointError(f"{weights}: the {current} optimizer state does not fit ({exc}) — resume with "
                                      "the settings it was saved with, or start a new run from these weights") from None
        restore_rng(meta)
        if meta["scaler"]:
            s.scaler.load_state_dict(meta["scaler"])
        self.epoch, self.batch, self.step = meta["epoch"], meta["batch"], meta["step"]
        self.best, self.bad_epochs = meta["best"], meta["bad_epochs"]
        if partial := meta["partial"]:
            self.sums = torch.tensor([partial[name] for name in self.SUMS], device=s.device)
            self.samples, self.scored = partial["samples"], partial["scored"]
        self.emitted_step = self.step

    def _result(self, state: str, reason: str | None, message: str) -> RunResult:
        return RunResult(state, reason, message, self.run_dir, self.epoch, self.step, self.metrics, self.best)


def local_state(model: torch.nn.Module, optimizers: tuple[torch.optim.Optimizer, ...]) -> tuple[dict, dict]:
    """What `distributed.full_state` gives for a model trained by one process, without its machinery
    (0.3 ms of a 17 ms digits MLP epoch, against 0.02 ms): the model's
    state_dict and one optimizer state dict keyed by parameter name (`fc1.weight`), as loaded by
    `distributed.load_optimizer_state`. A compiled model, or one sharing a parameter under two names,
    takes `full_state`, which knows their names; so does an optimizer that has taken no step yet
    (`full_state` gives it its initial state first)."""
    named = list(model.named_parameters(remove_duplicate=False))
    if (hasattr(model, "_orig_mod") or len({id(p) for _, p in named}) != len(named)
            or any(not optimizer.state and all(p.grad is None for g in optimizer.param_groups for p in g["params"])
                   for optimizer in optimizers)):
        return full_state(model, optimizers)
    names = {id(p): name for name, p in named}
    state: dict[str, dict] = {}
    groups = []
    for optimizer in optimizers:
        for group in optimizer.param_groups:
            for param in group["params"]:
                if slots := optimizer.state.get(param):
                    state[names[id(param)]] = dict(slots)
            groups.append({**{k: v for k, v in group.items() if k != "params"},
                           "params": [names[id(p)] for p in group["params"]]})
    return model.state_dict(), {"state": state, "param_groups": groups}
