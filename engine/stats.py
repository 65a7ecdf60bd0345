"""Graph statistics: parameters, multiply-adds and activation memory per node, and what training needs.

Users ask "will this fit on my GPU?" before they press Train, and ask it of any graph, so the cost
must not grow with the data: everything here is closed form over the shapes validation inferred.
Parameters are counted on each layer built on the meta device (no memory, no init cost, and no
tensor ever runs through it); multiply-adds come from each spec's `macs` rule (see nodes/spec.py),
which counts what torch's FlopCounterMode would — the node tests hold every rule to that oracle —
without running a 100,000-step LSTM to find out. Activation memory is each output's shape times its
element size: token ids stay int64 through the shape plumbing until an Embedding, everything a layer
computes is float32. Parameter counts are memoised by (builder, params, input shapes), so a 500-node
graph of repeated blocks costs a few distinct builds. torch is imported only to count parameters
(and to measure this machine once, below).

Each node also gets an estimated time in one training step on the device the graph trains on
(engine/step_time.py): its MACs over throughputs measured once on this machine, plus a measured price
per time step for the recurrent layers, whose loop over the sequence MACs alone say nothing about.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nodes import NodeSpec, Shape

from .batch_scale import rows_per_sample
from .blocks import PORT_SPEC, spec_of
from .document import GraphDocument
from .step_time import Calibration
from .validate import ValidationReport

# Adam keeps fp32 weights, grads and two moments: 4 copies of 4 bytes per parameter.
TRAINING_BYTES_PER_PARAM = 16


@dataclass(frozen=True)
class NodeStats:
    params: int
    macs: int  # multiply-adds of one forward pass at the stats' batch size
    activation_bytes: int  # the node's outputs at that batch size
    seconds: float = 0.0  # estimated time in one training step: forward, backward and its optimizer update
    sequential_steps: int = 0  # steps a recurrent layer runs one after another (time steps × layers × directions)


@dataclass
class GraphStats:
    batch_size: int
    nodes: dict[str, NodeStats] = field(default_factory=dict)  # in topological order
    skipped: dict[str, str] = field(default_factory=dict)  # node id → why it could not be measured
    overhead_seconds: float = 0.0  # a step's own fixed cost (loss, zero_grad, the optimizer call)
    timed_on: str | None = None  # "this CPU", "this GPU": where the seconds were estimated; None: not timed

    @property
    def total_params(self) -> int:
        return sum(s.params for s in self.nodes.values())

    @property
    def total_macs(self) -> int:
        return sum(s.macs for s in self.nodes.values())

    @property
    def total_activation_bytes(self) -> int:
        return sum(s.activation_bytes for s in self.nodes.values())

    @property
    def training_memory_bytes(self) -> int:
        """Estimate for Adam at fp32: weights + grads + 2 moments, plus every activation kept for backward.

        A lower bound: layers that save extra intermediates (attention scores, RNN gates) and the
        allocator's slack come on top.
        """
        return TRAINING_BYTES_PER_PARAM * self.total_params + self.total_activation_bytes

    @property
    def step_seconds(self) -> float | None:
        """Estimated seconds of one training step (forward, backward, Adam) on `timed_on`; None when not timed.
        Data loading and a run's bookkeeping come on top."""
        if self.timed_on is None:
            return None
        return self.overhead_seconds + sum(s.seconds for s in self.nodes.values())

    @property
    def slowest_node(self) -> str | None:
        return max(self.nodes, key=lambda n: self.nodes[n].seconds) if self.timed_on and self.nodes else None

    def node_training_bytes(self, node_id: str) -> int:
        """The node's share of `training_memory_bytes`."""
        s = self.nodes[node_id]
        return TRAINING_BYTES_PER_PARAM * s.params + s.activation_bytes

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch_size": self.batch_size,
            "nodes": {n: {"params": s.params, "macs": s.macs, "activation_bytes": s.activation_bytes,
                          "seconds": s.seconds, "sequential_steps": s.sequential_steps}
                      for n, s in self.nodes.items()},
            "skipped": dict(self.skipped),
            "total_params": self.total_params,
            "total_macs": self.total_macs,
            "total_activation_bytes": self.total_activation_bytes,
            "training_memory_bytes": self.training_memory_bytes,
            "overhead_seconds": self.overhead_seconds,
            "timed_on": self.timed_on,
            "step_seconds": self.step_seconds,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GraphStats:
        """Back from `to_dict` (the app receives stats from the worker process this way)."""
        return cls(int(data["batch_size"]), {n: NodeStats(**s) for n, s in data["nodes"].items()},
                   dict(data.get("skipped") or {}), float(data.get("overhead_seconds") or 0.0), data.get("timed_on"))


def graph_stats(doc: GraphDocument, report: ValidationReport, batch_size: int = 32, device: str | None = None,
                calibration: Calibration | None = None) -> GraphStats:
    """Stats of every node whose shapes validation could infer (all of them when the graph is valid).

    Times are estimated for `device` (default: the graph's training.device) with this machine's
    `calibration` (default: measured once and cached, engine/step_time.py); without one — it could not
    be measured — the stats are not timed. A block instance counts everything its expansion holds
    (every copy when it repeats)."""
    if calibration is None:
        calibration = _calibration(device or str(doc.training.get("device", "auto")))
    return _graph_stats(doc, report, batch_size, calibration)


def _calibration(device: str) -> Calibration | None:
    from . import step_time

    try:
        return step_time.calibration(device)
    except Exception:  # stats must never stop validation: untimed, they still say what fits
        return None


def _graph_stats(doc: GraphDocument, report: ValidationReport, batch_size: int,
                 calibration: Calibration | None) -> GraphStats:
    if report.expansion is not None:
        return _instance_totals(report, _graph_stats(report.expansion.flat, report.expansion.report, batch_size,
                                                     calibration))
    stats = GraphStats(batch_size)
    if calibration is not None:
        stats.overhead_seconds, stats.timed_on = calibration.step_s, calibration.where
    feeding = {(e.dst, e.dst_port): e.src for e in doc.edges}
    rows = rows_per_sample(doc, report)  # after a Reshape that merges the batch, N·A rows: counted as such
    for node_id in report.order:
        node, spec = doc.nodes[node_id], spec_of(doc.nodes[node_id].type_id)
        if spec is None or (spec.inputs and node_id not in report.input_shapes):
            continue
        if any(src not in stats.nodes for p in spec.inputs if (src := feeding.get((node_id, p.name)))):
            continue  # an upstream node could not be measured
        if spec is PORT_SPEC:  # a block's port passes its input on: nothing to count
            stats.nodes[node_id] = NodeStats(0, 0, 0)
            continue
        outs = {port.name: report.shapes.get((node_id, port.name)) for port in spec.outputs}
        if None in outs.values():
            continue  # validation reports why the shape is unknown
        if spec.role in ("input", "target"):
            stats.nodes[node_id] = NodeStats(0, 0, _nbytes(outs["out"], report.dtypes[(node_id, "out")], batch_size))
            continue
        if spec.role == "output":
            stats.nodes[node_id] = NodeStats(0, 0, 0)  # the same tensor its input already counts
            continue
        in_shapes = report.input_shapes[node_id]
        params = _freeze(spec, node.params)
        try:
            n_params = _count_params(spec.build, params, tuple(in_shapes.items()))
        except Exception as exc:  # stats must never stop validation; compile names the error
            stats.skipped[node_id] = f"cannot build the layer: {exc}"
            continue
        out_batch = batch_size * rows.get(node_id, 1)
        concrete_ins = {port: _concrete(shape, batch_size * rows.get(feeding.get((node_id, port)), 1))
                        for port, shape in in_shapes.items()}
        macs = 0 if spec.macs is None else spec.macs(
            dict(params), concrete_ins, {port: _concrete(shape, out_batch) for port, shape in outs.items()})
        activation = sum(_nbytes(shape, report.dtypes[(node_id, port)], out_batch) for port, shape in outs.items())
        sequential = _sequential_steps(spec, dict(params), concrete_ins)
        seconds = 0.0 if calibration is None else calibration.layer_seconds(
            "recurrent" if sequential else "conv" if spec.category == "Convolution" else "matmul",
            macs, activation, n_params, sequential, spec.type_id)
        stats.nodes[node_id] = NodeStats(n_params, macs, activation, seconds, sequential)
    return stats


def _sequential_steps(spec: NodeSpec, params: dict[str, Any], in_shapes: dict[str, tuple[int, ...]]) -> int:
    """How many steps a recurrent layer runs one after another: each layer and direction loops over the
    sequence (N, T, features). 0 for a layer that does not loop."""
    if spec.category != "Recurrent":
        return 0
    steps = in_shapes["in"][1]
    return steps * int(params.get("num_layers", 1)) * (2 if params.get("bidirectional") else 1)


def _instance_totals(report: ValidationReport, flat: GraphStats) -> GraphStats:
    """The expanded graph's stats summed per document node (an instance: all the layers inside it)."""
    owner = report.expansion.owner
    totals: dict[str, list[float]] = {}
    for flat_id, s in flat.nodes.items():
        total = totals.setdefault(owner(flat_id), [0, 0, 0, 0.0, 0])
        for i, value in enumerate((s.params, s.macs, s.activation_bytes, s.seconds, s.sequential_steps)):
            total[i] += value
    skipped = {owner(flat_id): why for flat_id, why in flat.skipped.items()}
    return GraphStats(flat.batch_size, {n: NodeStats(*totals[n]) for n in report.order
                                        if n in totals and n not in skipped}, skipped,
                      flat.overhead_seconds, flat.timed_on)


def _freeze(spec: NodeSpec, raw_params: dict[str, Any]) -> tuple:
    """The spec's resolved params in a hashable form (unknown keys, which validation warns about, dropped)."""
    resolved = spec.resolve(raw_params)
    return tuple((p.name, resolved[p.name]) for p in spec.params)


@functools.lru_cache(maxsize=4096)
def _count_params(build: Callable, params: tuple, in_shapes: tuple) -> int:
    """Parameters of one layer, built on the meta device. Keyed by the spec's builder rather than its
    type id, so a replaced spec is never served stale."""
    import torch

    with torch.device("meta"):
        module = build(dict(params), dict(in_shapes))
    return sum(p.numel() for p in module.parameters())


def _concrete(shape: Shape, batch_size: int) -> tuple[int, ...]:
    """The batch (a leading None) becomes `batch_size`; any other unknown dimension counts as 1."""
    return tuple((batch_size if i == 0 else 1) if dim is None else dim for i, dim in enumerate(shape))


def _nbytes(shape: Shape, dtype: str, batch_size: int) -> int:
    numel = 1
    for dim in _concrete(shape, batch_size):
        numel *= dim
    import numpy as np  # here, not at the top: the app's first paint imports this module but needs no numpy

    return numel * np.dtype(dtype).itemsize


def format_count(n: float) -> str:
    """`1234567` → `"1.2 M"`; below a thousand the plain number."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:g}"


def format_seconds(seconds: float) -> str:
    """`0.0123` → `"12 ms"`, `250` → `"4.2 min"`: two or three significant figures, in the unit that reads."""
    for unit, scale in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1), ("ms", 1e-3)):
        if seconds >= scale:
            value = seconds / scale
            return f"{value:.1f} {unit}" if value < 10 else f"{value:,.0f} {unit}"
    return f"{seconds * 1e6:.0f} µs"


def format_bytes(n: float) -> str:
    """`3565158` → `"3.4 MiB"` (binary units, as GPU memory is reported)."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:g} B"
