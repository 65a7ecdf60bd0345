"""Attention maps: where each query of an attention node looks, for one sample.

The node's forward is left as it is (it calls scaled_dot_product_attention, which never hands its weights
back). Instead its inputs are captured by the tapped twin (taps.py) and the weights recomputed from its own
(3E, E) qkv projection: softmax(QKᵀ/√d) per head, with the node's causal and key-padding masks — the same
numbers the fused kernel used. A TransformerBlock node's attention is its `attn` on `ln1` of its input.
"""

from __future__ import annotations

import math

import torch
from torch import fx

from nodes.layers.attention import MultiheadAttention, TransformerBlock

from .taps import layer_nodes, tapped, unwrap


def _attention_of(module: torch.nn.Module, node: fx.Node) -> MultiheadAttention | None:
    if node.op != "call_module":
        return None
    owner = unwrap(module).get_submodule(node.target)
    return owner.attn if isinstance(owner, TransformerBlock) else owner \
        if isinstance(owner, MultiheadAttention) else None


def attention_nodes(module: torch.nn.Module) -> list[str]:
    """The node ids of the attention nodes (MultiheadAttention, TransformerBlock), in graph order."""
    return [n.meta["node_id"] for n in layer_nodes(module) if _attention_of(module, n) is not None]


def _weights(attn: MultiheadAttention, x: torch.Tensor, extra: list) -> torch.Tensor:
    """(N, heads, T, S): softmax(QKᵀ/√d) as `attn.forward(x, *extra)` computes it, masks included."""
    kv = extra[0] if attn.cross else None
    mask = extra[-1] if attn.masked else None
    if kv is None:
        q, k, _ = attn.qkv(x).reshape(x.shape[0], x.shape[1], 3, attn.num_heads, -1).permute(2, 0, 3, 1, 4)
    else:
        q, k, _ = attn._cross_projections(x, kv)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    keep = torch.ones(scores.shape[-2:], dtype=torch.bool, device=scores.device)
    keep = keep.tril() if attn.causal else keep
    if mask is not None:
        keep = keep & (mask.float() < 0.5)[:, None, None, :]
    return scores.masked_fill(~keep, -math.inf).softmax(-1)


def attention_map(module: torch.nn.Module, args: tuple, node: str | None = None) -> torch.Tensor:
    """(heads, T, S), each row summing to 1: the attention of node `node` (default: the last attention node)
    for the first sample of `args`, the arguments of the inference module `module`."""
    found = attention_nodes(module)
    if not found:
        raise ValueError("this graph has no attention node (MultiheadAttention or TransformerBlock)")
    node = node or found[-1]
    if node not in found:
        raise ValueError(f"{node} is not an attention node — choose one of {', '.join(found)}")
    target = next(n for n in layer_nodes(module) if n.meta["node_id"] == node)
    with torch.no_grad():
        taps = tapped(module)(*args)["taps"]
        x, *extra = [taps[a.name] if isinstance(a, fx.Node) else a for a in target.args]
        owner = unwrap(module).get_submodule(target.target)
        if isinstance(owner, TransformerBlock):
            x = owner.ln1(x)
        return _weights(_attention_of(module, target), x[:1], [e[:1] for e in extra])[0].float()
