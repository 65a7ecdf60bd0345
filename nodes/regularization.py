"""Regularization layers: active while training, the identity in eval mode and in exported models."""

from __future__ import annotations

from .common import dropout_param
from .registry import register
from .spec import NodeSpec, Port


def _dropout_build(params, in_shapes):
    import torch.nn as nn

    return nn.Dropout(params["p"])


register(NodeSpec(
    type_id="Dropout", title="Dropout", category="Regularization", id_prefix="drop",
    doc="Zeroes random activations while training (scaling the rest) so the network cannot rely on any one.",
    inputs=(Port("in"),), outputs=(Port("out"),),
    params=(dropout_param("p", 0.5, "probability of zeroing each activation, in [0, 0.99]"),),
    infer=lambda params, in_shapes: {"out": in_shapes["in"]}, build=_dropout_build,
    example_inputs={"in": (None, 8)},
))
