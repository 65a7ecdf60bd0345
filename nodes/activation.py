"""Element-wise activations: every one keeps its input's shape."""

from __future__ import annotations

from .common import axis
from .registry import register
from .spec import NodeSpec, Param, Port, torch_function


def _keep_shape(params, in_shapes):
    return {"out": in_shapes["in"]}


def _softmax_infer(params, in_shapes):
    axis("in", params["dim"], in_shapes["in"])  # raises for a dim the input lacks, or the batch
    return _keep_shape(params, in_shapes)


def _activation(type_id: str, doc: str, torch_name: str, params: tuple[Param, ...] = (), prefix: str | None = None,
                infer=_keep_shape) -> NodeSpec:
    return register(NodeSpec(
        type_id=type_id, title=type_id, category="Activation", id_prefix=prefix or type_id.lower(), doc=doc,
        inputs=(Port("in"),), outputs=(Port("out"),), params=params, infer=infer, build=None,
        function=torch_function(torch_name, *(p.name for p in params)), example_inputs={"in": (None, 4, 6)},
    ))


_activation("ReLU", "max(0, x).", "relu")
_activation(
    "LeakyReLU", "x for x > 0, slope·x otherwise.", "nn.functional.leaky_relu",
    (Param("negative_slope", "float", 0.01, "slope for negative inputs", min=0.0, max=1.0),), prefix="lrelu",
)
_activation("GELU", "Gaussian error linear unit (transformers' default).", "nn.functional.gelu")
_activation("SiLU", "x·sigmoid(x), also called swish.", "nn.functional.silu")
_activation("Tanh", "Hyperbolic tangent, output in (-1, 1).", "tanh")
_activation("Sigmoid", "1 / (1 + e⁻ˣ), output in (0, 1).", "sigmoid")
_activation(
    "Softmax", "Normalises along one dimension into probabilities.", "softmax",
    (Param("dim", "int", -1, "dimension that sums to 1", min=-8, max=8),), infer=_softmax_infer,
)
