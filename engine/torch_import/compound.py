"""Calls that become something other than one node of their own: a model's own tensors used as operands
(ViT's class token expanded over the batch, ConvNeXt's layer scale, a learned position table added to the
sequence), indexing that drops an axis (`x[:, 0]`, the class token's output), the mean over an image's
height and width, and a Linear over a channels-last image.

`place(builder, call)` places the nodes and returns True, or returns False when the call is none of
these (it is then mapped as one node, engine/torch_import/layers.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .calls import Call, aten_name
from .layers import arguments, linear

if TYPE_CHECKING:
    from torch import fx

BINARY = {"add": "Add", "mul": "Multiply", "sub": "Subtract", "div": "Divide"}


def place(builder, call: Call) -> bool:
    if call.kind.endswith(".Linear"):
        return _wide_linear(builder, call)
    if call.kind:
        return False
    op = call.ops[0]
    name = aten_name(op)
    if name == "expand":
        return _expanded_parameter(builder, op)
    if name in BINARY:
        return _weight_operand(builder, op, name)
    if name == "select":
        return _select(builder, op)
    if name == "mean":
        return _spatial_mean(builder, op)
    return False


def _is_weight(builder, value) -> bool:
    return hasattr(value, "op") and builder.context.is_weight(value)


def _expanded_parameter(builder, op: fx.Node) -> bool:
    """`token.expand(N, -1, -1)` of a stored (1, …) tensor: a Parameter node repeated over the batch of
    the tensor whose size N is."""
    a = arguments(op)
    token, size = a["self"], list(a["size"])
    if not _is_weight(builder, token) or not size or not hasattr(size[0], "op"):
        return False
    like = size[0].args[0] if size[0].args else None
    value = builder.weight(token)
    if like not in builder.sources or value.shape[0] != 1 or any(s != -1 for s in size[1:]):
        return False
    node_id = builder.add_node(builder.weight_names[token.name].replace(".", "_"), "Parameter",
                               {"shape": list(value.shape[1:]), "init": "normal"}, [builder.sources[like]],
                               {"value": value[0]})
    builder.sources[op] = builder.source(node_id)
    return True


def _weight_operand(builder, op: fx.Node, name: str) -> bool:
    """x ∘ w with w a stored tensor: a learned position table added to (N, T, D) becomes a PositionalEncoding
    (every row kept); any other w a Parameter node of x's rank less the batch, then the Math node."""
    a = arguments(op)
    left, right = a["self"], a["other"]
    weights = [v for v in (left, right) if _is_weight(builder, v)]
    if len(weights) != 1 or float(a.get("alpha", 1)) != 1:
        return False
    (stored,) = weights
    other = right if stored is left else left
    if other not in builder.sources:
        return False
    value, shape = builder.weight(stored), builder.context.shape(other)
    fqn = builder.weight_names[stored.name]
    if (name == "add" and value.ndim == 3 == len(shape) and value.shape[0] == 1 and value.shape[2] == shape[2]
            and value.shape[1] >= shape[1]):
        node_id = builder.add_node(fqn.replace(".", "_"), "PositionalEncoding",
                                   {"kind": "learned", "max_len": int(value.shape[1])}, [builder.sources[other]],
                                   {"pe": value[0]})
        builder.sources[op] = builder.source(node_id)
        return True
    rank = len(shape) - 1  # the Parameter's own shape: the operand's rank without the batch
    if value.ndim > rank or (value.ndim == rank + 1 and value.shape[0] != 1):
        return False
    padded = value.reshape((1,) * (rank - value.ndim) + value.shape[-rank:] if value.ndim else (1,) * rank)
    parameter = builder.add_node(fqn.replace(".", "_"), "Parameter", {"shape": list(padded.shape), "init": "ones"},
                                 [builder.sources[other]], {"value": padded})
    operands = [builder.source(parameter) if v is stored else builder.sources[v] for v in (left, right)]
    node_id = builder.add_node(_functional_id(op, name), BINARY[name], {}, operands)
    builder.sources[op] = builder.source(node_id)
    return True


def _select(builder, op: fx.Node) -> bool:
    """`x[:, i]` (aten.select): a Slice keeping position i, then a Reshape dropping that axis."""
    a = arguments(op)
    source = a["self"]
    if source not in builder.sources:
        return False
    shape = builder.context.shape(source)
    dim, index = int(a["dim"]) % len(shape), int(a["index"])
    if dim == 0 or index < 0:
        return False
    sliced = builder.add_node(f"{_functional_id(op, 'select')}_slice", "Slice",
                              {"dim": dim, "start": index, "end": index + 1}, [builder.sources[source]])
    kept = [int(size) for i, size in enumerate(shape) if i not in (0, dim)]
    node_id = builder.add_node(_functional_id(op, "select"), "Reshape", {"shape": kept}, [builder.source(sliced)])
    builder.sources[op] = builder.source(node_id)
    return True


def _wide_linear(builder, call: Call) -> bool:
    """A Linear over the last axis of a (N, H, W, C) tensor (ConvNeXt's channels-last MLP): the Linear node takes
    (N, F) or (N, T, F) — wider inputs are usually a missing Flatten — so the axes before the last are folded
    into one by a Reshape, and unfolded again after."""
    op = call.op("linear")
    a = arguments(op) if op is not None else {}
    source = a.get("input")
    shape = builder.context.shape(source) if source is not None else ()
    if len(shape) < 4 or source not in builder.sources:
        return False
    mapped = linear(op, builder.context)
    prefix = call.path.replace(".", "_")
    folded = builder.add_node(f"{prefix}_fold", "Reshape", {"shape": [-1, int(shape[-1])]}, [builder.sources[source]])
    arrays = {key: builder.weight(placeholder) for key, placeholder in mapped.weights.items()}
    dense = builder.add_node(prefix, "Linear", mapped.params, [builder.source(folded)], arrays)
    out = [int(size) for size in shape[1:-1]] + [mapped.params["out_features"]]
    node_id = builder.add_node(f"{prefix}_unfold", "Reshape", {"shape": out}, [builder.source(dense)])
    builder.sources[call.output] = builder.source(node_id)
    return True


def _spatial_mean(builder, op: fx.Node) -> bool:
    """The mean over an image's height and width (ConvNeXt's head): AdaptiveAvgPool2d to 1×1, then a Flatten
    unless the dims are kept."""
    a = arguments(op)
    source = a["self"]
    shape = builder.context.shape(source)
    dims = sorted(int(d) % len(shape) for d in (a.get("dim") or ()))
    if len(shape) != 4 or dims != [2, 3] or source not in builder.sources:
        return False
    pooled = builder.add_node(_functional_id(op, "pool"), "AdaptiveAvgPool2d", {"output_size": 1},
                              [builder.sources[source]])
    if not a.get("keepdim"):
        pooled = builder.add_node(_functional_id(op, "flatten"), "Flatten", {"start_dim": 1},
                                  [builder.source(pooled)])
    builder.sources[op] = builder.source(pooled)
    return True


def _functional_id(op: fx.Node, name: str) -> str:
    stack = op.meta.get("nn_module_stack") or {}
    path = list(stack.values())[-1][0] if stack else ""
    return f"{path.replace('.', '_')}_{name}" if path else name
