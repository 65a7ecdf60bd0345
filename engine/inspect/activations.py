"""Activation statistics per node, measured at log points: what a dead or saturated layer looks like.

At a step whose event is due (events.Throttle.ready; at most MEASURES_PER_S a second), the trainer runs
the tapped twin of its module (taps.py) instead of the module; while the nodes' outputs are alive
`ActivationStats` reduces each to five numbers on the device, from at most SAMPLE values of each — mean,
std, the fraction of zeros, the fraction saturated (within 1 % of the range's ends, for functions with a
bounded range: tanh, sigmoid…; NaN for the rest) and the fraction non-finite — and the step event reads
them in the host sync it makes anyway. Other steps run the module untouched.

`Findings` turns them into warnings, once per node and kind: an activation node more than DEAD zeros is
dead ("relu1: 100 % of its outputs are zero at step 40 — a dead layer …"), one more than SATURATED at the
ends of its range is saturated.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import torch

from . import DEAD, SATURATED
from .taps import Tap, float_tensors, layer_nodes

STATS = ("mean", "std", "zero", "saturated", "nonfinite")
# the range of each bounded activation; a value within MARGIN of the range's width from an end is saturated
BOUNDED = {"Tanh": (-1.0, 1.0), "Sigmoid": (0.0, 1.0), "Hardsigmoid": (0.0, 1.0), "Hardtanh": (-1.0, 1.0),
           "ReLU6": (0.0, 6.0), "Softsign": (-1.0, 1.0)}
MARGIN = 0.01


MEASURES_PER_S = 4  # at most this many log points a second measure them: their cost stays a sliver of the run's
SAMPLE = 1024  # values per node the statistics read, evenly spread through its output (fractions ±3 %)


class ActivationStats:
    """The statistics of every layer node's (first) output; `node_types` maps node ids to type ids.

    Each node's output is read at SAMPLE values at most, evenly strided through it (every value of a small
    one), into one (nodes, SAMPLE) matrix; the five statistics of all nodes are then a dozen tensor
    operations, whatever the graph's size — a measured step costs little more than the forward itself."""

    def __init__(self, model: torch.nn.Module, node_types: dict[str, str], roles: dict[str, str] | None = None):
        roles = roles or {}
        self.nodes = [n for n in layer_nodes(model) if roles.get(n.meta["node_id"]) != "loss"]
        self.node_ids = [n.meta["node_id"] for n in self.nodes]
        bounds = [BOUNDED.get(node_types.get(node_id, ""), (math.nan, math.nan)) for node_id in self.node_ids]
        self.bounds = torch.tensor(bounds, dtype=torch.float32).reshape(-1, 2)  # (nodes, 2), NaN: unbounded
        self.tap = Tap(model, self._seen)
        self.latest: torch.Tensor | None = None  # (nodes, 5) of the last measured step, until read
        self._cache: dict = {}  # (device, counts) → (buffer, mask, bounds) on that device

    def _seen(self, taps: dict) -> None:
        samples = []
        for node in self.nodes:
            tensors = float_tensors(taps[node.name])
            flat = tensors[0][1].detach().reshape(-1) if tensors else None
            empty = flat is None or not flat.numel()
            samples.append(None if empty else flat[::max(1, flat.numel() // SAMPLE)][:SAMPLE])
        present = [t for t in samples if t is not None]
        if not present:
            self.latest = None
            return
        device = present[0].device
        counts = tuple(0 if t is None else t.numel() for t in samples)
        values, mask, bounds = self._buffers(device, counts)
        for row, sample in enumerate(samples):
            if sample is not None:
                values[row, :sample.numel()].copy_(sample)
        self.latest = _statistics(values, mask, bounds)

    def _buffers(self, device: torch.device, counts: tuple[int, ...]):
        key = (device, counts)
        if key not in self._cache:
            counted = torch.tensor(counts, device=device)
            mask = torch.arange(SAMPLE, device=device) < counted[:, None]  # (nodes, SAMPLE): real values
            self._cache = {key: (torch.zeros(len(counts), SAMPLE, device=device), mask, self.bounds.to(device))}
        return self._cache[key]

    @contextmanager
    def measuring(self, setup):
        """Within: `setup.forward` is the tapped twin, so the step measures the statistics."""
        forward, setup.forward = setup.forward, self.tap
        try:
            yield
        finally:
            setup.forward = forward

    def take(self) -> torch.Tensor | None:
        """The last measurement, flattened (nodes × 5), once: None when no step measured since."""
        latest, self.latest = self.latest, None
        return None if latest is None else latest.reshape(-1)

    def as_dict(self, values: list[float]) -> dict[str, dict[str, float | None]]:
        """Flattened values (from `take`, read on the host) → {node: {stat: value or None}}."""
        width = len(STATS)
        return {node_id: {name: (v if math.isfinite(v) else None)
                          for name, v in zip(STATS, values[i * width:(i + 1) * width], strict=True)}
                for i, node_id in enumerate(self.node_ids)}


def _statistics(values: torch.Tensor, mask: torch.Tensor, bounds: torch.Tensor) -> torch.Tensor:
    """(nodes, 5) as STATS names them, from the sampled `values` (nodes, SAMPLE) where `mask` is set (the rest
    is 0); the mean and std over the finite ones; saturated NaN where `bounds` (nodes, 2) is NaN. No host sync."""
    f32 = torch.float32
    count = mask.sum(1, dtype=f32).clamp(min=1)
    finite = values.isfinite() & mask
    kept = finite.sum(1, dtype=f32)
    zeroed = values.nan_to_num(0.0, 0.0, 0.0)  # the non-finite ones out of the sums (the padding is 0 already)
    mean = zeroed.sum(1) / kept.clamp(min=1)
    std = ((zeroed - mean[:, None]) * finite).square().sum(1).div((kept - 1).clamp(min=1)).sqrt()
    zero = ((values == 0) & mask).sum(1, dtype=f32) / count
    low, high = bounds[:, :1], bounds[:, 1:]
    margin = MARGIN * (high - low)
    saturated = (((values <= low + margin) | (values >= high - margin)) & mask).sum(1, dtype=f32) / count
    saturated = torch.where(bounds[:, 0].isnan(), math.nan, saturated)
    return torch.stack([mean, std, zero, saturated, 1 - kept / count], 1)


class Findings:
    """Dead and saturated layers, each said once per run: `check` returns the new (node, message) pairs."""

    def __init__(self, categories: dict[str, str]):
        self.categories = categories  # node id → palette category: only activation nodes can die
        self.said: set[tuple[str, str]] = set()

    def check(self, stats: dict[str, dict[str, float | None]], step: int) -> list[tuple[str, str]]:
        found = []
        for node_id, values in stats.items():
            zero, saturated = values["zero"], values["saturated"]
            if self.categories.get(node_id) == "Activation" and zero is not None and zero > DEAD:
                found += self._say(node_id, "dead", f"{zero:.0%} of its outputs are zero at step {step} — a dead "
                                   "layer: lower the learning rate, check the bias and init before it, or use "
                                   "LeakyReLU/GELU")
            if saturated is not None and saturated > SATURATED:
                found += self._say(node_id, "saturated", f"{saturated:.0%} of its outputs sit at the ends of its "
                                   f"range at step {step} — saturated: its gradient vanishes; normalise its input "
                                   "(LayerNorm/BatchNorm) or lower the learning rate")
        return found

    def _say(self, node_id: str, kind: str, message: str) -> list[tuple[str, str]]:
        if (node_id, kind) in self.said:
            return []
        self.said.add((node_id, kind))
        return [(node_id, f"{node_id}: {message}")]
