"""GRU, LSTM and RNN ops with the transposes around them, imported as one Layerloom recurrent node.

ONNX's recurrent ops read (T, N, features) and return (T, directions, N, H); torch exports a
batch-first layer as a transpose in, the op, a squeeze or reshape and a transpose out, maybe the
last step picked, and a stack of layers as one op per layer with the same glue between them. The
region runs from the batch-first input through every stacked op to the first batch-first result
— every step (N, T, H·dirs) or the last (N, H·dirs) — and is checked against the same ops in one
canonical arrangement. The weights are then reordered into torch's gate order.
"""

from __future__ import annotations

import numpy as np

from .loading import OnnxNode
from .regions import LAYOUT_OPS, Dataflow, Region, chain_back, chain_forward, evaluate, first_proven, named, same

GATES = {"GRU": 3, "LSTM": 4, "RNN": 1}
# ONNX's gate blocks in torch's order: GRU z, r, h → r, z, n; LSTM i, o, f, c → i, f, g, o
TORCH_ORDER = {"GRU": (1, 0, 2), "LSTM": (0, 2, 3, 1), "RNN": (0,)}
DEFAULT_ACTIVATIONS = {"GRU": ["Sigmoid", "Tanh"], "LSTM": ["Sigmoid", "Tanh", "Tanh"]}
NONLINEARITY = {"Tanh": "tanh", "Relu": "relu"}  # the RNN's activation


def match(flow: Dataflow, index: int) -> Region | str | None:
    """The region around recurrent op `index`; a reason string when it cannot be imported."""
    anchor = flow.model.nodes[index]
    if anchor.op not in GATES:
        return None
    xs = chain_back(flow, anchor.inputs[0], lambda node: node.op in LAYOUT_OPS, rank=3)
    ys = chain_forward(flow, [o for o in anchor.outputs if o],
                       lambda node: node.op in LAYOUT_OPS | {"Gather", "Slice", anchor.op}, ranks=(2, 3))

    def propose(x, y, members, output):
        layers = [flow.model.nodes[i] for i in sorted(members) if flow.model.nodes[i].op == anchor.op]
        problem = next((p for layer in layers if (p := _problem(flow, layer, layers[0]))), None)
        if problem:
            return problem
        last = flow.rank(y) == 2
        if not same(_canonical(flow, layers, x, flow.sample(x), last), output):
            return (f"the ops around it do not amount to a batch-first {anchor.op} read from {x!r} "
                    "(a non-zero initial state, or steps picked other than the last?)")
        return Region(members, flow.producer[y], lambda b: _emit(b, flow, named(flow, members, anchor), layers,
                                                                 x, y, last))

    return first_proven(flow, xs, ys, propose)


def _problem(flow: Dataflow, node: OnnxNode, first: OnnxNode) -> str | None:
    """Why `node` is not a layer torch's (and Layerloom's) recurrent modules compute."""
    attrs, op = node.attrs, node.op
    if attrs.get("direction", "forward") not in ("forward", "bidirectional"):
        return "direction 'reverse' reads the sequence backwards only; Layerloom reads it forwards or both ways"
    if (attrs.get("hidden_size"), attrs.get("direction")) != (first.attrs.get("hidden_size"),
                                                              first.attrs.get("direction")):
        return "its stacked layers differ in hidden size or direction"
    if op == "GRU" and not attrs.get("linear_before_reset", 0):
        return "linear_before_reset = 0 resets before the recurrent weights; torch's GRU resets after them"
    activations, default = attrs.get("activations"), DEFAULT_ACTIVATIONS.get(op)
    if default and activations and activations != default * (len(activations) // len(default)):
        return f"activations {activations} differ from torch's {op} ({', '.join(default)} per direction)"
    if op == "RNN" and activations and (len(set(activations)) != 1 or activations[0] not in NONLINEARITY):
        return f"activations {activations} are not tanh or relu in every direction"
    if "clip" in attrs or attrs.get("input_forget", 0):
        return "clip and input_forget have no torch equivalent"
    if len(node.inputs) > 7 and node.inputs[7]:
        return "peephole weights have no torch equivalent"
    if not all(name in flow.model.constants for name in node.inputs[1:3]) or (
            len(node.inputs) > 3 and node.inputs[3] and node.inputs[3] not in flow.model.constants):
        return "its weights are computed at run time; only stored weights can be imported"
    return None


def _canonical(flow: Dataflow, layers: list[OnnxNode], x: str, sample: np.ndarray, last: bool) -> np.ndarray:
    """The layers' output for a batch-first `sample`, arranged as a batch-first layer is."""
    from onnx import helper

    nodes = [helper.make_node("Transpose", [x], ["c/x0"], perm=[1, 0, 2])]  # (T, N, features)
    constants = {"c/merge": np.array([0, 0, -1], np.int64), "c/last": np.array(-1, np.int64)}
    for k, layer in enumerate(layers):
        attrs = {key: value for key, value in layer.attrs.items() if key != "layout"}
        nodes += [helper.make_node(layer.op, [f"c/x{k}", *layer.inputs[1:4]], [f"c/y{k}"], **attrs),
                  helper.make_node("Transpose", [f"c/y{k}"], [f"c/t{k}"], perm=[0, 2, 1, 3]),  # (T, N, dirs, H)
                  helper.make_node("Reshape", [f"c/t{k}", "c/merge"], [f"c/x{k + 1}"])]  # (T, N, dirs·H)
        constants |= {name: flow.model.constants[name] for name in layer.inputs[1:4] if name}
    nodes.append(helper.make_node("Transpose", [f"c/x{len(layers)}"], ["c/all"], perm=[1, 0, 2]))
    if last:
        nodes.append(helper.make_node("Gather", ["c/all", "c/last"], ["c/out"], axis=1))
    return evaluate(nodes, x, "c/out" if last else "c/all", sample, constants, flow.model.opsets)


def _emit(b, flow: Dataflow, name: OnnxNode, layers: list[OnnxNode], x: str, y: str, last: bool) -> None:
    first = layers[0]
    op, hidden = first.op, int(first.attrs["hidden_size"])
    directions = 2 if first.attrs.get("direction") == "bidirectional" else 1
    has_bias = any(len(layer.inputs) > 3 and layer.inputs[3] for layer in layers)
    weights = {}
    for k, layer in enumerate(layers):
        w, r = (flow.model.constants[name] for name in layer.inputs[1:3])
        stored = len(layer.inputs) > 3 and layer.inputs[3]
        bias = flow.model.constants[layer.inputs[3]] if stored else np.zeros((directions, 2 * w.shape[1]), np.float32)
        for d, suffix in enumerate(("", "_reverse")[:directions]):
            weights[f"rnn.weight_ih_l{k}{suffix}"] = _torch_gates(op, w[d])
            weights[f"rnn.weight_hh_l{k}{suffix}"] = _torch_gates(op, r[d])
            if has_bias:
                wb, rb = np.split(bias[d], 2)
                weights[f"rnn.bias_ih_l{k}{suffix}"] = _torch_gates(op, wb)
                weights[f"rnn.bias_hh_l{k}{suffix}"] = _torch_gates(op, rb)
    params = {"hidden_size": hidden, "num_layers": len(layers), "bidirectional": directions == 2,
              "output": "last" if last else "all", "bias": bool(has_bias), "dropout": 0.0}
    if op == "RNN":
        params["nonlinearity"] = NONLINEARITY[(first.attrs.get("activations") or ["Tanh"])[0]]
    b.emit(name, op, params, [x], weights=weights, outputs={"out": y})


def _torch_gates(op: str, blocks: np.ndarray) -> np.ndarray:
    """ONNX's stacked gate blocks (along axis 0) in torch's gate order."""
    parts = np.split(blocks, GATES[op])
    return np.concatenate([parts[i] for i in TORCH_ORDER[op]]).astype(np.float32)
