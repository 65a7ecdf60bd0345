"""The trainer's own cost: a `layerloom train` epoch vs a minimal hand-written loop, same model and data.

    python bench/trainer_overhead.py [--graph resources/examples/digits_mlp.json] [--rounds 25]
                                     [--epochs-per-round 4] [--threads 1]

Both variants train the very same compiled module with the very same optimizer over the same
training tensors and batch size; they differ only in the loop around the step. The engine variant
is the trainer `layerloom train` runs (engine.train.setup.prepare + SupervisedTrainer, writing its
throttled step events to a real events.jsonl and TensorBoard folder); the minimal one is what a
person writes by hand: a randperm per epoch, `x[idx]`, forward, zero_grad, backward, step. Its
validation pass sums loss and correct predictions on the device and reads them once, as the
trainer's does. Checkpoints and the epoch event (once per epoch, the same work by hand or not) are
left out of both.

Rounds interleave the variants (their order alternating) so a busy machine slows both alike; each
round's ratio is engine / minimal, and the median and the min–max of the ratios are printed, train
only and with the validation pass, plus the time per sample of validation and of training. With
`--threads 1` (the default) each variant is timed in CPU time of this thread (time.thread_time),
which time slices lost to other processes do not inflate; otherwise in wall time.

Target: engine / minimal ≤ 1.05, validation per sample no slower than training.
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
from engine.fileformat import load_document  # noqa: E402
from engine.train import events  # noqa: E402
from engine.train.distributed import Distributed  # noqa: E402
from engine.train.loop import SupervisedTrainer  # noqa: E402
from engine.train.setup import prepare  # noqa: E402

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
    def validate(self) -> tuple[float, float]:
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


class Engine:
    """`layerloom train`'s trainer, driven one epoch (and one validation pass) at a time."""

    def __init__(self, doc, run_dir: Path):
        config = TrainingConfig.from_dict({**doc.training, "device": "cpu", "epochs": 10**6})
        self.setup = prepare(doc, config, Distributed(), "cpu", None)
        log = events.EventLog(run_dir / "events.jsonl", tensorboard_dir=run_dir / "tensorboard")
        self.trainer = SupervisedTrainer(self.setup, run_dir, log, stop=lambda: False)
        self.epoch = 0

    def train_epoch(self) -> None:
        self.epoch += 1
        self.trainer.batch = 0  # what _end_epoch does between epochs (its checkpoint is left out)
        self.trainer._train_epoch(self.epoch)

    def validate(self) -> tuple[float | None, float | None]:
        return self.trainer._validate()


def clock(threads: int):
    return time.thread_time if threads == 1 else time.perf_counter


def timed(clock_fn, fn) -> float:
    start = clock_fn()
    fn()
    return clock_fn() - start


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.3f}× (min {min(values):.3f}, max {max(values):.3f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--graph", type=Path, default=EXAMPLE)
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--epochs-per-round", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    doc = load_document(args.graph)
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(doc, Path(tmp))
        minimal = Minimal(engine.setup)
        variants = {"engine": engine, "minimal": minimal}
        tick = clock(args.threads)
        for variant in variants.values():  # warm-up: allocator, caches, the first (always emitted) step event
            variant.train_epoch()
            variant.validate()
        times: dict[str, dict[str, list[float]]] = {name: {"train": [], "val": []} for name in variants}
        for r in range(args.rounds):
            order = list(variants) if r % 2 == 0 else list(reversed(variants))
            for t in times.values():
                t["train"].append(0.0)
                t["val"].append(0.0)
            for _ in range(args.epochs_per_round):  # alternate epoch by epoch: drifts in load hit both alike
                for name in order:
                    times[name]["train"][-1] += timed(tick, variants[name].train_epoch) / args.epochs_per_round
                    times[name]["val"][-1] += timed(tick, variants[name].validate) / args.epochs_per_round
        engine.trainer.log.close()
    train_n, val_n = len(minimal.x), len(minimal.val_x)
    e, m = times["engine"], times["minimal"]
    train_ratio = [a / b for a, b in zip(e["train"], m["train"], strict=True)]
    total_ratio = [(a + av) / (b + bv) for a, av, b, bv in zip(e["train"], e["val"], m["train"], m["val"], strict=True)]
    steps = -(-train_n // minimal.batch_size)
    print(f"{doc.name}: {train_n} train / {val_n} val samples, batch {minimal.batch_size} ({steps} steps/epoch), "
          f"{args.threads} thread(s), {args.rounds} rounds × {args.epochs_per_round} epochs, "
          f"{'CPU time of the thread' if args.threads == 1 else 'wall time'}")
    for name, t in times.items():
        train_ms, val_ms = statistics.median(t["train"]) * 1e3, statistics.median(t["val"]) * 1e3
        print(f"  {name:8s} epoch {train_ms:7.2f} ms ({train_ms * 1e3 / steps:6.1f} µs/step) · validation "
              f"{val_ms:6.2f} ms · per sample: train {train_ms * 1e3 / train_n:5.2f} µs, "
              f"validation {val_ms * 1e3 / val_n:5.2f} µs")
    print(f"  engine / minimal, train only:          {spread(train_ratio)}")
    print(f"  engine / minimal, with the validation: {spread(total_ratio)}")
    val_vs_train = [(v / val_n) / (t / train_n) for t, v in zip(e["train"], e["val"], strict=True)]
    print(f"  engine validation / training per sample: {spread(val_vs_train)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
