"""Self-attention spelt out in ONNX ops, imported as one MultiheadAttention node.

The anchor is a Softmax whose probabilities are multiplied with the values (a MatMul of two
computed tensors). The region reaches back to the tensor every path into the scores passes (the
input of the q/k/v projections) and forward through the output projection to the first tensor of
the same (N, T, E) shape. Its projections — one fused E→3E or three E→E, and one E→E after the
softmax — give the weights; the head count and causal mask are whichever reproduce the region's
values (`_attention` below is the computation Layerloom's MultiheadAttention performs).
"""

from __future__ import annotations

import itertools
from functools import partial

import networkx as nx
import numpy as np

from .loading import OnnxNode
from .ops_layers import gemm_linear
from .regions import LAYOUT_OPS, ROOT, Dataflow, Region, chain_forward, first_proven, named, same

SCORE_OPS = {"MatMul", "Mul", "Div", "Add", "Sub", "Where", "Cast", "Sqrt"}  # q·kᵀ, its scale and mask
MAX_ENTRIES = 6


def match(flow: Dataflow, index: int) -> Region | str | None:
    """The attention region around Softmax node `index`; a reason when it does not match; None when
    the Softmax is not attention's."""
    softmax = flow.model.nodes[index]
    if softmax.op != "Softmax":
        return None
    probs = _past_nan_guard(flow, softmax.outputs[0])
    readers = flow.readers(probs)
    mix = flow.model.nodes[readers[0]] if len(readers) == 1 else None
    if mix is None or mix.op != "MatMul" or mix.inputs[0] != probs or _is_const(flow, mix.inputs[1]):
        return None
    xs = _entries(flow, index)
    ys = chain_forward(flow, [mix.outputs[0]], lambda node: _glue(flow, node), ranks=(3,))

    def propose(x, y, members, output):
        return _propose(flow, softmax, index, x, y, members, output)

    return first_proven(flow, xs, ys, propose)


def _past_nan_guard(flow: Dataflow, probs: str) -> str:
    """The probabilities after `Where(IsNaN(p), 0, p)` — how torch's dynamo exporter writes scaled_dot_product_attention
    with a mask (a row the mask hides wholly gives zeros, not NaN) — or `probs` itself when no such guard follows."""
    readers = [flow.model.nodes[i] for i in flow.readers(probs)]
    isnan = next((node for node in readers if node.op == "IsNaN"), None)
    where = next((node for node in readers if node.op == "Where"), None)
    if len(readers) != 2 or isnan is None or where is None or where.inputs[0] != isnan.outputs[0] or \
            where.inputs[2] != probs or not _is_const(flow, where.inputs[1]):
        return probs
    return where.outputs[0]


def _is_const(flow: Dataflow, name: str) -> bool:
    return name in flow.model.constants


def _glue(flow: Dataflow, node: OnnxNode) -> bool:
    """Ops that reshape, cut (q, k, v apart), project (a stored weight) or scale (a stored constant) one
    computed tensor."""
    if node.op in LAYOUT_OPS or node.op in ("Split", "Gather", "Slice"):
        return True
    if node.op in ("MatMul", "Gemm"):
        return _is_const(flow, node.inputs[1])
    return node.op in ("Add", "Mul", "Div") and sum(_is_const(flow, i) for i in node.inputs) == 1


def _entries(flow: Dataflow, index: int) -> list[str]:
    """Rank-3 tensors that every path into node `index` passes — past the score computation, back
    through projections and reshapes — the nearest MAX_ENTRIES, widest first."""
    found, node = [], index
    while (node := flow.dominators.get(node, ROOT)) != ROOT:
        onnx_node = flow.model.nodes[node] if node > ROOT else None
        kind = ("input" if onnx_node is None else "glue" if _glue(flow, onnx_node)
                else "score" if onnx_node.op in SCORE_OPS else "layer")
        if kind != "score" and flow.rank(flow.tensor_of(node)) == 3:
            found.append(flow.tensor_of(node))
        if kind in ("input", "layer"):  # a graph input, or a layer before the attention
            break
    return found[:MAX_ENTRIES][::-1]


def _propose(flow: Dataflow, softmax: OnnxNode, index: int, x: str, y: str, members, output) -> Region | str:
    sample = flow.sample(x)
    if output.shape != sample.shape or index not in members:
        return "the attention does not read and write one (N, T, E) tensor"
    embed = sample.shape[2]
    projections = [i for i in sorted(members) if flow.model.nodes[i].op in ("MatMul", "Gemm")
                   and _is_const(flow, flow.model.nodes[i].inputs[1])]
    after = nx.descendants(flow.graph, index)  # the values' projection is mixed in after the softmax, not before
    inputs = [_projection(flow, i, members) for i in projections if i not in after]
    outputs = [_projection(flow, i, members) for i in projections if i in after]
    if len(outputs) != 1 or len(inputs) not in (1, 3) or None in inputs + outputs:
        return "its projections are not q, k, v (fused or apart) and one output projection"
    orders = [(0,)] if len(inputs) == 1 else list(itertools.permutations(range(3)))
    for order in orders:
        qkv = [inputs[i] for i in order]
        weight = np.concatenate([w for w, _ in qkv])
        if weight.shape != (3 * embed, embed):
            continue
        bias = np.concatenate([b if b is not None else np.zeros(len(w), np.float32) for w, b in qkv])
        out_weight, out_bias = outputs[0]
        has_bias = any(b is not None for _, b in qkv) or out_bias is not None
        out_bias = out_bias if out_bias is not None else np.zeros(embed, np.float32)
        for heads, causal in itertools.product([h for h in range(1, embed + 1) if embed % h == 0], (False, True)):
            if same(_attention(sample, weight, bias, out_weight, out_bias, heads, causal), output):
                weights = {"qkv.weight": weight, "proj.weight": out_weight}
                if has_bias:
                    weights |= {"qkv.bias": bias, "proj.bias": out_bias}
                params = {"num_heads": heads, "causal": causal, "bias": has_bias, "dropout": 0.0}
                return Region(members, flow.producer[y], partial(
                    _emit, node=named(flow, members, softmax), params=params, x=x, y=y, weights=weights))
    return "no head count or mask makes a MultiheadAttention compute what it computes"


def _emit(b, node: OnnxNode, params: dict, x: str, y: str, weights: dict) -> None:
    b.emit(node, "MultiheadAttention", params, [x], weights=weights, outputs={"out": y})


def _projection(flow: Dataflow, index: int, members) -> tuple[np.ndarray, np.ndarray | None] | None:
    """(weight as (out, in), bias or None) of the MatMul/Gemm at `index`, with a bias Add after it;
    None for a Gemm that transposes its data."""
    node = flow.model.nodes[index]
    constants = flow.model.constants
    weight, bias = constants[node.inputs[1]].T, None
    if node.op == "Gemm":
        stored = constants.get(node.inputs[2]) if len(node.inputs) > 2 else None
        if node.attrs.get("transA", 0) or (stored is None and len(node.inputs) > 2 and node.inputs[2]):
            return None  # transposed data, or a computed bias
        weight, bias = gemm_linear(node, constants[node.inputs[1]], stored)
    readers = flow.readers(node.outputs[0])
    if bias is None and len(readers) == 1 and readers[0] in members:
        add = flow.model.nodes[readers[0]]
        const = [i for i in add.inputs if i in constants]
        if add.op == "Add" and len(const) == 1 and constants[const[0]].size == weight.shape[0]:
            bias = constants[const[0]].reshape(-1)
    return weight.astype(np.float32), None if bias is None else bias.astype(np.float32)


def _attention(x, w_qkv, b_qkv, w_out, b_out, heads: int, causal: bool) -> np.ndarray:
    """Layerloom's MultiheadAttention on x (N, T, E): softmax(q·kᵀ/√d)·v per head, then projected."""
    n, steps, embed = x.shape
    q, k, v = np.split(x @ w_qkv.T + b_qkv, 3, axis=-1)
    q, k, v = (t.reshape(n, steps, heads, -1).transpose(0, 2, 1, 3) for t in (q, k, v))  # (N, heads, T, d)
    scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(embed // heads)
    if causal:
        scores = np.where(np.triu(np.ones((steps, steps), bool), 1), -np.inf, scores)
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    y = (probs @ v).transpose(0, 2, 1, 3).reshape(n, steps, embed)
    return y @ w_out.T + b_out
