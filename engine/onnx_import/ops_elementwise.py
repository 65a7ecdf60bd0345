"""Mappings of element-wise ONNX ops: activations, softmaxes, clipping, and sums, differences, products,
quotients and powers of tensors (two computed tensors broadcasting against each other, or one and a fixed
exponent)."""

from __future__ import annotations

import math

from . import ops_generic, ops_tensors, tables
from .builder import Refusal, handles, tidy
from .loading import OnnxNode
from .ops_layers import fold_bias

# ops that are one Layerloom node without params
ONE_TO_ONE = {"Relu": "ReLU", "Sigmoid": "Sigmoid", "Tanh": "Tanh", "Softplus": "Softplus", "HardSwish": "Hardswish",
              "Mish": "Mish", "Exp": "Exp", "Sqrt": "Sqrt", "Neg": "Neg", "Abs": "Abs"}
SELU_ALPHA, SELU_GAMMA = 1.6732632423543772, 1.0507009873554805  # torch's fixed constants
HARDSIGMOID_ALPHA, HARDSIGMOID_BETA = 1 / 6, 0.5  # torch's x/6 + 1/2 (ONNX's default alpha is 0.2)


@handles("Identity", "Dropout")
def identity(b, node: OnnxNode) -> None:
    """At inference Dropout passes its input through (its mask output must be unused)."""
    if len(node.outputs) > 1 and node.outputs[1]:
        raise Refusal("its mask output has no Layerloom equivalent")
    b.alias(node.outputs[0], node.inputs[0])


@handles(*ONE_TO_ONE)
def one_to_one(b, node: OnnxNode) -> None:
    b.emit(node, ONE_TO_ONE[node.op], {}, [node.inputs[0]])


@handles("Gelu")
def gelu(b, node: OnnxNode) -> None:
    b.emit(node, "GELU", {"approximate": node.attrs.get("approximate", "none")}, [node.inputs[0]])


@handles("LeakyRelu")
def leaky_relu(b, node: OnnxNode) -> None:
    b.emit(node, "LeakyReLU", {"negative_slope": tidy(node.attrs.get("alpha", 0.01))}, [node.inputs[0]])


@handles("Elu")
def elu(b, node: OnnxNode) -> None:
    b.emit(node, "ELU", {"alpha": tidy(node.attrs.get("alpha", 1.0))}, [node.inputs[0]])


def _fixed_constants(node: OnnxNode, type_id: str, **constants: tuple[float, float]) -> None:
    """Refuse unless every attribute (its ONNX default when absent) is the constant Layerloom's `type_id`
    fixes: `name=(torch's value, ONNX's default)`."""
    found = {name: node.attrs.get(name, default) for name, (_, default) in constants.items()}
    if not all(math.isclose(found[name], value, rel_tol=1e-5) for name, (value, _) in constants.items()):
        values = " and ".join(f"{name} {tidy(value)}" for name, value in found.items())
        wanted = " and ".join(f"{tidy(value)}" for value, _ in constants.values())
        raise Refusal(f"{values} are not torch's {wanted}; Layerloom's {type_id} fixes them")


@handles("Selu")
def selu(b, node: OnnxNode) -> None:
    _fixed_constants(node, "SELU", alpha=(SELU_ALPHA, SELU_ALPHA), gamma=(SELU_GAMMA, SELU_GAMMA))
    b.emit(node, "SELU", {}, [node.inputs[0]])


@handles("HardSigmoid")
def hard_sigmoid(b, node: OnnxNode) -> None:
    _fixed_constants(node, "Hardsigmoid", alpha=(HARDSIGMOID_ALPHA, 0.2), beta=(HARDSIGMOID_BETA, 0.5))
    b.emit(node, "Hardsigmoid", {}, [node.inputs[0]])


def _bound(b, node: OnnxNode, index: int, what: str, unbounded: float) -> float | None:
    """A Clip's min or max (stored constants from opset 11 on), None when absent or infinite."""
    value = b.optional_const(node, index, what)
    if value is None:
        return None
    if value.size != 1:
        raise Refusal(f"its {what} of shape {list(value.shape)} is not one value")
    value = float(value.reshape(()))
    return None if value == unbounded else tidy(value)


@handles("Clip")
def clip(b, node: OnnxNode) -> None:
    """ReLU6 for [0, 6], ReLU for [0, ∞), Hardtanh for other ranges; Clamp where one side is open."""
    low, high = _bound(b, node, 1, "min", -math.inf), _bound(b, node, 2, "max", math.inf)
    if low is None and high is None:
        b.alias(node.outputs[0], node.inputs[0])
    elif (low, high) in ((0, 6), (0, None)):
        b.emit(node, "ReLU6" if high else "ReLU", {}, [node.inputs[0]])
    elif low is not None and high is not None:
        b.emit(node, "Hardtanh", {"min_val": low, "max_val": high}, [node.inputs[0]])
    else:
        bound = {"use_min": True, "min": low} if high is None else {"use_max": True, "max": high}
        b.emit(node, "Clamp", {"use_min": False, "use_max": False} | bound, [node.inputs[0]])


def _softmax_dim(b, node: OnnxNode) -> int:
    axis = int(node.attrs.get("axis", -1))
    rank = len(b.shape(node.inputs[0]))
    if axis % rank == 0:
        raise Refusal("normalises across the batch axis; Layerloom nodes never mix samples")
    return axis


@handles("Softmax")
def softmax(b, node: OnnxNode) -> None:
    b.emit(node, "Softmax", {"dim": _softmax_dim(b, node)}, [node.inputs[0]])


@handles("LogSoftmax")
def log_softmax(b, node: OnnxNode) -> None:
    b.emit(node, "LogSoftmax", {"dim": _softmax_dim(b, node)}, [node.inputs[0]])


@handles("PRelu")
def prelu(b, node: OnnxNode) -> None:
    """One learned slope, or one per channel (axis 1) — the two forms torch's PReLU has."""
    slope = b.const(node, 1, "slope")
    shape = b.shape(node.inputs[0])
    aligned = (1,) * (len(shape) - slope.ndim) + slope.shape  # numpy broadcasting against the input
    per_channel = len(aligned) == len(shape) and all(s == 1 for i, s in enumerate(aligned) if i != 1)
    # before opset 7 a 1-D slope always meant one per channel
    per_channel |= slope.ndim == 1 and b.model.source_opset < 7
    if slope.size == 1:
        count = 1
    elif per_channel:  # (C, 1, …, 1) or (1, C, 1, …) against (N, C, …)
        count = int(slope.size)
    else:
        raise Refusal(f"a slope of shape {list(slope.shape)} is neither one value nor one per channel")
    b.emit(node, "PReLU", {"num_parameters": count}, [node.inputs[0]], weights={"weight": slope.reshape(-1)})


def _binary(b, node: OnnxNode, type_id: str) -> None:
    """Two tensors that broadcast against each other (the batch first in both); a stored one becomes a node
    holding it (ops_tensors.py)."""
    computed = [name for name in node.inputs if not b.is_const(name)]
    if not computed:
        raise Refusal("combines two stored constants; nothing here depends on the input")
    rank = len(b.shape(computed[0]))
    inputs = [name if not b.is_const(name) else ops_tensors.operand(b, name, rank) for name in node.inputs]
    b.emit(node, type_id, {}, inputs)


@handles("Add")
def add(b, node: OnnxNode) -> None:
    """A sum of two computed tensors; a Linear's bias; or a table added to every sequence, step by
    step — a learned PositionalEncoding holding that table (a sinusoidal one comes out this way), the whole
    table where the model reads its first T rows by the input's length (tables.py)."""
    if tables.positional(b, node):
        return
    constant = next((name for name in node.inputs if b.is_const(name)), None)
    other = next((name for name in node.inputs if not b.is_const(name)), None)
    if constant is not None and other is not None:
        table = b.model.constants[constant]
        if fold_bias(b, node, table, other):
            return
        shape = b.shape(other)
        if len(shape) == 3 and table.shape in (shape[1:], (1, *shape[1:])):
            steps, dim = shape[1:]
            b.emit(node, "PositionalEncoding", {"kind": "learned", "max_len": steps}, [other],
                   weights={"pe": table.reshape(steps, dim)})
            return
    _binary(b, node, "Add")


@handles("Mul")
def mul(b, node: OnnxNode) -> None:
    _binary(b, node, "Multiply")


@handles("Sub")
def sub(b, node: OnnxNode) -> None:
    _binary(b, node, "Subtract")


@handles("Div")
def div(b, node: OnnxNode) -> None:
    _binary(b, node, "Divide")


@handles("Pow")
def power(b, node: OnnxNode) -> None:
    """A computed tensor to a fixed power: Layerloom's Pow (the power 1 changes nothing); to a computed power, the
    generic Op calling aten.pow."""
    if not b.is_const(node.inputs[1]):
        ops_generic.emit(b, node, "pow", {}, 2)
        return
    exponent = b.const(node, 1, "exponent")
    if exponent.size != 1:
        raise Refusal(f"an exponent of shape {list(exponent.shape)} is not one value for every element")
    exponent = tidy(float(exponent.reshape(())))
    if exponent == 1:
        b.alias(node.outputs[0], node.inputs[0])
    else:
        b.emit(node, "Pow", {"exponent": exponent}, [node.inputs[0]])
