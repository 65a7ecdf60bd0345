"""Speed settings of a run: CPU threads, cuDNN autotuning, channels-last, and whether to torch.compile.

Threads: `training.num_threads` 0 (the default) gives torch one thread fewer than the cores this
process may use (affinity and cgroup quota, see data/placement.usable_cores), at least one — as the
app's worker does. Torch's own default takes every core, and on a busy machine its threads then wait
for each other at every operation: on the project's shared 2-core machine two threads ran a small
model 5–17× slower than one. Leaving a core free keeps the run from collapsing when anything else
runs, at a cost of one core's share on an idle machine.

On CUDA, `cudnn.benchmark` picks the fastest convolution algorithms for the run's fixed shapes, and a
network with 2-D convolutions is converted to channels-last memory (tensor cores' native layout;
its convolutions then give channels-last outputs whatever the input's layout).

`training.compile`: "on" wraps the model in torch.compile; "auto" (`choose_compile`, a pure function)
compiles only where it is expected to pay for itself: compiling took 26–29 s here (CPU, the example
networks), so the run's expected step time saved must exceed that cost twice over. On the CPU the
gain was measured negative or nil (the digits MLP ran 0.57× as fast compiled, the CNN no faster), so
auto never compiles there; on CUDA the saving is assumed to be `CUDA_GAIN` of the step time (not
measured here: no GPU was available), with a step's time estimated from its multiply-adds and a
floor of kernel launches per node, which is where a small network on a GPU spends its time.

Throughput (`TrainingClock`): the step events' samples/s, live and as the session's mean, count only
the time spent training steps — fetching batches, forward, backward, optimizer, reading the step's
numbers — never the startup before the first step, validation, checkpoints, artifacts or a pause. A
rate over wall time dropped to 177 samples/s on the step event after an epoch end (its window held the
validation and two fsynced checkpoints) while the steps ran at 1,600–8,700.

`loader_rate` measures the data pipeline alone — the run's batches fetched and augmented as the trainer
does, no model — for the data-or-compute verdict (bound.py) the app shows after a run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from ..data.batches import epoch_order
from ..data.placement import usable_cores

COMPILE_COST_S = 30.0  # torch.compile of the example networks: 26–29 s measured on CPU
PAYBACK = 2.0  # auto compiles when the expected saving is this many times the cost
CUDA_GAIN = 0.25  # assumed fraction of a CUDA step's time compiling saves (unmeasured here)
CUDA_FLOPS = 20e12  # assumed sustained FLOP/s of a training step on a GPU (well under any peak)
CUDA_LAUNCH_S = 10e-6  # per kernel; a node costs about 3 (forward, backward, optimizer)
LOADER_BATCHES = 20  # batches `loader_rate` times at most (after one that starts the workers) …
LOADER_SECONDS = 1.0  # … or for about this long, whichever ends first


def default_threads() -> int:
    """Torch threads for `num_threads` 0: one fewer than the usable cores, at least one."""
    return max(1, usable_cores() - 1)


@dataclass(frozen=True)
class CompileChoice:
    enabled: bool
    reason: str  # what the run's log says about it


def estimate_step_seconds(macs_per_batch: int, nodes: int, device_type: str) -> float:
    """A rough CUDA training step time: forward + backward ≈ 3 × the forward's 2·MACs FLOPs, or the
    kernel launches of `nodes` nodes, whichever is longer. (Only CUDA is estimated: auto never compiles
    on other devices.)"""
    if device_type != "cuda":
        raise ValueError("step times are estimated for CUDA only")
    return max(6 * macs_per_batch / CUDA_FLOPS, 3 * nodes * CUDA_LAUNCH_S)


def choose_compile(setting: str, device_type: str, total_steps: int, step_seconds: float | None) -> CompileChoice:
    """Whether to torch.compile a run of `total_steps` steps of about `step_seconds` each on `device_type`."""
    if setting == "off":
        return CompileChoice(False, "compile off")
    if setting == "on":
        return CompileChoice(True, f"compile on: torch.compile takes about {COMPILE_COST_S:.0f} s before the "
                                   "first step")
    if device_type != "cuda":
        return CompileChoice(False, f"compile auto chose off: on {device_type.upper()} torch.compile made the "
                                    "example networks no faster (or slower) here, and compiling costs about "
                                    f"{COMPILE_COST_S:.0f} s")
    saving = total_steps * (step_seconds or 0.0) * CUDA_GAIN
    if saving < PAYBACK * COMPILE_COST_S:
        return CompileChoice(False, f"compile auto chose off: the run is expected to save about {saving:.0f} s by "
                                    f"compiling, less than {PAYBACK:g}× the ~{COMPILE_COST_S:.0f} s it costs")
    return CompileChoice(True, f"compile auto chose on: the run is expected to save about {saving:.0f} s by "
                               f"compiling, against ~{COMPILE_COST_S:.0f} s to compile")


def has_conv2d(module: torch.nn.Module) -> bool:
    return any(isinstance(m, torch.nn.Conv2d) for m in module.modules())


def tune_for_device(module: torch.nn.Module, device: torch.device) -> list[str]:
    """cuDNN autotuning, and channels-last for a network with 2-D convolutions, on CUDA; what was done."""
    if device.type != "cuda":
        return []
    torch.backends.cudnn.benchmark = True
    if not has_conv2d(module):
        return []
    module.to(memory_format=torch.channels_last)
    return ["channels-last memory for the convolutions"]


class TrainingClock:
    """Seconds spent training: it runs between `start` and `stop` only (the trainer starts it for an
    epoch's steps and stops it for validation, checkpoints and pauses), so rates over it are training
    throughput."""

    def __init__(self):
        self.total = 0.0  # seconds counted before the current stretch
        self._since: float | None = None  # perf_counter() when the current stretch began; None while stopped

    def start(self) -> None:
        if self._since is None:
            self._since = time.perf_counter()

    def stop(self) -> None:
        if self._since is not None:
            self.total += time.perf_counter() - self._since
            self._since = None

    def read(self) -> float:
        """Seconds counted so far, the current stretch included."""
        return self.total + (time.perf_counter() - self._since if self._since is not None else 0.0)


def loader_rate(batches, augment, size: int, batch_size: int, seed: int) -> float | None:
    """Samples/s of `batches` (batches.Resident or Streamed) over an epoch's order, each batch augmented as the
    trainer augments it; None when the epoch has no batch after the first (which starts DataLoader workers and
    is not timed)."""
    count, start, elapsed = 0, None, 0.0
    for x, _ in batches.batches(epoch_order(size, seed, 0), batch_size):
        x = augment(x)
        if x.device.type == "cuda":
            torch.cuda.synchronize(x.device)
        if start is None:
            start = time.perf_counter()
            continue
        count, elapsed = count + len(x), time.perf_counter() - start
        if count >= LOADER_BATCHES * batch_size or elapsed >= LOADER_SECONDS:
            break
    return count / elapsed if count and elapsed > 0 else None
