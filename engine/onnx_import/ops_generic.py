"""ONNX ops with no node of their own, mapped onto the generic Op node (nodes/generic.py): the ATen operator that
computes the same thing, with the ONNX attributes translated into its constant arguments. So a model is not
refused for one Erf, Where or CumSum; the graph trains and exports like any other.

Each entry of the tables below names the ATen operator; `_ARGS` translates attributes where there are any.
A computed input becomes a wire; a stored one-value input at the end becomes a constant argument (`lt(x, 0.5)`);
any other stored input becomes a Parameter or Constant node holding it (ops_tensors.py). Ops that read or write
along an axis refuse the batch axis, as every mapping does."""

from __future__ import annotations

from nodes.generic import op_params

from . import ops_tensors
from .builder import Refusal, handles
from .loading import OnnxNode
from .ops_shape import int_list, not_batch

# ops computing element by element, under the ATen name; every input is an operand
ELEMENTWISE = {
    "Erf": "erf", "Floor": "floor", "Ceil": "ceil", "Log": "log", "Reciprocal": "reciprocal", "Sign": "sign",
    "Sin": "sin", "Cos": "cos", "Tan": "tan", "Asin": "asin", "Acos": "acos", "Atan": "atan", "Sinh": "sinh",
    "Cosh": "cosh", "Round": "round", "Not": "logical_not", "IsNaN": "isnan",
    "Less": "lt", "LessOrEqual": "le", "Greater": "gt", "GreaterOrEqual": "ge", "Equal": "eq",
    "And": "logical_and", "Or": "logical_or", "Xor": "logical_xor", "Where": "where",
}
# ONNX element types (onnx.TensorProto) a Cast may convert to, as torch names them
CAST_TYPES = {1: "float32", 2: "uint8", 3: "int8", 5: "int16", 6: "int32", 7: "int64", 9: "bool", 10: "float16",
              11: "float64", 16: "bfloat16"}


def _operands(b, node: OnnxNode, count: int) -> tuple[list[str], list]:
    """The first `count` inputs as (wires, trailing constant arguments)."""
    names = [name for name in node.inputs[:count] if name]
    computed = [name for name in names if not b.is_const(name)]
    if not computed:
        raise Refusal("computes from stored constants alone; nothing here depends on the input")
    rank = len(b.shape(computed[0]))
    trailing = []
    while names and b.is_const(names[-1]) and b.model.constants[names[-1]].size == 1:
        trailing.insert(0, b.model.constants[names.pop()].reshape(()).item())
    return [name if not b.is_const(name) else ops_tensors.operand(b, name, rank) for name in names], trailing


def emit(b, node: OnnxNode, op: str, args: dict | list, count: int) -> None:
    wires, trailing = _operands(b, node, count)
    if trailing and args:
        raise Refusal(f"takes a stored value for input {len(wires)}, which aten.{op} takes only as a tensor")
    b.emit(node, "Op", op_params(op, trailing, args), wires)


@handles(*ELEMENTWISE)
def elementwise(b, node: OnnxNode) -> None:
    emit(b, node, ELEMENTWISE[node.op], {}, len(node.inputs))


@handles("Max", "Min")
def extreme(b, node: OnnxNode) -> None:
    """The element-wise largest (smallest) of two tensors."""
    if len([name for name in node.inputs if name]) != 2:
        raise Refusal(f"takes {len(node.inputs)} inputs; Layerloom maps the {node.op} of two")
    emit(b, node, "maximum" if node.op == "Max" else "minimum", {}, 2)


@handles("Mod")
def mod(b, node: OnnxNode) -> None:
    """fmod = 1 keeps the dividend's sign (C's fmod), 0 the divisor's (Python's %)."""
    emit(b, node, "fmod" if node.attrs.get("fmod", 0) else "remainder", {}, 2)


@handles("Cast")
def cast(b, node: OnnxNode) -> None:
    to = int(node.attrs["to"])
    if to not in CAST_TYPES:
        raise Refusal(f"casts to ONNX element type {to}, which Layerloom's tensors do not take")
    emit(b, node, "to", {"dtype": f"torch.{CAST_TYPES[to]}"}, 1)


@handles("IsInf")
def is_inf(b, node: OnnxNode) -> None:
    if not (node.attrs.get("detect_negative", 1) and node.attrs.get("detect_positive", 1)):
        raise Refusal("detects infinities of one sign only; Layerloom maps IsInf of both signs")
    emit(b, node, "isinf", {}, 1)


@handles("Celu")
def celu(b, node: OnnxNode) -> None:
    emit(b, node, "celu", {"alpha": float(node.attrs.get("alpha", 1.0))}, 1)


@handles("Shrink")
def shrink(b, node: OnnxNode) -> None:
    """Hard shrinkage (bias 0) or soft shrinkage (bias = lambd); other biases have no ATen operator."""
    lambd, bias = float(node.attrs.get("lambd", 0.5)), float(node.attrs.get("bias", 0.0))
    if bias not in (0.0, lambd):
        raise Refusal(f"shrinks by {lambd} with bias {bias}; Layerloom maps bias 0 (hard) or bias = lambd (soft)")
    emit(b, node, "softshrink" if bias else "hardshrink", {"lambd": lambd}, 1)


def _axis(b, node: OnnxNode, axis: int, what: str) -> int:
    return not_batch(int(axis), len(b.shape(node.inputs[0])), what)


@handles("CumSum")
def cumsum(b, node: OnnxNode) -> None:
    if node.attrs.get("exclusive", 0) or node.attrs.get("reverse", 0):
        raise Refusal("sums exclusively or in reverse; Layerloom maps the plain running sum")
    axis = b.const(node, 1, "axis").reshape(-1)
    emit(b, node, "cumsum", {"dim": _axis(b, node, axis[0], "sums along")}, 1)


@handles("ArgMax", "ArgMin")
def arg_extreme(b, node: OnnxNode) -> None:
    if node.attrs.get("select_last_index", 0):
        raise Refusal("picks the last of equal values; torch picks the first")
    dim = _axis(b, node, node.attrs.get("axis", 0), "searches along")
    emit(b, node, node.op.lower(), {"dim": dim, "keepdim": bool(node.attrs.get("keepdims", 1))}, 1)


# reductions with no Reduce node: (ATen operator, extra keyword arguments)
REDUCTIONS = {"ReduceProd": ("prod", {}), "ReduceL1": ("linalg_vector_norm", {"ord": 1}),
              "ReduceL2": ("linalg_vector_norm", {"ord": 2}), "ReduceLogSumExp": ("logsumexp", {})}


@handles(*REDUCTIONS)
def reduce(b, node: OnnxNode) -> None:
    op, extra = REDUCTIONS[node.op]
    axes = int_list(b, node, "axes", 1)
    if not axes:
        raise Refusal("reduces every axis, the batch included; Layerloom never mixes samples")
    dims = sorted({_axis(b, node, a, "reduces") for a in axes})
    if op == "prod" and len(dims) > 1:
        raise Refusal(f"multiplies over axes {dims} at once; aten.prod takes one axis")
    dim = dims[0] if op == "prod" else dims
    emit(b, node, op, {**extra, "dim": dim, "keepdim": bool(node.attrs.get("keepdims", 1))}, 1)
