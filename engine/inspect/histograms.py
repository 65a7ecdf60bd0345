"""Weight and gradient histograms per node over time: how each layer's parameters spread as it trains.

At every epoch end the trainer hands the model to `histograms(model)`: for each node that owns parameters,
the histogram of all its weights and of their latest gradients (still in `.grad`: they are cleared at the
next step) over BINS equal bins between their min and max, with the count, sum and sum of squares
TensorBoard's histogram needs (a few host reads per node: once an epoch, never per step). The result is the data of a
`histograms` artifact (artifacts/histograms-epochNNNN.json), which tensorboard_log.py writes as
`weights/<node>` and `gradients/<node>` histograms and the Layer dock draws per epoch.
"""

from __future__ import annotations

import torch

from .taps import layer_nodes, unwrap

BINS = 30


def _histogram(values: torch.Tensor) -> torch.Tensor:
    """(BINS + 5,) on the device: min, max, count, sum, sum of squares, then the bin counts."""
    values = values.detach().float()
    finite = values[values.isfinite()]
    if not finite.numel():
        return torch.zeros(BINS + 5, device=values.device)
    low, high = finite.min(), finite.max()
    counts = torch.histc(finite, BINS, low.item(), high.item() if high > low else low.item() + 1e-12)
    return torch.cat([torch.stack([low, high, torch.tensor(float(finite.numel()), device=finite.device),
                                   finite.sum(), finite.square().sum()]), counts])


def histograms(model: torch.nn.Module) -> dict[str, dict[str, dict]]:
    """{node: {"weights": {...}, "gradients": {...}}} with min, max, num, sum, sum_squares, edges, counts,
    for every node owning parameters (gradients only when they exist)."""
    module = unwrap(model)
    found = {}
    for node in layer_nodes(model):
        if node.op != "call_module":
            continue
        params = [p for p in module.get_submodule(node.target).parameters() if p.requires_grad]
        if not params:
            continue
        grads = [p.grad for p in params if p.grad is not None]
        kinds = {"weights": torch.cat([p.reshape(-1) for p in params])}
        if grads:
            kinds["gradients"] = torch.cat([g.reshape(-1) for g in grads])
        found[node.meta["node_id"]] = {kind: _histogram(values) for kind, values in kinds.items()}
    rows = torch.stack([h for kinds in found.values() for h in kinds.values()]).tolist() if found else []
    rows = iter(rows)
    return {node: {kind: _record(next(rows)) for kind in kinds} for node, kinds in found.items()}


def _record(row: list[float]) -> dict:
    low, high, num, total, squares, *counts = row
    step = (high - low) / BINS
    return {"min": low, "max": high, "num": int(num), "sum": total, "sum_squares": squares,
            "edges": [low + step * i for i in range(BINS + 1)], "counts": [int(c) for c in counts]}
