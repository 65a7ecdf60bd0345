"""The shapes a node's weights have in the compiled graph, read off its params and input shapes.

An imported tensor must have exactly the shape the compiled node's `state_dict()` gives it, or the graph
validates and then fails where the weights are loaded (export, prediction, resuming). The shapes come from
the same params and input shapes the node's `build` passes to torch — without torch, which the app never
loads to import (tests/engine/test_onnx_import_fit.py builds every type listed here and compares).

Keys are relative to the node (`weight`, `rnn.weight_ih_l0`); the graph's are `<node id>.<key>`.
"""

from __future__ import annotations

from collections.abc import Mapping

from nodes import Shape

Shapes = dict[str, tuple[int, ...]]
GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}  # weight blocks per step, stacked along axis 0


def expected_weights(type_id: str, params: Mapping, in_shapes: Mapping[str, Shape]) -> Shapes | None:
    """Every tensor of a `type_id` node's state_dict with its shape, for resolved `params` and the shapes on
    its input ports; None for a type this module does not know (one that takes no imported weights)."""
    rule = _RULES.get(type_id)
    return None if rule is None else rule(params, in_shapes)


def _affine(out: int, fan_in: tuple[int, ...], bias: bool) -> Shapes:
    return {"weight": (out, *fan_in)} | ({"bias": (out,)} if bias else {})


def _linear(p, s) -> Shapes:
    shapes = _affine(p["out_features"], (s["in"][-1],), p["bias"])
    return {key: shape for key, shape in shapes.items() if key != "weight"} if p["tie"] else shapes  # shared


def _conv(dims: int):
    def rule(p, s) -> Shapes:
        kernel = tuple(p["kernel_shape"]) or (p["kernel_size"],) * dims
        return _affine(p["out_channels"], (s["in"][1] // p["groups"], *kernel), p["bias"])

    return rule


def _conv_transpose(p, s) -> Shapes:
    return {"weight": (s["in"][1], p["out_channels"], p["kernel_size"], p["kernel_size"])} | (
        {"bias": (p["out_channels"],)} if p["bias"] else {})


def _batch_norm(p, s) -> Shapes:
    channels = (s["in"][1],)
    return {"weight": channels, "bias": channels, "running_mean": channels, "running_var": channels,
            "num_batches_tracked": ()}


def _layer_norm(p, s) -> Shapes:
    return {"weight": (s["in"][-1],), "bias": (s["in"][-1],)}


def _group_norm(p, s) -> Shapes:
    return {"weight": (s["in"][1],), "bias": (s["in"][1],)}


def _rms_norm(p, s) -> Shapes:
    return {"weight": (s["in"][-1],)}


def _embedding(p, s) -> Shapes:
    return {"weight": (p["num_embeddings"], p["embedding_dim"])}


def _positional(p, s) -> Shapes:
    return {"pe": (p["max_len"], s["in"][2])} if p["kind"] == "learned" else {}  # the sinusoids are not saved


def _held(p, s) -> Shapes:
    return {"value": tuple(p["shape"])}


def _prelu(p, s) -> Shapes:
    return {"weight": (p["num_parameters"],)}


def _attention(p, s) -> Shapes:
    embed = s["in"][2]
    shapes = {"qkv.weight": (3 * embed, embed), "proj.weight": (embed, embed)}
    return shapes | ({"qkv.bias": (3 * embed,), "proj.bias": (embed,)} if p["bias"] else {})


def _recurrent(type_id: str):
    def rule(p, s) -> Shapes:
        hidden, directions = p["hidden_size"], 2 if p["bidirectional"] else 1
        rows = GATES[type_id] * hidden
        shapes: Shapes = {}
        for layer in range(p["num_layers"]):
            width = s["in"][2] if layer == 0 else hidden * directions
            for suffix in ("", "_reverse")[:directions]:
                shapes[f"rnn.weight_ih_l{layer}{suffix}"] = (rows, width)
                shapes[f"rnn.weight_hh_l{layer}{suffix}"] = (rows, hidden)
                if p["bias"]:
                    shapes[f"rnn.bias_ih_l{layer}{suffix}"] = (rows,)
                    shapes[f"rnn.bias_hh_l{layer}{suffix}"] = (rows,)
        return shapes

    return rule


_RULES = {
    "Linear": _linear, "Conv1d": _conv(1), "Conv2d": _conv(2), "Conv3d": _conv(3), "ConvTranspose2d": _conv_transpose,
    "BatchNorm1d": _batch_norm, "BatchNorm2d": _batch_norm, "BatchNorm3d": _batch_norm, "LayerNorm": _layer_norm,
    "GroupNorm": _group_norm, "RMSNorm": _rms_norm, "Embedding": _embedding, "PositionalEncoding": _positional,
    "PReLU": _prelu, "Parameter": _held, "Constant": _held,
    "MultiheadAttention": _attention, "RNN": _recurrent("RNN"), "GRU": _recurrent("GRU"),
    "LSTM": _recurrent("LSTM"),
}
KNOWN_TYPES = frozenset(_RULES)


def mismatches(type_id: str, params: Mapping, in_shapes: Mapping[str, Shape], weights: Mapping[str, object],
               prefix: str = "") -> list[str]:
    """What is wrong with `weights` (key relative to the node → array) for a `type_id` node with resolved
    `params`: each tensor of the wrong shape, each one the node needs but lacks, each one it has no place
    for; [] when they fit. Keys are named with `prefix` (`fc1.`) in front."""
    if any(dim is None for shape in in_shapes.values() for dim in shape[1:]):
        return []  # a size known only at run time: never so on import, where every size after the batch is fixed
    expected = expected_weights(type_id, params, in_shapes)
    if expected is None:
        return [f"it holds {', '.join(prefix + key for key in sorted(weights))}, but the import knows no weights "
                f"of a {type_id}"] if weights else []
    problems = []
    for key, shape in expected.items():
        if key not in weights:
            problems.append(f"{prefix}{key} is missing (a {type_id} reading {_reading(in_shapes)} needs "
                            f"{_dims(shape)})")
        elif tuple(weights[key].shape) != shape:
            problems.append(f"{prefix}{key} has shape {_dims(weights[key].shape)}, but a {type_id} reading "
                            f"{_reading(in_shapes)} needs {_dims(shape)}")
    problems += [f"{prefix}{key} has no place in a {type_id}" for key in weights if key not in expected]
    return problems


def _dims(shape) -> str:
    return "(" + ", ".join(str(int(d)) for d in shape) + (",)" if len(shape) == 1 else ")")


def _reading(in_shapes: Mapping[str, Shape]) -> str:
    from nodes import format_shape

    return " and ".join(format_shape(shape) for shape in in_shapes.values())
