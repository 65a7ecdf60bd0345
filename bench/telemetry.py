"""What the network's instruments (engine/inspect) cost, each as a ratio of a plain training step, measured
side by side in the same process on the same compiled module, batch and optimizer.

    python bench/telemetry.py [--graph resources/examples/digits_cnn.json] [--rounds 15] [--steps 40]
                              [--device cpu|cuda] [--threads 1]

Variants, each a training step (forward, backward, optimizer step), interleaved round by round so a busy
machine slows them alike; a round's ratio is variant / plain, and the median with the min–max is printed:

  activations   the step at a log point: the tapped twin runs and every node's output is reduced to its five
                statistics, which are read with the step event's host sync (activations.py)
  nan checks    a replayed step with every check on (nan_origin.py): runs only when a run has failed
  profile       a profiled step, node by node with clocks and hooks (profile.py): runs only when asked for

The activation statistics are the only instrument a healthy run pays for, and only at log points (at most
activations.MEASURES_PER_S a second). So the figure that must stay ≤ 1.02 is the amortised one: the extra
time of one measured step × log points per second, as a share of a second of plain steps.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.config import TrainingConfig  # noqa: E402
from engine.fileformat import load_document  # noqa: E402
from engine.inspect.activations import MEASURES_PER_S, ActivationStats  # noqa: E402
from engine.inspect.nan_origin import Checks  # noqa: E402
from engine.inspect.profile import _Profiler, first_batch  # noqa: E402
from engine.train.distributed import Distributed  # noqa: E402
from engine.train.setup import prepare  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graph", default="resources/examples/digits_cnn.json")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=40, help="steps per variant per round")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    doc = load_document(args.graph)
    doc.training["device"] = args.device
    config = TrainingConfig.from_dict(doc.training)
    setup = prepare(doc, config, Distributed(), args.device, None)
    torch.set_num_threads(args.threads)
    x, y = first_batch(setup)
    batch = setup.arguments(x, y)
    (optimizer,) = setup.optimizers
    module = setup.model
    activations = ActivationStats(module, setup.node_types, {"loss1": "loss"})
    checks = Checks(module, setup.optimizers)
    profiler = _Profiler(setup, module)

    def sync() -> None:
        if setup.device.type == "cuda":
            torch.cuda.synchronize(setup.device)

    def train_step(forward) -> None:
        loss = forward(*batch)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def plain() -> None:
        train_step(module)

    def measured() -> None:
        train_step(activations.tap)
        activations.take().tolist()  # the host sync a step event makes anyway reads them

    def checked() -> None:
        with checks:
            train_step(checks.tap)
            checks.first(0)

    variants = {"plain": plain, "activations": measured, "nan checks": checked, "profile": lambda: profiler.step(batch)}
    setup.train_mode()
    for variant in variants.values():  # warm up
        for _ in range(3):
            variant()
    times: dict[str, list[float]] = {name: [] for name in variants}
    for round_ in range(args.rounds):
        names = list(variants) if round_ % 2 == 0 else list(reversed(variants))
        for name in names:
            sync()
            start = time.perf_counter()
            for _ in range(args.steps):
                variants[name]()
            sync()
            times[name].append((time.perf_counter() - start) / args.steps)
    profiler.close()
    step = statistics.median(times["plain"])
    print(f"{args.graph} on {setup.device}, batch {config.batch_size}: plain step {step * 1e3:.3f} ms "
          f"({args.rounds} rounds × {args.steps} steps)")
    for name in list(variants)[1:]:
        ratios = [t / p for t, p in zip(times[name], times["plain"], strict=True)]
        print(f"  {name:<12} {statistics.median(ratios):6.2f}× a plain step "
              f"(min {min(ratios):.2f}, max {max(ratios):.2f})")
    extra = statistics.median(times["activations"]) - step
    steps_per_s = 1 / step
    logged = min(MEASURES_PER_S, steps_per_s)
    amortised = 1 + max(extra, 0.0) * logged
    print(f"  activations amortised over a run: {amortised:.4f}× ({logged:.0f} measured of {steps_per_s:.0f} steps a "
          f"second; target ≤ 1.02)")


if __name__ == "__main__":
    main()
