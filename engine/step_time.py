"""How long one training step takes on this machine: throughputs measured once, applied to the stats.

Multiply-adds alone say nothing about time: a GRU over 1,000,000 steps validated at 16 MB and then
took 5 minutes of CPU for one step. A recurrent layer loops over its sequence one step at a time, so
its cost is mostly a fixed price per time step (a dozen small kernels forward and back: ≈ 110 µs for
nn.GRU on this project's test machine, 2–5 µs for nn.LSTM's fused kernel), not the MACs, which at 16
hidden units round to nothing. So a node's time in one step (forward, backward and its share of the
optimizer) is estimated as

    node_s                                    fixed cost of running a layer (calls, autograd, Adam's)
  + 3 × MACs / rate                           forward ≈ MACs, backward ≈ 2 × forward; rate per kind
  + sequential steps × recurrent_step_s       RNN / LSTM / GRU: T × layers × directions, measured per type
  + output bytes × elementwise_s_per_byte     element-wise work (activations, norms, the bias add)
  + parameters × optimizer_s_per_param        Adam's update

plus `step_s` per step (loss, zero_grad, the optimizer call). The rates are measured per node kind on
this machine by `measure`: dense matmul and conv2d multiply-adds per second (timed forward + backward),
the per-time-step cost of nn.RNN / nn.LSTM / nn.GRU (a fixed price per step from a tiny layer over a
short and a long sequence, and an in-loop MAC rate from a middling one), a ReLU's forward + backward
per byte, an Adam step per parameter and tiny models of 1 and 5 layers for the fixed costs. It takes
≈ 0.25 s (1–2.5 s as a process's first torch work), runs once and is cached as JSON in the user data
folder (`engine.runs.user_data_dir()`), keyed by torch version, device and thread count, so a new
torch, GPU or thread setting measures again. The global RNG is left as it was, so a run seeded before
its first calibration draws the same numbers as every later run.

It is an estimate to within a small factor, not a benchmark (measured here: 0.4–1.6× a real step for
MLPs, a CNN and RNN/LSTM/GRU layers): the data loading, metrics and checkpoints of a real run come on
top, and a busy machine is slower. Gradients that fade into subnormal floats on their way back through
a long sequence (a recurrent layer whose last step alone feeds the loss) can make a CPU step several
times slower still, which no closed form predicts. Its use is telling a step of milliseconds from one
of minutes before the first step. torch is imported only to measure.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

CACHE_NAME = "step_time.json"
CACHE_VERSION = 1
MAX_CACHED = 8  # keys kept in the cache file (torch versions × devices × thread counts), newest last
FORWARD_AND_BACKWARD = 3.0  # forward ≈ MACs, backward ≈ 2 × forward
SLOW_STEP_S = 60.0  # a training step longer than this is worth a warning before the run
RECURRENT = ("RNN", "LSTM", "GRU")


@dataclass(frozen=True)
class Calibration:
    """Throughputs of one device under one torch version and thread count (see the module doc)."""

    device: str  # the torch device measured: "cpu", "cuda:0"
    matmul_macs_per_s: float  # forward multiply-adds per second, from a timed forward + backward
    conv_macs_per_s: float
    elementwise_s_per_byte: float  # an element-wise op's forward + backward, per byte of its output
    optimizer_s_per_param: float  # one Adam step, per parameter
    node_s: float  # fixed cost of one layer in a step
    step_s: float  # fixed cost of a step
    recurrent_step_s: dict[str, float] = field(default_factory=dict)  # per sequential step, forward + backward
    recurrent_macs_per_s: dict[str, float] = field(default_factory=dict)  # the loop's own multiply-add rate
    measured_s: float = 0.0  # how long measuring took

    @property
    def where(self) -> str:
        """How messages name the device: "this CPU", "this GPU"."""
        return "this CPU" if self.device.startswith("cpu") else "this GPU"

    def layer_seconds(self, kind: str, macs: int, out_bytes: int, params: int, sequential_steps: int = 0,
                      recurrent: str | None = None) -> float:
        """A layer's time in one training step; `kind` is "matmul", "conv" or "recurrent" (then `recurrent`
        names the type, RNN / LSTM / GRU; another loop gets the slowest measured figures)."""
        if kind == "recurrent":
            step = self.recurrent_step_s.get(recurrent, max(self.recurrent_step_s.values(), default=0.0))
            rate = self.recurrent_macs_per_s.get(recurrent, min(self.recurrent_macs_per_s.values(),
                                                               default=self.matmul_macs_per_s))
            compute = sequential_steps * step + FORWARD_AND_BACKWARD * macs / rate
        else:
            compute = FORWARD_AND_BACKWARD * macs / (self.conv_macs_per_s if kind == "conv" else self.matmul_macs_per_s)
        return (self.node_s + compute + out_bytes * self.elementwise_s_per_byte
                + params * self.optimizer_s_per_param)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Calibration:
        """Figures back from the cache; ValueError (or TypeError) for any that are not usable."""
        found = cls(**data)
        rates = (found.matmul_macs_per_s, found.conv_macs_per_s, *found.recurrent_macs_per_s.values())
        costs = (found.elementwise_s_per_byte, found.optimizer_s_per_param, found.node_s, found.step_s,
                 *found.recurrent_step_s.values())
        if not (all(0 < float(r) < math.inf for r in rates) and all(0 <= float(c) < math.inf for c in costs)
                and set(found.recurrent_step_s) == set(found.recurrent_macs_per_s)):
            raise ValueError(f"unusable step-time figures: {data}")
        return found


_memo: dict[tuple[str, str], Calibration] = {}  # (cache file, key) → figures, for this process


def calibration(device: str = "auto") -> Calibration:
    """This machine's figures for training on `device` ("auto", "cpu", "cuda", "cuda:1"): from the cache,
    else measured now and cached."""
    resolved = resolve_device(device)
    key, path = cache_key(resolved), cache_path()
    if (found := _memo.get((str(path), key))) is not None:
        return found
    entries = _read(path)
    try:
        found = Calibration.from_dict(entries[key])
    except (KeyError, TypeError, ValueError):
        found = measure(resolved)
        entries.pop(key, None)
        entries[key] = found.to_dict()
        _write(path, dict(list(entries.items())[-MAX_CACHED:]))
    _memo[(str(path), key)] = found
    return found


def resolve_device(device: str) -> str:
    """The torch device `device` trains on: "auto" is the GPU when there is one; a GPU that is not there
    (validation on another machine) is estimated as this CPU."""
    import torch

    if device in ("auto", "cuda") or device.startswith("cuda:"):
        if not torch.cuda.is_available():
            return "cpu"
        return f"cuda:{torch.cuda.current_device()}" if device in ("auto", "cuda") else device
    return "cpu"


def cache_key(device: str) -> str:
    import torch

    name = f"{device} {torch.cuda.get_device_name(torch.device(device))}" if device.startswith("cuda") else device
    return f"torch {torch.__version__} | {name} | {torch.get_num_threads()} threads"


def cache_path() -> Path:
    from .runs import user_data_dir

    return user_data_dir() / CACHE_NAME


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    entries = data.get("entries") if isinstance(data, dict) and data.get("version") == CACHE_VERSION else None
    return dict(entries) if isinstance(entries, dict) else {}


def _write(path: Path, entries: dict) -> None:
    """Replace the cache file whole (two processes measuring at once each write a complete file); a folder
    that cannot be written leaves the figures uncached."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".step_time-", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"version": CACHE_VERSION, "entries": entries}, f, indent=1)
        os.replace(tmp, path)
    except OSError:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


# -- measuring -------------------------------------------------------------------------------------

# (batch, features, hidden, short and long time steps) of the tiny recurrent measurements, (batch, features,
# hidden, time steps) of the middling one, and the sizes of the others:
# big enough to reach the device's throughput, small enough to take milliseconds.
_SIZES = {
    "cpu": {"matmul": (256, 512, 512), "conv": (8, 16, 32, 32), "elementwise": 2**20, "adam": 2**20,
            "recurrent": ((4, 8, 8, 16, 256), (32, 32, 64, 32))},
    "cuda": {"matmul": (4096, 4096, 4096), "conv": (64, 64, 64, 64), "elementwise": 2**26, "adam": 2**24,
             "recurrent": ((4, 8, 8, 16, 128), (256, 256, 512, 64))},
}


def measure(device: str) -> Calibration:
    """Measure the figures on `device` now (a fraction of a second on a CPU)."""
    import torch

    started = time.perf_counter()
    dev = torch.device(device)
    sizes = _SIZES["cuda" if dev.type == "cuda" else "cpu"]
    with torch.random.fork_rng(devices=[dev.index] if dev.type == "cuda" else []), torch.enable_grad():
        sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" else (lambda: None)
        timer = _Timer(sync)
        matmul = _matmul_rate(dev, timer, *sizes["matmul"])
        conv = _conv_rate(dev, timer, *sizes["conv"])
        elementwise = _elementwise_s_per_byte(dev, timer, sizes["elementwise"])
        adam = _adam_s_per_param(dev, timer, sizes["adam"])
        node_s, step_s = _fixed_costs(dev, timer)
        steps, rates = {}, {}
        for type_id in RECURRENT:
            steps[type_id], rates[type_id] = _recurrent(type_id, dev, timer, *sizes["recurrent"], fallback=matmul)
    return Calibration(device, matmul, conv, elementwise, adam, node_s, step_s, steps, rates,
                       time.perf_counter() - started)


class _Timer:
    def __init__(self, sync):
        self.sync = sync

    def best(self, fn, repeats: int = 3) -> float:
        """The fastest of `repeats` runs of `fn` after one to warm up: the machine's speed without the noise of
        whatever else runs on it."""
        fn()
        self.sync()
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            self.sync()
            best = min(best, time.perf_counter() - start)
        return max(best, 1e-9)


def _matmul_rate(dev, timer: _Timer, n: int, k: int, m: int) -> float:
    import torch

    x = torch.randn(n, k, device=dev, requires_grad=True)
    w = torch.randn(m, k, device=dev, requires_grad=True)
    grad = torch.ones(n, m, device=dev)
    seconds = timer.best(lambda: torch.autograd.grad(torch.nn.functional.linear(x, w), (x, w), grad))
    return FORWARD_AND_BACKWARD * n * k * m / seconds


def _conv_rate(dev, timer: _Timer, n: int, channels: int, height: int, width: int) -> float:
    import torch

    x = torch.randn(n, channels, height, width, device=dev, requires_grad=True)
    w = torch.randn(2 * channels, channels, 3, 3, device=dev, requires_grad=True)
    grad = torch.ones(n, 2 * channels, height, width, device=dev)
    seconds = timer.best(lambda: torch.autograd.grad(torch.nn.functional.conv2d(x, w, padding=1), (x, w), grad))
    return FORWARD_AND_BACKWARD * n * 2 * channels * height * width * channels * 9 / seconds


def _elementwise_s_per_byte(dev, timer: _Timer, numel: int) -> float:
    import torch

    x = torch.randn(numel, device=dev, requires_grad=True)
    grad = torch.ones(numel, device=dev)
    return timer.best(lambda: torch.autograd.grad(torch.relu(x), x, grad)) / (4 * numel)


def _adam_s_per_param(dev, timer: _Timer, numel: int) -> float:
    import torch

    p = torch.zeros(numel, device=dev, requires_grad=True)
    p.grad = torch.ones(numel, device=dev)
    optimizer = torch.optim.Adam([p])
    return timer.best(optimizer.step) / numel


def _fixed_costs(dev, timer: _Timer) -> tuple[float, float]:
    """(per layer, per step): steps of tiny models of 1 and 5 Linear layers, whose work is all overhead."""
    import torch

    def step_of(layers: int) -> float:
        model = torch.nn.Sequential(*(torch.nn.Linear(8, 8) for _ in range(layers))).to(dev)
        optimizer = torch.optim.Adam(model.parameters())
        x, y = torch.randn(4, 8, device=dev), torch.randn(4, 8, device=dev)

        def step():
            optimizer.zero_grad(set_to_none=True)
            torch.nn.functional.mse_loss(model(x), y).backward()
            optimizer.step()

        return timer.best(step, repeats=10)

    one, five = step_of(1), step_of(5)
    node_s = max((five - one) / 4, 0.0)
    return node_s, max(one - node_s, 0.0)


def _recurrent(type_id: str, dev, timer: _Timer, small: tuple, medium: tuple, fallback: float) -> tuple[float, float]:
    """(seconds per time step, in-loop MAC rate) of `type_id`, forward + backward: the price of a step at a tiny
    size (the difference between a short and a long sequence, so the call's own cost drops out), and a rate for
    the step's multiply-adds from the extra time a middling size takes."""
    import torch

    from nodes import get_spec

    spec = get_spec(type_id)

    def seconds(n: int, features: int, hidden: int, steps: int) -> float:
        rnn = getattr(torch.nn, type_id)(features, hidden, batch_first=True).to(dev)
        x = torch.randn(n, steps, features, device=dev, requires_grad=True)
        inputs, grad = (x, *rnn.parameters()), torch.ones(n, steps, hidden, device=dev)
        return timer.best(lambda: torch.autograd.grad(rnn(x)[0], inputs, grad), repeats=2)

    def step_macs(n: int, features: int, hidden: int) -> int:
        return spec.macs(spec.resolve({"hidden_size": hidden}), {"in": (n, 1, features)}, {})

    (n, features, hidden, short), long = small[:4], small[4]
    t_short, t_long = seconds(n, features, hidden, short), seconds(n, features, hidden, long)
    tiny_step = (t_long - t_short) / (long - short) if t_long > t_short else t_long / long
    call = max(t_short - short * tiny_step, 0.0)
    n2, features2, hidden2, steps2 = medium
    medium_step = (seconds(n2, features2, hidden2, steps2) - call) / steps2
    m1, m2 = step_macs(n, features, hidden), step_macs(n2, features2, hidden2)
    rate = FORWARD_AND_BACKWARD * (m2 - m1) / (medium_step - tiny_step) if medium_step > tiny_step else fallback
    return max(tiny_step - FORWARD_AND_BACKWARD * m1 / rate, 0.0), rate
