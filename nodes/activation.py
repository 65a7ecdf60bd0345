"""Element-wise activations: every one keeps its input's shape."""

from __future__ import annotations

from .common import axis
from .registry import register
from .spec import NodeSpec, Param, Port


def _keep_shape(params, in_shapes):
    return {"out": in_shapes["in"]}


def _softmax_infer(params, in_shapes):
    axis("in", params["dim"], in_shapes["in"])  # raises for a dim the input lacks, or the batch
    return _keep_shape(params, in_shapes)


def _activation(type_id: str, doc: str, make, params: tuple[Param, ...] = (), prefix: str | None = None,
                infer=_keep_shape) -> NodeSpec:
    return register(NodeSpec(
        type_id=type_id, title=type_id, category="Activation", id_prefix=prefix or type_id.lower(), doc=doc,
        inputs=(Port("in"),), outputs=(Port("out"),), params=params,
        infer=infer, build=lambda p, s: make(p), example_inputs={"in": (None, 4, 6)},
    ))


def _nn():
    import torch.nn as nn

    return nn


_activation("ReLU", "max(0, x).", lambda p: _nn().ReLU())
_activation(
    "LeakyReLU", "x for x > 0, slope·x otherwise.", lambda p: _nn().LeakyReLU(p["negative_slope"]),
    (Param("negative_slope", "float", 0.01, "slope for negative inputs", min=0.0, max=1.0),), prefix="lrelu",
)
_activation("GELU", "Gaussian error linear unit (transformers' default).", lambda p: _nn().GELU())
_activation("SiLU", "x·sigmoid(x), also called swish.", lambda p: _nn().SiLU())
_activation("Tanh", "Hyperbolic tangent, output in (-1, 1).", lambda p: _nn().Tanh())
_activation("Sigmoid", "1 / (1 + e⁻ˣ), output in (0, 1).", lambda p: _nn().Sigmoid())
_activation(
    "Softmax", "Normalises along one dimension into probabilities.", lambda p: _nn().Softmax(dim=p["dim"]),
    (Param("dim", "int", -1, "dimension that sums to 1", min=-8, max=8),), infer=_softmax_infer,
)
