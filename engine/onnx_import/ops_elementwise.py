"""Mappings of element-wise ONNX ops: activations, softmaxes, and sums and products of two tensors."""

from __future__ import annotations

import math

from .builder import Refusal, handles, tidy
from .loading import OnnxNode
from .ops_layers import fold_bias

ACTIVATIONS = {"Relu": "ReLU", "Sigmoid": "Sigmoid", "Tanh": "Tanh", "Softplus": "Softplus"}
SELU_ALPHA, SELU_GAMMA = 1.6732632423543772, 1.0507009873554805  # torch's fixed constants


@handles("Identity", "Dropout")
def identity(b, node: OnnxNode) -> None:
    """At inference Dropout passes its input through (its mask output must be unused)."""
    if len(node.outputs) > 1 and node.outputs[1]:
        raise Refusal("its mask output has no Layerloom equivalent")
    b.alias(node.outputs[0], node.inputs[0])


@handles(*ACTIVATIONS)
def activation(b, node: OnnxNode) -> None:
    b.emit(node, ACTIVATIONS[node.op], {}, [node.inputs[0]])


@handles("Gelu")
def gelu(b, node: OnnxNode) -> None:
    b.emit(node, "GELU", {"approximate": node.attrs.get("approximate", "none")}, [node.inputs[0]])


@handles("LeakyRelu")
def leaky_relu(b, node: OnnxNode) -> None:
    b.emit(node, "LeakyReLU", {"negative_slope": tidy(node.attrs.get("alpha", 0.01))}, [node.inputs[0]])


@handles("Elu")
def elu(b, node: OnnxNode) -> None:
    b.emit(node, "ELU", {"alpha": tidy(node.attrs.get("alpha", 1.0))}, [node.inputs[0]])


@handles("Selu")
def selu(b, node: OnnxNode) -> None:
    alpha, gamma = node.attrs.get("alpha", SELU_ALPHA), node.attrs.get("gamma", SELU_GAMMA)
    if not (math.isclose(alpha, SELU_ALPHA, rel_tol=1e-5) and math.isclose(gamma, SELU_GAMMA, rel_tol=1e-5)):
        raise Refusal(f"alpha {alpha} and gamma {gamma} are not SELU's constants; Layerloom's SELU fixes them")
    b.emit(node, "SELU", {}, [node.inputs[0]])


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


def _binary(b, node: OnnxNode, type_id: str, verb: str) -> None:
    constants = [name for name in node.inputs if b.is_const(name)]
    if not constants:
        b.emit(node, type_id, {}, list(node.inputs))
        return
    other = next((name for name in node.inputs if not b.is_const(name)), None)
    if other is not None:
        b.data(other)  # an input refused upstream says so first
    raise Refusal(f"{verb} a stored constant; Layerloom has no node for that (only a Linear layer's bias)")


@handles("Add")
def add(b, node: OnnxNode) -> None:
    """A sum of two computed tensors; a Linear's bias; or a table added to every sequence, step by
    step — a learned PositionalEncoding holding that table (a sinusoidal one comes out this way)."""
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
    _binary(b, node, "Add", "adds")


@handles("Mul")
def mul(b, node: OnnxNode) -> None:
    _binary(b, node, "Multiply", "multiplies by")
