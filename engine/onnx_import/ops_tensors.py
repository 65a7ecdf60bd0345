"""Stored tensors used as operands: a ConvNeXt layer scale multiplying the map, a position table added to the
tokens, a scale dividing attention scores, ViT's class token expanded over the batch. Each becomes a node
holding the tensor — a learned Parameter, or a fixed Constant for one value (a literal such as 0.5 or √d) or
values a learned tensor cannot hold (±inf in a mask) — whose output is the tensor repeated over the batch, so it
meets the other operand through Layerloom's broadcasting nodes. One node per stored tensor and shape, however
often it is used: a tensor read twice stays one tensor."""

from __future__ import annotations

import numpy as np

from . import sizes
from .builder import Refusal, handles
from .loading import OnnxNode


def operand(b, name: str, rank: int) -> str:
    """The tensor carrying stored tensor `name` as (N, …) of `rank` dims (sizes aligned from the right, as ONNX
    broadcasts), emitted as a Parameter or Constant node the first time it is asked for."""
    value = b.model.constants[name]
    if value.ndim > rank:
        raise Refusal(f"its stored operand {name!r} of shape {list(value.shape)} has more dims than the computed one")
    aligned = (1,) * (rank - value.ndim) + value.shape
    if aligned[0] != 1:
        raise Refusal(f"its stored operand {name!r} of shape {list(value.shape)} holds values per sample of a fixed "
                      "batch; Layerloom's batch is free")
    return repeated(b, name, value.reshape(aligned[1:]))


def repeated(b, name: str, value: np.ndarray, holder: OnnxNode | None = None) -> str:
    """The tensor carrying `value` (the sample shape of stored tensor `name`) repeated over the batch; the node
    holding it is named after `holder`'s module path, by default after `name`."""
    if value.dtype != np.float32:
        raise Refusal(f"its stored operand {name!r} holds {value.dtype} values; Layerloom's Parameter and Constant "
                      "hold float32")
    tensor = f"{name}/{'x'.join(map(str, value.shape)) or 'scalar'}"
    if tensor in b.refs:
        return tensor
    like = next((i for i in b.model.inputs if i in b.refs), None)
    if like is None:
        raise Refusal("no graph input was imported to take the batch size from")
    params = {"shape": [int(d) for d in value.shape]}
    first = float(value.reshape(-1)[0]) if value.size else 0.0
    fixed = value.size == 1 or not np.isfinite(value).all()
    if fixed:
        params["value"] = first if np.isfinite(first) else 0.0
    holder = holder or OnnxNode(name, "Constant", "", (), (tensor,), {}, tuple(name.replace("/", ".").split(".")), None)
    b.emit(holder, "Constant" if fixed else "Parameter", params, [like], outputs={"out": tensor}, check_shapes=False,
           weights={"value": value})
    return tensor


@handles("Expand", "Tile")
def expand(b, node: OnnxNode) -> None:
    """A stored tensor repeated over the batch (ViT's class token, `cls_token.expand(N, -1, -1)`)."""
    if not b.is_const(node.inputs[0]):
        b.data(node.inputs[0])  # an input refused upstream says so first
        raise Refusal("repeats a computed tensor to a size read at run time; Layerloom maps only a stored tensor "
                      "repeated over the batch (a class token)")
    value = b.model.constants[node.inputs[0]]
    after = b.model.shapes.get(node.outputs[0])
    if after is None or not all(isinstance(d, int) for d in after[1:]):  # a size shape inference left unknown
        after = sizes.expanded(b, node, value.shape) if node.op == "Expand" else b.onnx_shape(node.outputs[0])
    if value.ndim != len(after) or value.shape[0] != 1 or tuple(value.shape[1:]) != tuple(after[1:]):
        raise Refusal(f"repeats the stored {list(value.shape)} to {list(after)}; Layerloom maps only repeating a "
                      "stored tensor over the batch")
    b.alias(node.outputs[0], repeated(b, node.inputs[0], value[0]))
