"""Each call (engine/torch_import/calls.py) as a Layerloom node: its type, its params read from the
ATen op the layer ran (a Conv2d's stride, padding, groups; a Linear's width from its weight), the
inputs in port order, and which source tensors become which of the node's weights.

A handler returns a `Mapped`, or raises `Unmapped` with the reason; a call no handler knows is
reported by its op or module class. The whole graph is checked against the original program's
outputs afterwards (engine/torch_import/__init__.py), so a handler that guessed wrong is caught.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .calls import ATTENTION, Call, aten_name

if TYPE_CHECKING:
    from torch import fx


class Unmapped(Exception):
    """This call has no Layerloom node (yet); the message says what it is and why."""


@dataclass
class Mapped:
    type_id: str
    params: dict[str, Any] = field(default_factory=dict)
    inputs: list[fx.Node] = field(default_factory=list)  # activations, in the node's port order
    # the node's state key ("weight") → the placeholder holding it, or several whose rows are stacked (q, k, v)
    weights: dict[str, fx.Node | tuple[fx.Node, ...]] = field(default_factory=dict)
    name: str = ""  # the node id to give it, when not the call's own
    transposed: frozenset[str] = frozenset()  # state keys whose source tensors are stored (in, out): GPT-2's Conv1D


@dataclass
class Context:
    """What a handler may ask about the program: whether a node is a weight or a value computed from sizes alone
    (engine/torch_import/fixed.py), what such a value means as an attention mask, the shapes of values."""

    is_weight: Callable[[fx.Node], bool]
    shape: Callable[[fx.Node], tuple]
    is_fixed: Callable[[fx.Node], bool] = lambda node: False
    mask_meaning: Callable[[fx.Node], str | None] = lambda node: None


Handler = Callable[[Call, Context], Mapped]
LAYERS: dict[str, Handler] = {}  # a torch.nn module class name → its handler
FUNCTIONS: dict[str, Handler] = {}  # an ATen op name → its handler
PASS_THROUGH = {"contiguous", "clone", "alias", "detach", "lift_fresh_copy", "_assert_tensor_metadata", "getitem"}


def layer(*names: str):
    def register(handler: Handler) -> Handler:
        LAYERS.update(dict.fromkeys(names, handler))
        return handler
    return register


def function(*names: str):
    def register(handler: Handler) -> Handler:
        FUNCTIONS.update(dict.fromkeys(names, handler))
        return handler
    return register


def arguments(node: fx.Node) -> dict[str, Any]:
    """The op's arguments by name, defaults filled in (from the ATen schema)."""
    schema = node.target._schema
    values = {}
    for index, argument in enumerate(schema.arguments):
        if index < len(node.args):
            values[argument.name] = node.args[index]
        elif argument.name in node.kwargs:
            values[argument.name] = node.kwargs[argument.name]
        elif argument.has_default_value():
            values[argument.name] = argument.default_value
    return values


def _single(values, what: str) -> int:
    values = list(values) if isinstance(values, (list, tuple)) else [values]
    if len(set(values)) != 1:
        raise Unmapped(f"{what} {values} differs per axis (the node takes one value for every axis)")
    return int(values[0])


def _data(call: Call, ctx: Context) -> list[fx.Node]:
    """The activations a call reads: not its weights, not the sizes (SymInts) its reshapes read, not the values
    computed from sizes alone (an attention mask built for an unpadded batch)."""
    return [node for node in call.inputs if not ctx.is_weight(node) and not ctx.is_fixed(node) and _is_tensor(node)]


def _is_tensor(node: fx.Node) -> bool:
    import torch

    return isinstance(node.meta.get("val"), torch.Tensor)


def _principal(call: Call, *names: str) -> fx.Node:
    node = call.op(*names)
    if node is None:
        raise Unmapped(f"expected {' or '.join(names)} among its ops, found {', '.join(map(aten_name, call.ops))}")
    return node


# -- layers with weights ---------------------------------------------------------------------------
@layer("Conv1d", "Conv2d", "Conv3d")
def _conv(call: Call, ctx: Context) -> Mapped:
    op = _principal(call, "conv1d", "conv2d", "conv3d")
    a = arguments(op)
    if isinstance(a["padding"], str):
        raise Unmapped(f"padding={a['padding']!r} (give the padding in numbers)")
    weight, bias = a["weight"], a.get("bias")
    shape = ctx.shape(weight)
    params = {"out_channels": shape[0], "kernel_size": shape[2], "kernel_shape": list(shape[2:]),
              "stride": _single(a["stride"], "stride"), "padding": _single(a["padding"], "padding"),
              "dilation": _single(a["dilation"], "dilation"), "groups": int(a["groups"]), "bias": bias is not None}
    weights = {"weight": weight, **({"bias": bias} if bias is not None else {})}
    return Mapped(call.kind.rsplit(".", 1)[-1], params, [a["input"]], weights)


@layer("Linear")
def _linear_layer(call: Call, ctx: Context) -> Mapped:
    return linear(_principal(call, "linear"), ctx)


def linear(op: fx.Node, ctx: Context) -> Mapped:
    a = arguments(op)
    weight, bias = a["weight"], a.get("bias")
    params = {"out_features": ctx.shape(weight)[0], "bias": bias is not None}
    return Mapped("Linear", params, [a["input"]], {"weight": weight, **({"bias": bias} if bias is not None else {})})


@layer("BatchNorm1d", "BatchNorm2d", "BatchNorm3d")
def _batch_norm(call: Call, ctx: Context) -> Mapped:
    op = _principal(call, "batch_norm", "_native_batch_norm_legit_no_training", "native_batch_norm")
    a = arguments(op)
    if a.get("weight") is None:
        raise Unmapped("affine=False (the BatchNorm node always learns a scale and shift)")
    names = ("weight", "bias", "running_mean", "running_var")
    return Mapped(call.kind.rsplit(".", 1)[-1], {"eps": float(a["eps"]), "momentum": float(a["momentum"])},
                  [a["input"]], {name: a[name] for name in names})


@layer("LayerNorm")
def _layer_norm(call: Call, ctx: Context) -> Mapped:
    a = arguments(_principal(call, "layer_norm"))
    if len(a["normalized_shape"]) != 1 or a.get("weight") is None:
        raise Unmapped("normalises more than the last dimension, or has no scale (elementwise_affine=False)")
    weights = {"weight": a["weight"], **({"bias": a["bias"]} if a.get("bias") is not None else {})}
    if "bias" not in weights:
        raise Unmapped("bias=False (the LayerNorm node always learns a shift)")
    return Mapped("LayerNorm", {"eps": float(a["eps"])}, [a["input"]], weights)


@layer("RMSNorm")
def _rms_norm(call: Call, ctx: Context) -> Mapped:
    a = arguments(_principal(call, "rms_norm"))
    if len(a["normalized_shape"]) != 1 or a.get("weight") is None:
        raise Unmapped("normalises more than the last dimension, or has no scale")
    eps = a.get("eps")
    if eps is None:
        raise Unmapped("eps=None (torch then uses the dtype's machine epsilon; give the RMSNorm an eps)")
    return Mapped("RMSNorm", {"eps": float(eps)}, [a["input"]], {"weight": a["weight"]})


@layer("GroupNorm")
def _group_norm(call: Call, ctx: Context) -> Mapped:
    a = arguments(_principal(call, "group_norm"))
    if a.get("weight") is None:
        raise Unmapped("affine=False (the GroupNorm node always learns a scale and shift)")
    return Mapped("GroupNorm", {"num_groups": int(a["num_groups"]), "eps": float(a["eps"])}, [a["input"]],
                  {"weight": a["weight"], "bias": a["bias"]})


@layer("Embedding")
def _embedding(call: Call, ctx: Context) -> Mapped:
    a = arguments(_principal(call, "embedding"))
    rows, width = ctx.shape(a["weight"])
    padding = a.get("padding_idx", -1)
    padding = -1 if padding is None or padding < 0 else int(padding)
    return Mapped("Embedding", {"num_embeddings": rows, "embedding_dim": width, "padding_idx": padding},
                  [a["indices"]], {"weight": a["weight"]})


@layer("MultiheadAttention")
def _attention(call: Call, ctx: Context) -> Mapped:
    sdpa = _principal(call, "scaled_dot_product_attention")
    heads, causal, dropout = _sdpa(sdpa, ctx)
    weights = [node for node in call.inputs if ctx.is_weight(node)]
    data = _data(call, ctx)
    if len(set(data)) != 1:
        raise Unmapped("queries, keys and values differ (cross-attention is mapped only from ONNX today)")
    if len(weights) not in (2, 4):
        raise Unmapped(f"{len(weights)} weight tensors (expected in_proj and out_proj, with or without biases)")
    with_bias = len(weights) == 4
    names = ["qkv.weight", "qkv.bias", "proj.weight", "proj.bias"] if with_bias else ["qkv.weight", "proj.weight"]
    params = {"num_heads": heads, "causal": causal, "bias": with_bias, "dropout": dropout}
    return Mapped("MultiheadAttention", params, data[:1], dict(zip(names, weights, strict=True)))


def _sdpa(sdpa: fx.Node, ctx: Context) -> tuple[int, bool, float]:
    """A scaled_dot_product_attention as the attention node computes it: (heads, causal, dropout). A mask built
    from sizes alone is read for what it is (none, or causal); the default scale 1/√(head width) is required."""
    a = arguments(sdpa)
    heads, width = ctx.shape(sdpa.args[0])[1], ctx.shape(sdpa.args[0])[-1]
    causal, mask = bool(a.get("is_causal")), a.get("attn_mask")
    if mask is not None:
        meaning = ctx.mask_meaning(mask)
        if meaning is None:
            raise Unmapped("an attention mask that depends on the data or is neither full nor causal (the attention "
                           "node takes is_causal or a key-padding mask)")
        causal = causal or meaning == "causal"
    scale = a.get("scale")
    if scale is not None and abs(float(scale) * float(width) ** 0.5 - 1) > 1e-6:
        raise Unmapped(f"scale {scale:.6g} is not 1/√{width} (the attention node scales by 1/√(head width))")
    if a.get("enable_gqa"):
        raise Unmapped("grouped-query attention (fewer key/value heads than query heads)")
    return int(heads), causal, float(a.get("dropout_p") or 0.0)


@layer(ATTENTION)
def _written_attention(call: Call, ctx: Context) -> Mapped:
    """A module that writes self-attention out (GPT's, BERT's): q/k/v projections (one fused, or three), heads,
    scaled_dot_product_attention, an output projection — the attention node, whose one (3E, E) projection
    holds W_q, W_k, W_v stacked. BERT's output projection lives in the next module: then the Mapped holds no
    "proj.weight" and the builder takes it from the Linear that reads the attention (engine/torch_import).
    Whether the heads were split the node's way, the parity check proves."""
    sdpa = _principal(call, "scaled_dot_product_attention")
    heads, causal, dropout = _sdpa(sdpa, ctx)
    data = _data(call, ctx)
    if len(set(data)) != 1:
        raise Unmapped("reads more than one tensor (cross-attention or a mask computed from the data)")
    projections = [projection(op) for op in call.ops if aten_name(op) in PROJECTIONS]
    if not all(ctx.is_weight(weight) for weight, _, _ in projections):
        raise Unmapped("a projection with a computed weight")
    if len({stored for _, _, stored in projections}) > 1:
        raise Unmapped("some projections are Linear and some Conv1D")
    embed = ctx.shape(data[0])[-1]
    rows = [ctx.shape(weight)[1 if stored else 0] for weight, _, stored in projections]
    if len(projections) == 2 and rows[0] == 3 * embed:
        qkv, proj = projections[:1], projections[1:]
    elif len(projections) in (3, 4) and rows[:3] == [embed] * 3:
        qkv, proj = projections[:3], projections[3:]
    else:
        raise Unmapped(f"{len(projections)} projections (expected a fused q/k/v or three, and an output one)")
    biases = [bias for _, bias, _ in (*qkv, *proj)]
    if any(b is None for b in biases) and not all(b is None for b in biases):
        raise Unmapped("some projections have a bias and some not")
    with_bias = biases[0] is not None
    weights = {"qkv.weight": tuple(weight for weight, _, _ in qkv)}
    weights |= {"proj.weight": proj[0][0]} if proj else {}
    if with_bias:
        weights |= {"qkv.bias": tuple(bias for _, bias, _ in qkv)} | ({"proj.bias": proj[0][1]} if proj else {})
    params = {"num_heads": heads, "causal": causal, "bias": with_bias, "dropout": dropout}
    return Mapped("MultiheadAttention", params, data[:1], weights,
                  transposed=frozenset({"qkv.weight", "proj.weight"} if projections[0][2] else ()))


PROJECTIONS = ("linear", "addmm")


def projection(op: fx.Node) -> tuple[fx.Node, fx.Node | None, bool]:
    """A linear map's (weight, bias, stored transposed): `linear(x, W, b)` holds W as (out, in); Hugging Face's
    Conv1D (GPT-2) runs `addmm(b, x, W)` with W stored (in, out)."""
    a = arguments(op)
    if aten_name(op) == "addmm":
        if float(a.get("beta", 1)) != 1 or float(a.get("alpha", 1)) != 1:
            raise Unmapped("addmm with alpha or beta")
        return a["mat2"], a["self"], True
    return a["weight"], a.get("bias"), False


@layer("Conv1D")
def _conv1d_transposed(call: Call, ctx: Context) -> Mapped:
    """Hugging Face's Conv1D (GPT-2): a Linear whose weight is stored (in, out), run on the input folded to
    (N·T, in) and unfolded after — one Linear node, its weight transposed."""
    weight, bias, _ = projection(_principal(call, "addmm"))
    data = _data(call, ctx)
    shapes = {aten_name(op) for op in call.ops} - {"addmm", "view", "reshape", *PASS_THROUGH}
    if len(data) != 1 or shapes or not ctx.is_weight(weight) or not ctx.is_weight(bias):
        raise Unmapped("expected a view, addmm with stored weights, and a view back")
    params = {"out_features": ctx.shape(weight)[1], "bias": True}
    return Mapped("Linear", params, data, {"weight": weight, "bias": bias}, transposed=frozenset({"weight"}))


# -- layers without weights ------------------------------------------------------------------------
SIMPLE = {"relu": "ReLU", "silu": "SiLU", "sigmoid": "Sigmoid", "tanh": "Tanh", "hardswish": "Hardswish",
          "hardsigmoid": "Hardsigmoid", "mish": "Mish", "selu": "SELU", "relu6": "ReLU6", "exp": "Exp",
          "sqrt": "Sqrt", "abs": "Abs", "neg": "Neg"}


@layer("ReLU", "SiLU", "Sigmoid", "Tanh", "Hardswish", "Hardsigmoid", "Mish", "SELU", "ReLU6", "GELU",
       "LeakyReLU", "ELU", "Hardtanh", "Softmax", "LogSoftmax", "Dropout", "Flatten", "MaxPool1d", "MaxPool2d",
       "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool2d", "Softplus", "Identity")
def _functional_layer(call: Call, ctx: Context) -> Mapped:
    """A weightless module runs one functional op (ReLU6 as hardtanh(0, 6)): map that op."""
    ops = [op for op in call.ops if aten_name(op) not in PASS_THROUGH]
    if not ops:
        return Mapped("", {}, _data(call, ctx))  # Identity: the value passes through
    if len(ops) != 1:
        raise Unmapped(f"runs {len(ops)} ops ({', '.join(map(aten_name, ops))})")
    return map_function(ops[0], ctx)


def map_function(op: fx.Node, ctx: Context) -> Mapped:
    name = aten_name(op)
    if name in SIMPLE:
        return Mapped(SIMPLE[name], {}, [op.args[0]])
    handler = FUNCTIONS.get(name)
    if handler is None:
        return generic(op, ctx)
    return handler(Call(op.name, "", "", [op], list(op.all_input_nodes), op), ctx)


def generic(op: fx.Node, ctx: Context) -> Mapped:
    """An op no dedicated node covers, as the generic Op node: its leading tensors wired to a, b, c, the rest
    written as constants (nodes/generic.py). What cannot be written down (a size computed at run time, a
    stored tensor) is refused with the reason."""
    from nodes.generic import op_params

    tensors = []
    for value in op.args:
        if not (hasattr(value, "op") and _is_tensor(value)) or len(tensors) == 3:
            break
        if ctx.is_weight(value):
            raise Unmapped(f"aten.{aten_name(op)} reads a stored tensor ({value.name}), which the Op node cannot hold")
        tensors.append(value)
    constants = op.args[len(tensors):]
    if not tensors or any(hasattr(v, "op") for v in (*constants, *op.kwargs.values())):
        raise Unmapped(f"no node for aten.{aten_name(op)} with these arguments (tensors after constants, or sizes "
                       "computed at run time)")
    try:
        params = op_params(op.target, constants, dict(op.kwargs))
    except ValueError as exc:
        raise Unmapped(str(exc)) from None
    return Mapped("Op", params, tensors)


def _op(call: Call) -> tuple[fx.Node, dict[str, Any]]:
    op = call.ops[-1]
    return op, arguments(op)


@function("gelu")
def _gelu(call: Call, ctx: Context) -> Mapped:
    op, a = _op(call)
    return Mapped("GELU", {"approximate": a.get("approximate", "none")}, [a["self"]])


@function("leaky_relu")
def _leaky(call: Call, ctx: Context) -> Mapped:
    op, a = _op(call)
    return Mapped("LeakyReLU", {"negative_slope": float(a["negative_slope"])}, [a["self"]])


@function("elu")
def _elu(call: Call, ctx: Context) -> Mapped:
    op, a = _op(call)
    if float(a.get("scale", 1)) != 1 or float(a.get("input_scale", 1)) != 1:
        raise Unmapped("elu with a scale")
    return Mapped("ELU", {"alpha": float(a["alpha"])}, [a["self"]])


@function("softplus")
def _softplus(call: Call, ctx: Context) -> Mapped:
    op, a = _op(call)
    if float(a.get("beta", 1)) != 1 or float(a.get("threshold", 20)) != 20:
        raise Unmapped("softplus with beta or threshold changed")
    return Mapped("Softplus", {}, [a["self"]])


@function("hardtanh")
def _hardtanh(call: Call, ctx: Context) -> Mapped:
    op, a = _op(call)
    low, high = float(a["min_val"]), float(a["max_val"])
    if (low, high) == (0.0, 6.0):
        return Mapped("ReLU6", {}, [a["self"]])
    return Mapped("Hardtanh", {"min_val": low, "max_val": high}, [a["self"]])


@function("softmax", "_softmax", "log_softmax", "_log_softmax")
def _softmax(call: Call, ctx: Context) -> Mapped:
    op, a = _op(call)
    kind = "LogSoftmax" if "log" in aten_name(op) else "Softmax"
    return Mapped(kind, {"dim": int(a["dim"])}, [a["self"]])


@function("dropout")
def _dropout(call: Call, ctx: Context) -> Mapped:
    op, a = _op(call)
    return Mapped("Dropout", {"p": float(a["p"])}, [a["input"]])


@function("flatten")
def _flatten(call: Call, ctx: Context) -> Mapped:
    op, a = _op(call)
    rank = len(ctx.shape(a["self"]))
    start, end = int(a["start_dim"]) % rank, int(a["end_dim"]) % rank
    if end != rank - 1 or start == 0:
        raise Unmapped(f"flatten({start}, {end}) of a rank-{rank} tensor (the node flattens from start_dim to the "
                       "end, keeping the batch)")
    return Mapped("Flatten", {"start_dim": start}, [a["self"]])


@function("max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d")
def _pool(call: Call, ctx: Context) -> Mapped:
    op, a = _op(call)
    name = aten_name(op)
    kind = ("MaxPool" if name.startswith("max") else "AvgPool") + name[-2:]
    kernel = list(a["kernel_size"]) if isinstance(a["kernel_size"], (list, tuple)) else [a["kernel_size"]]
    stride = list(a["stride"]) if a.get("stride") else kernel
    params = {"kernel_size": kernel[0], "kernel_shape": kernel, "strides": stride,
              "padding": _single(a["padding"], "padding"), "ceil_mode": bool(a["ceil_mode"])}
    if name.startswith("max"):
        params["dilation"] = _single(a["dilation"], "dilation")
    else:
        if a.get("divisor_override") is not None:
            raise Unmapped("divisor_override is set")
        params["count_include_pad"] = bool(a["count_include_pad"])
    return Mapped(kind, params, [a["self"]])


@function("adaptive_avg_pool2d")
def _adaptive(call: Call, ctx: Context) -> Mapped:
    op, a = _op(call)
    return Mapped("AdaptiveAvgPool2d", {"output_size": _single(a["output_size"], "output_size")}, [a["self"]])


@function("mean", "sum", "amax", "amin")
def _reduce(call: Call, ctx: Context) -> Mapped:
    op, a = _op(call)
    dims = a.get("dim")
    if not isinstance(dims, (list, tuple)) or len(dims) != 1:
        raise Unmapped(f"{aten_name(op)} over dims {dims} (the Reduce node takes one dimension)")
    mode = {"mean": "mean", "sum": "sum", "amax": "max", "amin": "min"}[aten_name(op)]
    return Mapped("Reduce", {"mode": mode, "dim": int(dims[0]), "keepdim": bool(a.get("keepdim"))}, [a["self"]])


@function("add", "mul", "sub", "div")
def _binary(call: Call, ctx: Context) -> Mapped:
    op, a = _op(call)
    left, right = a["self"], a["other"]
    if not all(hasattr(v, "op") for v in (left, right)):
        return generic(op, ctx)  # x * 0.5: the Op node holds the constant
    if float(a.get("alpha", 1)) != 1 or a.get("rounding_mode") is not None:
        raise Unmapped(f"{aten_name(op)} with alpha or rounding_mode")
    kind = {"add": "Add", "mul": "Multiply", "sub": "Subtract", "div": "Divide"}[aten_name(op)]
    return Mapped(kind, {}, [left, right])


@function("cat", "concat")
def _cat(call: Call, ctx: Context) -> Mapped:
    op, a = _op(call)
    tensors = list(a["tensors"])
    if not 2 <= len(tensors) <= 4:
        raise Unmapped(f"cat of {len(tensors)} tensors (the Concat node joins 2 to 4)")
    return Mapped("Concat", {"dim": int(a["dim"])}, tensors)


@function("view", "reshape", "_unsafe_view")
def _reshape(call: Call, ctx: Context) -> Mapped:
    op, a = _op(call)
    size = list(a.get("size", a.get("shape")))
    if not size or not (hasattr(size[0], "op") or size[0] == -1):
        raise Unmapped(f"a reshape to {size} fixes the batch size (export with a dynamic batch)")
    rest = size[1:]
    if any(hasattr(v, "op") for v in rest):
        raise Unmapped(f"a reshape to sizes computed from the input ({size})")
    return Mapped("Reshape", {"shape": [int(v) for v in rest]}, [a["self"]])


@function("permute")
def _permute(call: Call, ctx: Context) -> Mapped:
    op, a = _op(call)
    dims = [int(d) % len(ctx.shape(a["self"])) for d in a["dims"]]
    if dims[0] != 0:
        raise Unmapped(f"permute{tuple(dims)} moves the batch axis")
    return Mapped("Permute", {"dims": dims[1:]}, [a["self"]])


@function("transpose")
def _transpose(call: Call, ctx: Context) -> Mapped:
    op, a = _op(call)
    rank = len(ctx.shape(a["self"]))
    i, j = int(a["dim0"]) % rank, int(a["dim1"]) % rank
    if 0 in (i, j):
        raise Unmapped("transpose moves the batch axis")
    dims = list(range(1, rank))
    dims[i - 1], dims[j - 1] = dims[j - 1], dims[i - 1]
    return Mapped("Permute", {"dims": dims}, [a["self"]])


@function("linear")
def _linear_function(call: Call, ctx: Context) -> Mapped:
    op, a = _op(call)
    if not ctx.is_weight(a["weight"]):
        raise Unmapped("linear with a computed weight")
    return linear(op, ctx)
