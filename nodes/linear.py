"""Fully connected layers. Input features are inferred from the incoming shape."""

from __future__ import annotations

from .common import BIAS_PARAM, INIT_PARAM, expect_rank, numel, rank_hint
from .registry import register
from .spec import NodeSpec, Param, Port


def _linear_infer(params, in_shapes):
    x = in_shapes["in"]
    expect_rank("in", x, (2, 3), "(N, features) or (N, T, features)", rank_hint(x, 2))
    return {"out": (*x[:-1], params["out_features"])}


def _linear_build(params, in_shapes):
    import torch.nn as nn

    if params["tie"]:  # the compiler binds it to the named node's weight
        from .layers.tied import TiedLinear

        return TiedLinear(in_shapes["in"][-1], params["out_features"], params["bias"])
    return nn.Linear(in_shapes["in"][-1], params["out_features"], bias=params["bias"])


def _linear_macs(params, in_shapes, out_shapes):
    return numel(out_shapes["out"]) * in_shapes["in"][-1]  # every output value sums over the input features


LINEAR = register(NodeSpec(
    type_id="Linear", title="Linear", category="Linear", id_prefix="fc",
    doc="y = x·Wᵀ + b over the last dimension (a dense / fully connected layer).",
    inputs=(Port("in", "(N, F) or (N, T, F)"),),
    outputs=(Port("out"),),
    params=(
        Param("out_features", "int", 64, "number of output features", min=1, max=1_000_000),
        BIAS_PARAM,
        INIT_PARAM,
        Param("tie", "str", "", "id of an Embedding or Linear whose weight matrix this layer uses instead of its "
              "own (GPT's output projection shares the token embedding's table); empty: its own weight"),
    ),
    infer=_linear_infer, build=_linear_build, macs=_linear_macs,
    example_inputs={"in": (None, 32)},
))
