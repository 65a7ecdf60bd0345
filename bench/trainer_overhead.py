"""The trainer's own cost: a `layerloom train` epoch vs a minimal hand-written loop, same model and data.

    python bench/trainer_overhead.py [--graph resources/examples/digits_mlp.json] [--rounds 25]
                                     [--epochs-per-round 4] [--threads 1] [--natural-best]

Both variants train the very same compiled module with the very same optimizer over the same
training tensors and batch size; they differ only in the loop around the step. The engine variant
is the trainer `layerloom train` runs (engine.train.setup.prepare + SupervisedTrainer, writing its
throttled step events to a real events.jsonl and TensorBoard folder); the minimal one is what a
person writes by hand: a randperm per epoch, `x[idx]`, forward, zero_grad, backward, step, then a
validation pass that sums loss and correct predictions on the device and reads them once, as the
trainer's does. The minimal loop saves nothing.

Three figures, each engine / minimal:

  steps alone   the training steps of an epoch, in CPU time of this thread (time.thread_time, which
                time slices lost to other processes do not inflate) with `--threads 1` (the default),
                else in wall time.
  whole epoch   wall time of everything `layerloom train` does per epoch: the steps, then its epoch end
                (validation, the epoch event, the checkpoints — fsynced `last`, and `best` when the
                monitored metric improved — and the task kind's artifacts), vs the minimal loop's steps
                and validation. A round ends by waiting for the checkpoint writer, so every checkpoint
                a round started is written within its time. By default the trainer's best is forgotten
                before every epoch end, so every epoch saves both `last` and `best` (the worst case, the
                first epochs of a run); `--natural-best` saves `best` only when the metric improved.
  whole epoch, CPU   the same in CPU time of the whole process (time.process_time: every thread, the
                checkpoint writer's included; waits for the disk are not CPU time). On a shared machine
                wall time swings with what else runs and with the disk's queue; this does not.

Rounds interleave the variants (their order alternating) so a busy machine slows both alike; each
round's ratio is engine / minimal, and the median and the min–max of the ratios are printed.
Checkpoints go to a temporary folder (the system's, usually on the same disk as the runs).

Target: steps alone ≤ 1.05, whole epoch ≤ 1.10.

Last, the cost of the SHA-256 every checkpoint and weights file carries over its tensor data
(engine/train/checkpoint_files.py): computed when a checkpoint is written (on the writer's thread),
checked when one is loaded — for the model's checkpoint and for a 10 MB state.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from engine.config import TrainingConfig  # noqa: E402
from engine.export.weights import save_weights  # noqa: E402
from engine.fileformat import load_document  # noqa: E402
from engine.train import events  # noqa: E402
from engine.train.checkpoint import digest, snapshot  # noqa: E402
from engine.train.checkpoint_files import read_verified  # noqa: E402
from engine.train.distributed import Distributed  # noqa: E402
from engine.train.loop import SupervisedTrainer  # noqa: E402
from engine.train.setup import prepare  # noqa: E402
from engine.train.trainer import local_state  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "resources" / "examples" / "digits_mlp.json"


class Minimal:
    """The hand-written loop over the trainer's own model, optimizer and tensors."""

    def __init__(self, setup):
        self.model, (self.optimizer,) = setup.model, setup.optimizers
        self.x, self.y = setup.data.train.tensors
        self.val_x, self.val_y = setup.data.val.tensors
        self.batch_size = setup.config.batch_size
        self.prediction = setup.prediction
        self.generator = torch.Generator().manual_seed(0)

    def train_epoch(self) -> None:
        model, optimizer, bs = self.model, self.optimizer, self.batch_size
        model.train()
        order = torch.randperm(len(self.x), generator=self.generator)
        for start in range(0, len(order), bs):
            idx = order[start:start + bs]
            loss = model(self.x[idx], self.y[idx])["loss"]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    @torch.no_grad()
    def end_epoch(self) -> tuple[float, float]:
        model, bs = self.model, self.batch_size
        model.eval()
        sums = torch.zeros(2)
        for start in range(0, len(self.val_x), bs):
            x, y = self.val_x[start:start + bs], self.val_y[start:start + bs]
            out = model(x, y)
            sums += torch.stack([out["loss"] * len(y), (out[self.prediction].argmax(-1) == y).sum()])
        loss, correct = sums.tolist()
        model.train()
        return loss / len(self.val_x), correct / len(self.val_x)

    def finish(self) -> None:
        pass


class Engine:
    """`layerloom train`'s trainer, driven one epoch (and one epoch end) at a time."""

    def __init__(self, doc, run_dir: Path, natural_best: bool):
        config = TrainingConfig.from_dict({**doc.training, "device": "cpu", "epochs": 10**6})
        self.setup = prepare(doc, config, Distributed(), "cpu", None)
        log = events.EventLog(run_dir / "events.jsonl", tensorboard_dir=run_dir / "tensorboard")
        self.trainer = SupervisedTrainer(self.setup, run_dir, log, stop=lambda: False)
        self.natural_best = natural_best
        self.epoch = 0
        self.best_saves = 0

    def train_epoch(self) -> None:
        self.epoch += 1
        self.trainer._train_epoch(self.epoch)

    def end_epoch(self) -> None:
        if not self.natural_best:
            self.trainer.best = None  # so the metric "improves": this epoch saves best too
        best = self.trainer.best
        self.trainer._end_epoch(self.epoch)  # validation, epoch event, checkpoints, artifacts
        self.best_saves += self.trainer.best is not best

    def finish(self) -> None:
        """Wait for the checkpoints still being written (what the run's end does)."""
        finish = getattr(self.trainer, "_finish_writes", None)
        if finish is not None:
            finish()


def timed(clock_fn, fn) -> float:
    start = clock_fn()
    fn()
    return clock_fn() - start


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.3f}× (min {min(values):.3f}, max {max(values):.3f})"


def digest_costs(setup, folder: Path, repeats: int = 21) -> list[str]:
    """The SHA-256 of the model's checkpoint files and of a 10 MiB state: computing it (what a save adds) and
    checking it (what a load adds: the file is read whole either way, so the read is shown beside it)."""
    model_state, optimizer_state = local_state(setup.model, setup.optimizers)
    snap = snapshot(model_state, optimizer_state, {"step": 0})
    states = {"the model's weights": snap.model, "its training state": snap.train,
              "a 10 MiB state": {"weight": torch.randn(1280, 2048)}}
    lines = []
    for name, tensors in states.items():
        size = sum(t.numel() * t.element_size() for t in tensors.values())
        compute = statistics.median(timed(time.perf_counter, lambda t=tensors: digest(t)) for _ in range(repeats))
        path = folder / "digest.safetensors"
        save_weights(tensors, path)
        check = statistics.median(timed(time.perf_counter, lambda p=path: read_verified(p)) for _ in range(repeats))
        read = statistics.median(timed(time.perf_counter, path.read_bytes) for _ in range(repeats))
        lines.append(f"  sha256 of {name} ({size / 1e6:.3f} MB): {compute * 1e3:.3f} ms "
                     f"({size / compute / 1e9:.2f} GB/s) · load check {check * 1e3:.3f} ms, of which reading the "
                     f"file {read * 1e3:.3f} ms")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--graph", type=Path, default=EXAMPLE)
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--epochs-per-round", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--natural-best", action="store_true", help="save best only when the metric improved")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    doc = load_document(args.graph)
    step_clock = time.thread_time if args.threads == 1 else time.perf_counter
    wall = time.perf_counter
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(doc, Path(tmp), args.natural_best)
        minimal = Minimal(engine.setup)
        variants = {"engine": engine, "minimal": minimal}
        for variant in variants.values():  # warm-up: allocator, caches, the first (always emitted) step event
            for _ in range(2):
                variant.train_epoch()
                variant.end_epoch()
            variant.finish()
        engine.best_saves = 0
        names = ("steps", "end", "finish", "whole", "cpu")
        times: dict[str, dict[str, list[float]]] = {name: {k: [] for k in names} for name in variants}
        for r in range(args.rounds):
            order = list(variants) if r % 2 == 0 else list(reversed(variants))
            for t in times.values():
                for k in names:
                    t[k].append(0.0)
            for _ in range(args.epochs_per_round):  # alternate epoch by epoch: drifts in load hit both alike
                for name in order:
                    variant, t = variants[name], times[name]
                    started, cpu = wall(), time.process_time()
                    t["steps"][-1] += timed(step_clock, variant.train_epoch)
                    t["end"][-1] += timed(wall, variant.end_epoch)
                    t["whole"][-1] += wall() - started
                    t["cpu"][-1] += time.process_time() - cpu
            for name in order:
                t = times[name]
                cpu = time.process_time()
                waited = timed(wall, variants[name].finish)
                t["finish"][-1] += waited
                t["whole"][-1] += waited
                t["cpu"][-1] += time.process_time() - cpu
        engine.trainer.log.close()
        digests = digest_costs(engine.setup, Path(tmp))
    n = args.epochs_per_round
    train_n, val_n = len(minimal.x), len(minimal.val_x)
    e, m = times["engine"], times["minimal"]
    steps = -(-train_n // minimal.batch_size)
    print(f"{doc.name}: {train_n} train / {val_n} val samples, batch {minimal.batch_size} ({steps} steps/epoch), "
          f"{args.threads} thread(s), {args.rounds} rounds × {n} epochs; steps in "
          f"{'CPU time of the thread' if args.threads == 1 else 'wall time'}, whole epochs in wall time; "
          f"best saved at {engine.best_saves} of {args.rounds * n} epoch ends")
    for name, t in times.items():
        ms = {k: statistics.median(v) * 1e3 / n for k, v in t.items()}
        print(f"  {name:8s} steps {ms['steps']:6.2f} ms ({ms['steps'] * 1e3 / steps:6.1f} µs/step) · epoch end "
              f"{ms['end']:6.2f} ms · waiting for the writer {ms['finish']:5.2f} ms · whole epoch "
              f"{ms['whole']:6.2f} ms, CPU {ms['cpu']:6.2f} ms (medians per epoch)")
    print(f"  engine / minimal, steps alone: {spread([a / b for a, b in zip(e['steps'], m['steps'], strict=True)])}")
    print(f"  engine / minimal, whole epoch: {spread([a / b for a, b in zip(e['whole'], m['whole'], strict=True)])}")
    print(f"  engine / minimal, whole epoch, CPU of the process: "
          f"{spread([a / b for a, b in zip(e['cpu'], m['cpu'], strict=True)])}")
    print("\n".join(digests))
    return 0


if __name__ == "__main__":
    sys.exit(main())
