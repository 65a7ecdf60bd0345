"""Graph statistics: parameters, multiply-adds and activation memory per node, and what training needs.

Users ask "will this fit on my GPU?" before they press Train, and ask it of any graph, so the cost
must not grow with the data: everything here is closed form over the shapes validation inferred.
Parameters are counted on each layer built on the meta device (no memory, no init cost, and no
tensor ever runs through it); multiply-adds come from each spec's `macs` rule (see nodes/spec.py),
which counts what torch's FlopCounterMode would — the node tests hold every rule to that oracle —
without running a 100,000-step LSTM to find out. Activation memory is each output's shape times its
element size: token ids stay int64 through the shape plumbing until an Embedding, everything a layer
computes is float32. Parameter counts are memoised by (builder, params, input shapes), so a 500-node
graph of repeated blocks costs a few distinct builds. torch is imported only to count parameters.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nodes import NodeSpec, Shape

from .blocks import PORT_SPEC, spec_of
from .document import GraphDocument
from .validate import DTYPE_AGNOSTIC, ValidationReport

# Adam keeps fp32 weights, grads and two moments: 4 copies of 4 bytes per parameter.
TRAINING_BYTES_PER_PARAM = 16


@dataclass(frozen=True)
class NodeStats:
    params: int
    macs: int  # multiply-adds of one forward pass at the stats' batch size
    activation_bytes: int  # the node's outputs at that batch size


@dataclass
class GraphStats:
    batch_size: int
    nodes: dict[str, NodeStats] = field(default_factory=dict)  # in topological order
    skipped: dict[str, str] = field(default_factory=dict)  # node id → why it could not be measured

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

    def node_training_bytes(self, node_id: str) -> int:
        """The node's share of `training_memory_bytes`."""
        s = self.nodes[node_id]
        return TRAINING_BYTES_PER_PARAM * s.params + s.activation_bytes

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch_size": self.batch_size,
            "nodes": {n: {"params": s.params, "macs": s.macs, "activation_bytes": s.activation_bytes}
                      for n, s in self.nodes.items()},
            "skipped": dict(self.skipped),
            "total_params": self.total_params,
            "total_macs": self.total_macs,
            "total_activation_bytes": self.total_activation_bytes,
            "training_memory_bytes": self.training_memory_bytes,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GraphStats:
        """Back from `to_dict` (the app receives stats from the worker process this way)."""
        return cls(int(data["batch_size"]), {n: NodeStats(**s) for n, s in data["nodes"].items()},
                   dict(data.get("skipped") or {}))


def graph_stats(doc: GraphDocument, report: ValidationReport, batch_size: int = 32) -> GraphStats:
    """Stats of every node whose shapes validation could infer (all of them when the graph is valid).

    A block instance counts everything its expansion holds (every copy when it repeats)."""
    if report.expansion is not None:
        return _instance_totals(report, graph_stats(report.expansion.flat, report.expansion.report, batch_size))
    stats = GraphStats(batch_size)
    wires = {(e.dst, e.dst_port): (e.src, e.src_port) for e in doc.edges}
    dtypes: dict[tuple[str, str], str] = {}  # output port → dtype name
    for node_id in report.order:
        node, spec = doc.nodes[node_id], spec_of(doc.nodes[node_id].type_id)
        if spec is None or (spec.inputs and node_id not in report.input_shapes):
            continue
        if spec is PORT_SPEC:  # a block's port passes its input on: nothing to count
            dtypes[(node_id, "out")] = dtypes.get(wires.get((node_id, "in")))
            stats.nodes[node_id] = NodeStats(0, 0, 0)
            continue
        outs = {port.name: report.shapes.get((node_id, port.name)) for port in spec.outputs}
        if None in outs.values():
            continue  # validation reports why the shape is unknown
        if spec.role in ("input", "target"):
            dtypes[(node_id, "out")] = node.params.get("dtype", "float32")
            stats.nodes[node_id] = NodeStats(0, 0, _nbytes(outs["out"], dtypes[(node_id, "out")], batch_size))
            continue
        if spec.role == "output":
            stats.nodes[node_id] = NodeStats(0, 0, 0)  # the same tensor its input already counts
            continue
        in_dtypes = [dtypes.get(wires[(node_id, p.name)]) for p in spec.inputs if (node_id, p.name) in wires]
        if None in in_dtypes:
            continue  # an upstream node could not be measured
        in_shapes = report.input_shapes[node_id]
        params = _freeze(spec, node.params)
        try:
            n_params = _count_params(spec.build, params, tuple(in_shapes.items()))
        except Exception as exc:  # stats must never stop validation; compile names the error
            stats.skipped[node_id] = f"cannot build the layer: {exc}"
            continue
        out_dtype = in_dtypes[0] if spec.category in DTYPE_AGNOSTIC else "float32"
        for port in outs:
            dtypes[(node_id, port)] = out_dtype
        macs = 0 if spec.macs is None else spec.macs(
            dict(params), {port: _concrete(shape, batch_size) for port, shape in in_shapes.items()},
            {port: _concrete(shape, batch_size) for port, shape in outs.items()})
        activation = sum(_nbytes(shape, out_dtype, batch_size) for shape in outs.values())
        stats.nodes[node_id] = NodeStats(n_params, macs, activation)
    return stats


def _instance_totals(report: ValidationReport, flat: GraphStats) -> GraphStats:
    """The expanded graph's stats summed per document node (an instance: all the layers inside it)."""
    owner = report.expansion.owner
    totals: dict[str, list[int]] = {}
    for flat_id, s in flat.nodes.items():
        total = totals.setdefault(owner(flat_id), [0, 0, 0])
        total[0] += s.params
        total[1] += s.macs
        total[2] += s.activation_bytes
    skipped = {owner(flat_id): why for flat_id, why in flat.skipped.items()}
    return GraphStats(flat.batch_size, {n: NodeStats(*totals[n]) for n in report.order
                                        if n in totals and n not in skipped}, skipped)


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


def format_bytes(n: float) -> str:
    """`3565158` → `"3.4 MiB"` (binary units, as GPU memory is reported)."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:g} B"
