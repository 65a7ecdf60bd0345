"""Element-wise activations: every one keeps its input's shape."""

from __future__ import annotations

from .common import axis, expect_min_rank
from .registry import register
from .spec import FunctionFn, NodeSpec, Param, Port, ShapeError, format_shape, torch_function


def keep_shape(params, in_shapes):
    return {"out": in_shapes["in"]}


def _softmax_infer(params, in_shapes):
    axis("in", params["dim"], in_shapes["in"])  # raises for a dim the input lacks, or the batch
    return keep_shape(params, in_shapes)


def unary(type_id: str, doc: str, function: FunctionFn, params: tuple[Param, ...] = (), prefix: str | None = None,
          infer=keep_shape, category: str = "Activation") -> NodeSpec:
    """Register a one-input node without weights, declared by its torch function."""
    return register(NodeSpec(
        type_id=type_id, title=type_id, category=category, id_prefix=prefix or type_id.lower(), doc=doc,
        inputs=(Port("in"),), outputs=(Port("out"),), params=params, infer=infer, build=None,
        function=function, example_inputs={"in": (None, 4, 6)},
    ))


def _activation(type_id: str, doc: str, torch_name: str, params: tuple[Param, ...] = (), prefix: str | None = None,
                infer=keep_shape) -> NodeSpec:
    return unary(type_id, doc, torch_function(torch_name, *(p.name for p in params)), params, prefix, infer)


def _hardtanh_infer(params, in_shapes):
    low, high = params["min_val"], params["max_val"]
    if low > high:
        raise ShapeError("in", f"min_val {low} is above max_val {high} — swap them")
    if low == high:
        raise ShapeError("in", f"min_val and max_val are both {low}: every output would be {low} — widen the range",
                         stricter="degenerate")
    return keep_shape(params, in_shapes)


_activation("ReLU", "max(0, x).", "relu")
_activation("ReLU6", "min(max(0, x), 6): a ReLU capped at 6, robust in low-precision inference (MobileNetV2).",
            "nn.functional.relu6", prefix="relu6_")
_activation(
    "LeakyReLU", "x for x > 0, slope·x otherwise.", "nn.functional.leaky_relu",
    (Param("negative_slope", "float", 0.01, "slope for negative inputs", min=0.0, max=1.0),), prefix="lrelu",
)
_activation("GELU", "Gaussian error linear unit (transformers' default).", "nn.functional.gelu",
            (Param("approximate", "choice", "none", "none: the exact erf form; tanh: the tanh approximation "
                   "(GPT-2, BERT)", choices=("none", "tanh")),))
_activation("ELU", "x for x > 0, alpha·(eˣ − 1) otherwise.", "nn.functional.elu",
            (Param("alpha", "float", 1.0, "the value negative inputs approach", min=0.0, max=10.0),))
_activation("SELU", "Scaled ELU with the fixed constants that keep activations normalised.", "selu")
_activation("Softplus", "log(1 + eˣ): a smooth ReLU.", "nn.functional.softplus")
_activation("SiLU", "x·sigmoid(x), also called swish.", "nn.functional.silu")
_activation("Hardswish", "x·hardsigmoid(x): a piecewise-linear swish (SiLU), cheap on phones (MobileNetV3).",
            "nn.functional.hardswish")
_activation("Mish", "x·tanh(softplus(x)): a smooth ReLU with a small dip below 0 (YOLOv4).", "nn.functional.mish")
_activation("Tanh", "Hyperbolic tangent, output in (-1, 1).", "tanh")
_activation(
    "Hardtanh", "x clipped to [min_val, max_val]: a piecewise-linear tanh.", "nn.functional.hardtanh",
    (Param("min_val", "float", -1.0, "the lowest output: smaller inputs become it"),
     Param("max_val", "float", 1.0, "the highest output: larger inputs become it")), infer=_hardtanh_infer,
)
_activation("Sigmoid", "1 / (1 + e⁻ˣ), output in (0, 1).", "sigmoid")
_activation("Hardsigmoid", "min(max(0, x/6 + 1/2), 1): a piecewise-linear sigmoid, cheap on phones "
            "(MobileNetV3's squeeze-and-excitation gate).", "nn.functional.hardsigmoid")
_activation(
    "Softmax", "Normalises along one dimension into probabilities.", "softmax",
    (Param("dim", "int", -1, "dimension that sums to 1", min=-8, max=8),), infer=_softmax_infer,
)
_activation(
    "LogSoftmax", "The log of Softmax, computed stably (pairs with NLL losses).", "log_softmax",
    (Param("dim", "int", -1, "dimension whose exponentials sum to 1", min=-8, max=8),), prefix="logsoftmax",
    infer=_softmax_infer,
)


def _prelu_infer(params, in_shapes):
    x, count = in_shapes["in"], params["num_parameters"]
    if count > 1:
        expect_min_rank("in", x, 2, "(N, C, …)")
        if x[1] is not None and x[1] != count:
            raise ShapeError("in", f"{count} slopes need {count} channels (dim 1), got {format_shape(x)} — set "
                                   f"num_parameters to {x[1]} or 1")
    return keep_shape(params, in_shapes)


def _prelu_build(params, in_shapes):
    import torch.nn as nn

    return nn.PReLU(params["num_parameters"], init=params["slope"])


register(NodeSpec(
    type_id="PReLU", title="PReLU", category="Activation", id_prefix="prelu",
    doc="x for x > 0, a·x otherwise, with the slope a learned (one, or one per channel).",
    inputs=(Port("in"),), outputs=(Port("out"),),
    params=(
        Param("num_parameters", "int", 1, "1 learns one slope; the channel count (dim 1) learns one per channel",
              min=1, max=65536),
        Param("slope", "float", 0.25, "the slope's initial value", min=0.0, max=1.0),
    ),
    infer=_prelu_infer, build=_prelu_build, example_inputs={"in": (None, 4, 6)},
))
