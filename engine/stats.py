"""Graph statistics: parameters, multiply-adds and activation memory per node, and what training needs.

Users ask "will this fit on my GPU?" before they press Train. Each layer is built on the meta
device (no memory, no init cost) and run on meta tensors of its inferred input shapes — batch
substituted — under `FlopCounterMode`, so the counts are torch's own, not a table kept by hand.
Dtypes flow from the Input/Target nodes through the meta outputs (token ids stay int64 until an
Embedding). Measurements are memoised by (builder, params, input shapes and dtypes, batch), so a
500-node graph of repeated blocks costs a few distinct builds, and a re-validation after an edit
re-measures only what changed. torch is imported only when stats are computed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nodes import NodeSpec, Shape, get_spec

from .document import GraphDocument
from .validate import ValidationReport

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


def graph_stats(doc: GraphDocument, report: ValidationReport, batch_size: int = 32) -> GraphStats:
    """Stats of every node whose input shapes validation could infer (all of them when the graph is valid)."""
    import torch

    stats = GraphStats(batch_size)
    wires = {(e.dst, e.dst_port): (e.src, e.src_port) for e in doc.edges}
    dtypes: dict[tuple[str, str], Any] = {}  # output port → torch dtype
    for node_id in report.order:
        node, spec = doc.nodes[node_id], get_spec(doc.nodes[node_id].type_id)
        if spec is None or (spec.inputs and node_id not in report.input_shapes):
            continue
        if spec.role in ("input", "target"):
            shape = report.shapes.get((node_id, "out"))
            if shape is not None:
                dtypes[(node_id, "out")] = getattr(torch, node.params.get("dtype", "float32"))
                stats.nodes[node_id] = NodeStats(0, 0, _nbytes(shape, dtypes[(node_id, "out")], batch_size))
            continue
        if spec.role == "output":
            stats.nodes[node_id] = NodeStats(0, 0, 0)  # the same tensor its input already counts
            continue
        connected = [p.name for p in spec.inputs if (node_id, p.name) in wires]
        in_dtypes = [dtypes.get(wires[(node_id, port)]) for port in connected]
        if None in in_dtypes:
            continue  # an upstream node could not be measured
        shapes = report.input_shapes[node_id]
        in_specs = tuple((port, shapes[port], dtype) for port, dtype in zip(connected, in_dtypes, strict=True))
        try:
            n_params, macs, outs = _measure(spec.build, _freeze(spec, node.params), in_specs, batch_size)
        except Exception as exc:  # stats must never stop validation; compile names the error
            stats.skipped[node_id] = f"cannot build the layer: {exc}"
            continue
        for port, (_, dtype) in zip(spec.outputs, outs, strict=True):
            dtypes[(node_id, port.name)] = dtype
        activation = sum(_nbytes(shape, dtype, batch_size) for shape, dtype in outs)
        stats.nodes[node_id] = NodeStats(n_params, macs, activation)
    return stats


def _freeze(spec: NodeSpec, raw_params: dict[str, Any]) -> tuple:
    """The spec's resolved params in a hashable form (unknown keys, which validation warns about, dropped)."""
    resolved = spec.resolve(raw_params)
    return tuple((p.name, resolved[p.name]) for p in spec.params)


@functools.lru_cache(maxsize=4096)
def _measure(build: Callable, params: tuple, in_specs: tuple, batch_size: int) -> tuple[int, int, tuple]:
    """(parameter count, MACs, ((output shape, dtype), …)) of one layer, measured on the meta device.

    Keyed by the spec's builder rather than its type id, so a replaced spec is never served stale.
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    in_shapes = {port: shape for port, shape, _ in in_specs}
    with torch.device("meta"):
        module = build(dict(params), in_shapes)
    tensors = [torch.empty(_concrete(shape, batch_size), dtype=dtype, device="meta") for _, shape, dtype in in_specs]
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        result = module(*tensors)
    outs = result if isinstance(result, tuple) else (result,)
    n_params = sum(p.numel() for p in module.parameters())
    return n_params, counter.get_total_flops() // 2, tuple((tuple(o.shape), o.dtype) for o in outs)


def _concrete(shape: Shape, batch_size: int) -> tuple[int, ...]:
    """The batch (a leading None) becomes `batch_size`; any other unknown dimension counts as 1."""
    return tuple((batch_size if i == 0 else 1) if dim is None else dim for i, dim in enumerate(shape))


def _nbytes(shape: Shape, dtype, batch_size: int) -> int:
    numel = 1
    for dim in _concrete(shape, batch_size):
        numel *= dim
    return numel * dtype.itemsize


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
