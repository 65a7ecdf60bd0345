"""Normalization layers. They keep their input's shape; the normalised size is inferred from it."""

from __future__ import annotations

from .common import expect_min_rank, expect_rank, numel, rank_hint
from .registry import register
from .spec import NodeSpec, Param, Port, ShapeError, format_shape

EPS = Param("eps", "float", 1e-5, "added to the variance so it never divides by zero", min=1e-12, max=1.0)
MOMENTUM = Param("momentum", "float", 0.1, "weight of each batch in the running statistics", min=0.0, max=1.0)


def _norm(type_id: str, prefix: str, doc: str, layout: str, ranks: tuple[int, ...] | int, axis: int, make,
          params: tuple[Param, ...] = (EPS,), check=None, example=(None, 4, 6), batch_statistics=False) -> NodeSpec:
    """A shape-keeping norm over `axis` (1: channels, -1: features) of inputs of the given ranks.

    `ranks` is a tuple of allowed ranks or an int minimum; `make(params, size)` builds the module;
    `check(params, shape)` may raise a ShapeError for input shapes the params cannot handle.
    """

    def infer(params, in_shapes):
        x = in_shapes["in"]
        if isinstance(ranks, int):
            expect_min_rank("in", x, ranks, layout)
        else:
            expect_rank("in", x, ranks, layout, rank_hint(x, max(ranks)))
        if check is not None:
            check(params, x)
        return {"out": x}

    return register(NodeSpec(
        type_id=type_id, title=type_id, category="Normalization", id_prefix=prefix, doc=doc,
        inputs=(Port("in", layout),), outputs=(Port("out"),), params=params,
        infer=infer, build=lambda p, s: make(p, s["in"][axis]), example_inputs={"in": example},
        batch_statistics=batch_statistics,
    ))


def _nn():
    import torch.nn as nn

    return nn


_norm("BatchNorm1d", "bn", "Normalises each feature/channel over the batch (and length), then scales and shifts.",
      "(N, C) or (N, C, L)", (2, 3), 1, lambda p, c: _nn().BatchNorm1d(c, p["eps"], p["momentum"]),
      (EPS, MOMENTUM), batch_statistics=True)
_norm("BatchNorm2d", "bn", "Normalises each channel over the batch and image, then scales and shifts.",
      "(N, C, H, W)", (4,), 1, lambda p, c: _nn().BatchNorm2d(c, p["eps"], p["momentum"]),
      (EPS, MOMENTUM), example=(None, 3, 4, 4), batch_statistics=True)
_norm("BatchNorm3d", "bn", "Normalises each channel over the batch and volume, then scales and shifts.",
      "(N, C, D, H, W)", (5,), 1, lambda p, c: _nn().BatchNorm3d(c, p["eps"], p["momentum"]),
      (EPS, MOMENTUM), example=(None, 3, 3, 4, 4), batch_statistics=True)
_norm("LayerNorm", "ln", "Normalises each sample's last dimension, then scales and shifts (transformers).",
      "(N, …, features)", 2, -1, lambda p, d: _nn().LayerNorm(d, p["eps"]))


def _rmsnorm(params, size):
    from .layers.norm import RMSNorm

    return RMSNorm(size, params["eps"])


_norm("RMSNorm", "rms", "Divides the last dimension by its root mean square, then scales (no centring, no shift).",
      "(N, …, features)", 2, -1, _rmsnorm,
      (Param("eps", "float", 1e-6, "added to the mean square so it never divides by zero", min=1e-12, max=1.0),))


def _check_groups(params, shape) -> None:
    channels, groups = shape[1], params["num_groups"]
    if channels is None:
        return
    if channels % groups:
        divisors = ", ".join(str(d) for d in range(1, min(channels, 64) + 1) if channels % d == 0)
        raise ShapeError("in", f"{channels} channels do not split into {groups} groups — set num_groups to a "
                               f"divisor of {channels} ({divisors})")
    # A group of one value normalises to 0 whatever the input, and torch refuses it outright for a batch of 1.
    if channels == groups and numel(shape[2:]) == 1:
        raise ShapeError("in", f"each of the {groups} groups of {format_shape(shape)} holds a single value, which "
                               f"normalises to 0 whatever the input — use fewer groups (num_groups below "
                               f"{channels}), or normalise where each channel has more values (before Flatten)",
                         stricter="degenerate")


_norm("GroupNorm", "gn", "Normalises groups of channels within each sample (batch-size independent).",
      "(N, C, …)", 2, 1, lambda p, c: _nn().GroupNorm(p["num_groups"], c, p["eps"]),
      (Param("num_groups", "int", 2, "number of channel groups; must divide the channels", min=1, max=4096), EPS),
      check=_check_groups, example=(None, 4, 5, 5))
