"""The training loop: `train(doc, run_dir)` and the supervised trainer.

`train` knows nothing about Qt or terminals; it writes `events.jsonl`, checkpoints and `summary.json`
into `run_dir` and hands every event to `on_event` (see events.py for the contract). It picks the
trainer by `training.mode`: `SupervisedTrainer` here minimises the graph's loss nodes (with a
Target for supervised tasks, or without one — an autoencoder compares its output with its Input);
gan.py's `GanTrainer` trains a generator against a discriminator. Both share trainer.py's machinery.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from .. import runs
from ..config import TrainingConfig
from ..data.batches import epoch_order
from ..data.download import DownloadStopped
from ..document import GraphDocument
from ..fileformat import atomic_write_text, to_dict
from ..tasks.artifacts import ArtifactWriter
from . import events
from .class_weights import weigh_classes
from .distributed import Distributed, env_rank
from .gan import GanTrainer, prepare_gan
from .oom import gpu_advice
from .setup import Setup, prepare, resolve_device
from .trainer import RunResult, StopSignal, Trainer

__all__ = ["RunResult", "SupervisedTrainer", "train"]


def train(doc: GraphDocument, run_dir: str | Path, *, epochs: int | None = None, device: str | None = None,
          resume: bool = False, on_event: Callable[[dict], None] | None = None, stop: StopSignal = None,
          base_dir: str | Path | None = None, strategy: str | None = None,
          graph_path: str | Path | None = None, baseline: bool = False, profile: bool = False) -> RunResult:
    """Train `doc` with its training section (epochs/device overridden when given).

    Returns a RunResult for finished, stopped and diverged/out-of-memory runs. User errors (bad
    settings, invalid graph, unusable data, unusable checkpoint) are reported as a failed status
    event and then raised as the project's LayerloomError subclasses. A fresh run records the graph,
    the resolved settings and the data description in `run_dir` (see engine/runs.py); a resumed one
    keeps the graph it started with. `graph_path` is the graph's file, when it has one. With `baseline`, a
    classification or regression run that did not fail also fits scikit-learn baselines on its split
    (engine/baseline.py): a `baseline` artifact, and `baseline` in summary.json. `profile` (or training.profile)
    measures each node's time and memory over a few steps before a fresh run's first: `run_dir/profile.json`.
    """
    run_dir = Path(run_dir).resolve()
    main = env_rank() == 0
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
    log = events.EventLog(run_dir / "events.jsonl" if main else None, on_event,
                          tensorboard_dir=run_dir / "tensorboard")  # main rank only, like events.jsonl
    log.emit(events.status("started", message=f"training {doc.name}"))
    dist = Distributed()
    result = RunResult("failed", "error", "", run_dir)
    figures: dict[str, Any] = {}  # added to summary.json: the baseline's
    try:
        overrides = {k: v for k, v in (("epochs", epochs), ("device", device)) if v is not None}
        overrides |= {"profile": True} if profile else {}
        config = TrainingConfig.from_dict({**doc.training, **overrides})
        if resume:  # the checkpoint holds the run's own weights; the file it started from may be gone
            config = replace(config, init_weights="")
        device_kind = resolve_device(config.device)
        dist = Distributed.from_env(strategy, device_kind)
        if config.mode == "gan":
            trainer: Trainer = GanTrainer(prepare_gan(doc, config, dist, device_kind, base_dir), run_dir, log, stop)
        else:
            setup = prepare(doc, config, dist, device_kind, base_dir)
            setup.warnings += weigh_classes(setup)  # class_balance "weights" reaches the CrossEntropyLoss
            trainer = SupervisedTrainer(setup, run_dir, log, stop)
        if main:
            _record_run(run_dir, doc, trainer.s, resume, graph_path)
        if resume:
            trainer.resume()
        elif config.profile:
            _profile(trainer, doc, run_dir, log)
        result = trainer.run()
        if baseline and main and result.state != "failed":
            figures = _baseline(trainer, run_dir, log)
    except DownloadStopped as exc:  # Stop pressed while the dataset downloaded: the run stops, nothing kept
        result.state, result.reason, result.message = "stopped", "request", str(exc)
    except Exception as exc:
        where = out_of_memory(exc)
        if where is None:
            result.message = str(exc)
            log.emit(events.status("failed", "error", result.message))
            raise
        if where == "GPU":
            torch.cuda.empty_cache()
        result.reason, result.message = "oom", gpu_advice(doc) if where == "GPU" else OUT_OF_MEMORY_ADVICE[where]
    finally:
        if result.reason != "error":
            log.emit(events.status(result.state, result.reason, result.message))
        if main:
            atomic_write_text(run_dir / "summary.json",
                              json.dumps({**result.to_dict(), **figures}, indent=2, allow_nan=False) + "\n")
            runs.write_metrics_csv(run_dir)
        log.close()
        dist.close()
    return result


# What torch's CPU allocator says when the machine has no memory left (Linux/macOS, Windows).
CPU_ALLOCATOR_FAILURES = ("DefaultCPUAllocator: can't allocate memory", "DefaultCPUAllocator: not enough memory")
OUT_OF_MEMORY_ADVICE = {
    "GPU": "out of GPU memory — lower training.batch_size, use precision bf16, or make the model smaller",
    "CPU": "out of memory (RAM) — lower training.batch_size or make the model smaller; `layerloom validate "
           "--batch-size N` estimates what training needs",
}


def out_of_memory(exc: BaseException) -> str | None:
    """"GPU" or "CPU" when `exc` says that device ran out of memory, else None."""
    if isinstance(exc, torch.OutOfMemoryError):
        return "GPU"
    if isinstance(exc, MemoryError) or (
            isinstance(exc, RuntimeError) and any(text in str(exc) for text in CPU_ALLOCATOR_FAILURES)):
        return "CPU"
    return None


def _baseline(trainer: Trainer, run_dir: Path, log: events.EventLog) -> dict[str, Any]:
    """{"baseline": scores} of a classification or regression run's scikit-learn baselines, also written as
    the `baseline` artifact; {} for another kind of run."""
    from ..baseline import baseline_scores

    if trainer.tasks.kind.name not in ("classification", "regression"):
        return {}
    try:
        scores = baseline_scores(trainer.s.data)
    except Exception as exc:  # the run trained: a baseline scikit-learn refuses must not fail it
        log.emit(events.warning(f"no baseline: {type(exc).__name__}: {exc}"))
        scores = {"task": trainer.s.data.task, "skipped": f"scikit-learn failed: {exc}"}
    ArtifactWriter(run_dir, lambda **fields: log.emit(events.artifact(**fields)), trainer.epoch,
                   trainer.step).data("baseline", scores)
    return {"baseline": scores}


def _profile(trainer: Trainer, doc: GraphDocument, run_dir: Path, log: events.EventLog) -> None:
    """training.profile: each node's time and memory measured before the first step (engine/inspect/profile.py),
    written to `run_dir/profile.json` and announced as a `profile` artifact; said in the log where it cannot be."""
    from ..inspect import PROFILE_FILE, PROFILE_TAG
    from ..inspect.profile import profile_run_start

    if not trainer.inspected:
        log.emit(events.warning("training.profile: not measured — " + (
            "a GAN's two networks are not profiled" if trainer.s.config.mode == "gan"
            else "profiling runs in a single process, not under torchrun")))
        return
    record = profile_run_start(trainer.s, doc, run_dir)
    log.emit(events.artifact("data", PROFILE_TAG, 0, 0, PROFILE_FILE, data=record))


def _record_run(run_dir: Path, doc: GraphDocument, setup, resume: bool, graph_path) -> None:
    config = setup.config.to_dict()
    if resume and (run_dir / "graph.json").is_file():
        runs.update_config(run_dir, config)
    else:
        runs.write_run_files(run_dir, to_dict(doc), config, setup.data.record(config["dataset"]), graph_path)


class SupervisedTrainer(Trainer):
    """Minimises the sum of the graph's loss nodes; scores accuracy when the graph is a classifier."""

    s: Setup

    def _step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        s = self.s
        (optimizer,) = s.optimizers
        self._apply_schedule()
        if s.data.augment.active:
            x = s.data.augment(x)
        with s.autocast():
            out = s.forward(*s.arguments(x, y))
        loss = out["loss"]
        optimizer.zero_grad(set_to_none=True)
        scaler = s.scaler if s.scaler.is_enabled() else None  # the disabled scaler's calls are pure overhead
        (scaler.scale(loss) if scaler else loss).backward()
        if scaler:
            scaler.unscale_(optimizer)
        self.clip_norms = None
        if s.config.grad_clip:  # clipping needs the global norm every step; the per-layer ones come with it
            self.clip_norms = s.grad_norms()
            s.dist.clip_grads(s.model, s.config.grad_clip, self.clip_norms[1])
        if scaler:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        if s.classification:  # the predictions are scored when the pending steps are folded, many at once
            prediction = out[s.prediction].detach()
            self._record(loss.detach().view(1), (prediction, y), len(x), y.numel(),
                         prediction.numel() * prediction.element_size())
        else:
            self._record(loss.detach().view(1), None, len(x))

    def _second_sum(self, terms: list) -> torch.Tensor:
        """Correct predictions of the pending steps (0 unless a classifier)."""
        if not self.s.classification:
            return self.zero
        if len(terms) == 1:
            return self._correct(*terms[0])
        predictions, targets = zip(*terms, strict=True)
        return self._correct(torch.cat(predictions), torch.cat(targets))

    def _correct(self, prediction: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """How many class indices in y the argmax of (N, C) or (N, T, C) predictions hits."""
        return (prediction.argmax(-1) == y).sum()

    def _scores(self, train_loss: float, correct: float, samples: int, scored: int) -> dict[str, Any]:
        val_loss, val_acc = self._validate()
        return {"val_loss": events.finite(val_loss), "train_accuracy": correct / scored if scored else None,
                "val_accuracy": val_acc}

    @torch.no_grad()
    def _validate(self) -> tuple[float | None, float | None]:
        """Mean validation loss and accuracy (under DDP/FSDP each rank scores its shard, then summed)."""
        s = self.s
        s.model.eval()
        order = epoch_order(len(s.data.val), 0, 0, s.dist.rank, s.dist.world_size, shuffle=False)
        terms = []  # (Σ loss·n, Σ correct) per batch, summed once at the end
        n = scored = 0
        # the task kind's confusion matrix counts these predictions (engine/tasks); one process sees the whole split
        keep = s.classification and self.tasks.wants_classes and s.dist.world_size == 1
        kept: list[tuple[torch.Tensor, torch.Tensor]] = []
        for x, y in self.val_batches.batches(order, s.config.batch_size):
            with s.autocast():
                out = s.model(*s.arguments(x, y))  # eager: a compiled forward would compile again for eval
            correct = self._correct(out[s.prediction], y).float() if s.classification else self.zero
            terms.append(torch.stack([out["loss"].float() * len(y), correct]))
            n, scored = n + len(y), scored + (y.numel() if s.classification else 0)
            if keep:
                kept.append((y, out[s.prediction].argmax(-1)))
        sums = torch.stack(terms).sum(0) if terms else torch.zeros(2, device=s.device)
        loss_sum, correct, n, scored = s.dist.sum(torch.cat([sums, sums.new_tensor([n, scored])])).tolist()  # sync
        if kept:
            targets, predicted = zip(*kept, strict=True)
            self.tasks.classified(torch.cat(targets), torch.cat(predicted), order)
        s.train_mode()
        return (loss_sum / n if n else None), (correct / scored if scored else None)
