"""Mappings of ONNX ops that hold weights: Gemm/MatMul (+ bias Add), Conv, ConvTranspose, the
normalizations, pools and the embedding lookup."""

from __future__ import annotations

import numpy as np

from . import tables
from .builder import Refusal, handles, tidy
from .loading import OnnxNode


def _linear(b, node: OnnxNode, weight: np.ndarray, bias: np.ndarray | None) -> None:
    """A Linear, sharing the weight of an earlier node holding the same matrix (tied weights, tables.py)."""
    params = {"out_features": int(weight.shape[0]), "bias": bias is not None}
    weights = {"bias": bias} if bias is not None else {}
    if owner := tables.owner_of(b, weight):
        params["tie"] = owner
    else:
        weights["weight"] = weight
    node_id = b.emit(node, "Linear", params, [node.inputs[0]], weights=weights)
    tables.remember(b, node_id, "Linear", weights)


def _no_matrix_product(b, node: OnnxNode) -> None:
    if not b.is_const(node.inputs[1]):
        b.data(node.inputs[0])  # an input refused upstream says so first
        raise Refusal("multiplies two computed tensors; Layerloom maps only a product with a stored weight "
                      "(a Linear layer)")


def gemm_linear(node: OnnxNode, weight: np.ndarray, bias: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """A Gemm's stored weight and bias as a Linear's: (out, in) with alpha applied, and beta·bias."""
    weight = weight * np.float32(node.attrs.get("alpha", 1.0))
    weight = weight if node.attrs.get("transB", 0) else weight.T  # Linear stores (out, in)
    if bias is not None:
        bias = np.broadcast_to(bias.reshape(-1) * np.float32(node.attrs.get("beta", 1.0)), weight.shape[:1])
    return weight, bias


@handles("Gemm")
def gemm(b, node: OnnxNode) -> None:
    _no_matrix_product(b, node)
    if node.attrs.get("transA", 0):
        raise Refusal("transA = 1 transposes the data; only the weight may be transposed")
    weight, bias = b.const(node, 1), b.optional_const(node, 2, "bias")
    outputs = weight.shape[0 if node.attrs.get("transB", 0) else 1]
    if bias is not None and (bias.size not in (1, outputs) or (bias.ndim == 2 and bias.shape[0] != 1)):
        raise Refusal(f"a bias of shape {list(bias.shape)} is not one value per output feature")
    _linear(b, node, *gemm_linear(node, weight, bias))


@handles("MatMul")
def matmul(b, node: OnnxNode) -> None:
    _no_matrix_product(b, node)
    weight = b.const(node, 1)
    if weight.ndim != 2:
        raise Refusal(f"a weight of shape {list(weight.shape)} is not a matrix")
    _linear(b, node, weight.T, None)


def fold_bias(b, node: OnnxNode, constant: np.ndarray, other: str) -> bool:
    """Fold `other + constant` into the bias of the bias-less Linear that produced `other`, when
    nothing else reads that Linear's output and the constant is one value per output feature."""
    if b.consumers.get(other, 0) != 1 or other not in b.refs:
        return False
    node_id, _ = b.refs[other]
    linear = b.doc.nodes[node_id]
    features = linear.params.get("out_features")
    if linear.type_id != "Linear" or linear.params.get("bias") or constant.size != features:
        return False
    if constant.ndim and constant.shape[-1] != features:
        return False
    linear.params["bias"] = True
    b.weights[f"{node_id}.bias"] = constant.reshape(-1).astype(np.float32)
    b.refs[node.outputs[0]] = b.refs[other]
    return True


def _uniform(values, name: str) -> int:
    """The one value of a per-axis attribute (strides [2, 2] → 2)."""
    if len(set(values)) != 1:
        raise Refusal(f"{name} {list(values)} differs between axes; Layerloom takes one value for every axis")
    return int(values[0])


def _window(node: OnnxNode, dims: int) -> tuple[list[int], list[int], list[int]]:
    """(strides, pads, dilations) of a conv or pool over `dims` axes, refusing automatic padding."""
    if node.attrs.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        raise Refusal(f"auto_pad {node.attrs['auto_pad']} pads by the input size; export with explicit padding")
    strides = list(node.attrs.get("strides", [1] * dims))
    pads = list(node.attrs.get("pads", [0] * 2 * dims))
    dilations = list(node.attrs.get("dilations", [1] * dims))
    return strides, pads, dilations


@handles("Conv")
def conv(b, node: OnnxNode) -> None:
    weight = b.const(node, 1)
    dims = weight.ndim - 2
    if dims not in (1, 2, 3):
        raise Refusal(f"a {dims}-D convolution has no Layerloom node (1-D, 2-D and 3-D do)")
    kernel = [int(k) for k in node.attrs.get("kernel_shape", weight.shape[2:])]
    strides, pads, dilations = _window(node, dims)
    bias = b.optional_const(node, 2, "bias")
    params = {"out_channels": int(weight.shape[0]), "stride": _uniform(strides, "strides"),
              "padding": _uniform(pads, "padding"),
              "dilation": _uniform(dilations, "dilations"),
              "groups": int(node.attrs.get("group", 1)), "bias": bias is not None}
    if len(set(kernel)) == 1:
        params["kernel_size"] = kernel[0]
    else:
        params["kernel_shape"] = kernel
    b.emit(node, f"Conv{dims}d", params, [node.inputs[0]],
           weights={"weight": weight} | ({"bias": bias} if bias is not None else {}))


@handles("ConvTranspose")
def conv_transpose(b, node: OnnxNode) -> None:
    weight = b.const(node, 1)
    if weight.ndim != 4 or node.attrs.get("group", 1) != 1:
        raise Refusal("only ungrouped 2-D transposed convolutions have a Layerloom node (ConvTranspose2d)")
    if "output_shape" in node.attrs:
        raise Refusal("output_shape sizes the result from the input; export with explicit pads instead")
    kernel = [int(k) for k in node.attrs.get("kernel_shape", weight.shape[2:])]
    strides, pads, dilations = _window(node, 2)
    output_padding = node.attrs.get("output_padding", [0, 0])
    bias = b.optional_const(node, 2, "bias")
    params = {"out_channels": int(weight.shape[1]), "kernel_size": _uniform(kernel, "kernel"),
              "stride": _uniform(strides, "strides"),
              "padding": _uniform(pads, "padding"),
              "output_padding": _uniform(output_padding, "output_padding"),
              "dilation": _uniform(dilations, "dilations"), "bias": bias is not None}
    b.emit(node, "ConvTranspose2d", params, [node.inputs[0]],
           weights={"weight": weight} | ({"bias": bias} if bias is not None else {}))


@handles("BatchNormalization")
def batch_norm(b, node: OnnxNode) -> None:
    if node.attrs.get("training_mode", 0):
        raise Refusal("training_mode = 1 normalises with the batch's statistics; export the model in eval mode")
    scale, bias, mean, var = (b.const(node, i, what) for i, what in
                              enumerate(("scale", "bias", "running mean", "running variance"), start=1))
    rank = len(b.shape(node.inputs[0]))
    type_id = {2: "BatchNorm1d", 3: "BatchNorm1d", 4: "BatchNorm2d", 5: "BatchNorm3d"}.get(rank)
    if type_id is None:
        raise Refusal(f"normalises a rank-{rank} tensor; BatchNorm nodes take rank 2 to 5")
    momentum = tidy(1.0 - node.attrs.get("momentum", 0.9))  # ONNX keeps the old value's weight
    weights = {"weight": scale, "bias": bias, "running_mean": mean, "running_var": var,
               "num_batches_tracked": np.zeros((), dtype=np.int64)}
    b.emit(node, type_id, {"eps": tidy(node.attrs.get("epsilon", 1e-5)), "momentum": momentum},
           [node.inputs[0]], weights=weights, outputs={"out": node.outputs[0]})


@handles("LayerNormalization")
def layer_norm(b, node: OnnxNode) -> None:
    rank = len(b.shape(node.inputs[0]))
    if node.attrs.get("axis", -1) not in (-1, rank - 1):
        raise Refusal("normalises over several trailing axes; LayerNorm normalises the last one")
    scale = b.const(node, 1, "scale").reshape(-1)
    bias = b.optional_const(node, 2, "bias")
    bias = np.zeros_like(scale) if bias is None else bias.reshape(-1)
    b.emit(node, "LayerNorm", {"eps": tidy(node.attrs.get("epsilon", 1e-5))}, [node.inputs[0]],
           weights={"weight": scale, "bias": bias}, outputs={"out": node.outputs[0]})


@handles("InstanceNormalization")
def instance_norm(b, node: OnnxNode) -> None:
    """Each channel normalised over its own values in each sample: a GroupNorm with one group per channel."""
    scale, bias = b.const(node, 1, "scale").reshape(-1), b.const(node, 2, "bias").reshape(-1)
    b.emit(node, "GroupNorm", {"num_groups": int(scale.size), "eps": tidy(node.attrs.get("epsilon", 1e-5))},
           [node.inputs[0]], weights={"weight": scale, "bias": bias})


def _pool(b, node: OnnxNode, kind: str) -> None:
    if len(node.outputs) > 1 and node.outputs[1]:
        raise Refusal("its second output (the argmax indices) has no Layerloom equivalent")
    kernel = [int(k) for k in node.attrs["kernel_shape"]]
    strides, pads, dilations = _window(node, len(kernel))
    params = {"kernel_size": kernel[0], "stride": strides[0], "padding": _uniform(pads, "padding"),
              "ceil_mode": bool(node.attrs.get("ceil_mode", 0))}
    if len(set(kernel)) > 1:
        params["kernel_shape"] = kernel
    if len(set(strides)) > 1:
        params["strides"] = [int(s) for s in strides]
    if kind == "Max":
        params["dilation"] = _uniform(dilations, "dilations")
    elif set(dilations) != {1}:
        raise Refusal(f"dilations {dilations} space the window out; Layerloom's AvgPool uses contiguous windows")
    else:
        params["count_include_pad"] = bool(node.attrs.get("count_include_pad", 0))
    b.emit(node, f"{kind}Pool{len(kernel)}d", params, [node.inputs[0]])


@handles("MaxPool")
def max_pool(b, node: OnnxNode) -> None:
    _pool(b, node, "Max")


@handles("AveragePool")
def average_pool(b, node: OnnxNode) -> None:
    _pool(b, node, "Avg")


@handles("GlobalAveragePool")
def global_average_pool(b, node: OnnxNode) -> None:
    rank = len(b.shape(node.inputs[0]))
    if rank == 4:
        b.emit(node, "AdaptiveAvgPool2d", {"output_size": 1}, [node.inputs[0]])
    elif rank == 3:
        b.emit(node, "Reduce", {"mode": "mean", "dim": 2, "keepdim": True}, [node.inputs[0]])
    else:
        raise Refusal(f"averages a rank-{rank} tensor; Layerloom maps rank 3 and 4")


@handles("GlobalMaxPool")
def global_max_pool(b, node: OnnxNode) -> None:
    if len(b.shape(node.inputs[0])) != 3:
        raise Refusal("only a global max over a sequence (N, C, L) has a Layerloom equivalent (Reduce)")
    b.emit(node, "Reduce", {"mode": "max", "dim": 2, "keepdim": True}, [node.inputs[0]])


def embedding(b, node: OnnxNode) -> None:
    """Gather rows of a stored (vocabulary, dim) table by token id: an Embedding."""
    table = b.const(node, 0, "table")
    if table.ndim != 2 or node.attrs.get("axis", 0) != 0:
        raise Refusal("only looking up rows of a 2-D table maps to an Embedding")
    node_id = b.emit(node, "Embedding", {"num_embeddings": int(table.shape[0]), "embedding_dim": int(table.shape[1])},
                     [node.inputs[1]], weights={"weight": table})
    tables.remember(b, node_id, "Embedding", {"weight": table})
