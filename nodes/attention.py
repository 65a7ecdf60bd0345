"""Attention on sequences (N, T, E): multi-head attention and the pre-norm transformer block.

E is inferred from the input and must be divisible by num_heads. With causal on, step t attends
only to steps ≤ t (language models); the mask is built from the sequence length at run time.

MultiheadAttention attends from its `in` port (the queries) to the sequence on its optional `kv`
port (keys and values, (N, S, E): cross-attention, a decoder reading an encoder) — or to `in`
itself when `kv` is left unwired (self-attention). Its optional `key_padding_mask` port (N, S) marks
keys no query may attend to (1/True: padding), for batches of sequences padded to one length.
"""

from __future__ import annotations

from .common import INIT_PARAM, dropout_param, expect_rank, rank_hint
from .registry import register
from .spec import NodeSpec, Param, Port, ShapeError, format_shape

_HEADS = Param("num_heads", "int", 2, "parallel attention heads; must divide the embedding size", min=1, max=1024)
_CAUSAL = Param("causal", "bool", False, "each step sees only itself and earlier steps (for generation)")
_DROPOUT = dropout_param(doc="dropout on attention weights (and, in a block, on each residual branch)")
_NORM = Param("norm", "choice", "layernorm", "the normalisation before each branch: LayerNorm, or RMSNorm "
              "(no mean subtraction, no bias)", choices=("layernorm", "rmsnorm"))


def _check_heads(port, x, heads) -> None:
    expect_rank(port, x, (3,), "(N, T, E)", rank_hint(x, 3))
    if x[2] is not None and x[2] % heads:
        raise ShapeError(port, f"embedding size {x[2]} of {format_shape(x)} does not split into {heads} heads — "
                               f"set num_heads to a divisor of {x[2]}")


def _block_infer(params, in_shapes):
    _check_heads("in", in_shapes["in"], params["num_heads"])
    return {"out": in_shapes["in"]}


def _attention_infer(params, in_shapes):
    x = in_shapes["in"]
    _check_heads("in", x, params["num_heads"])
    kv = in_shapes.get("kv", x)
    if "kv" in in_shapes:
        expect_rank("kv", kv, (3,), "(N, S, E)", rank_hint(kv, 3))
        if None not in (kv[2], x[2]) and kv[2] != x[2]:
            raise ShapeError("kv", f"keys/values {format_shape(kv)} have embedding size {kv[2]}, the queries "
                                   f"{format_shape(x)} {x[2]} — project them to {x[2]} with a Linear")
    if (mask := in_shapes.get("key_padding_mask")) is not None:
        if len(mask) != 2 or (None not in (mask[1], kv[1]) and mask[1] != kv[1]):
            raise ShapeError("key_padding_mask", f"expected (N, {kv[1] or 'S'}), one flag per key, got "
                                                 f"{format_shape(mask)}", stricter="same-shape")
    return {"out": x}


def _attention_macs(params, in_shapes, out_shapes):
    n, steps, embed = in_shapes["in"]
    keys = in_shapes.get("kv", in_shapes["in"])[1]
    # q and out projections per query, k and v per key, then q·kᵀ and the mix of v: T·S·E each
    return n * embed * (2 * steps * embed + 2 * keys * embed + 2 * steps * keys)


def _block_macs(params, in_shapes, out_shapes):
    n, steps, embed = in_shapes["in"]
    # attention's 4 E×E projections and the MLP's 2 × 4, then T·E for the scores and the mix per step
    return n * steps * embed * (12 * embed + 2 * steps)


def _attention_build(params, in_shapes):
    from .layers.attention import MultiheadAttention

    return MultiheadAttention(in_shapes["in"][2], params["num_heads"], params["dropout"], params["causal"],
                              params["bias"], cross="kv" in in_shapes, masked="key_padding_mask" in in_shapes)


def _block_build(params, in_shapes):
    from .layers.attention import TransformerBlock

    return TransformerBlock(in_shapes["in"][2], params["num_heads"], params["dropout"], params["causal"],
                            params["norm"])


register(NodeSpec(
    type_id="MultiheadAttention", title="MultiheadAttention", category="Attention", id_prefix="attn",
    doc="Attention: every step of `in` mixes in the steps of `kv` it attends to — of `in` itself when kv is "
        "not wired (self-attention); key_padding_mask (N, S), 1 = padding, hides keys.",
    inputs=(Port("in", "(N, T, E)"), Port("kv", "(N, S, E)", optional=True),
            Port("key_padding_mask", "(N, S)", optional=True)),
    outputs=(Port("out"),),
    params=(_HEADS, _DROPOUT, _CAUSAL, Param("bias", "bool", True, "learn biases in the projections"), INIT_PARAM),
    infer=_attention_infer, build=_attention_build, macs=_attention_macs, example_inputs={"in": (None, 6, 8)},
))
register(NodeSpec(
    type_id="TransformerBlock", title="TransformerBlock", category="Attention", id_prefix="block",
    doc="Pre-norm transformer layer: x + Attention(Norm(x)), then x + MLP(Norm(x)) with a 4·E GELU MLP; Norm is "
        "LayerNorm or RMSNorm.",
    inputs=(Port("in", "(N, T, E)"),), outputs=(Port("out"),),
    params=(_HEADS, _DROPOUT, _CAUSAL, INIT_PARAM, _NORM),
    infer=_block_infer, build=_block_build, macs=_block_macs, example_inputs={"in": (None, 6, 8)},
))
