"""Attention on sequences (N, T, E): multi-head self-attention and the pre-norm transformer block.

E is inferred from the input and must be divisible by num_heads. With causal on, step t attends
only to steps ≤ t (language models); the mask is built from the sequence length at run time.
"""

from __future__ import annotations

from .common import INIT_PARAM, dropout_param, expect_rank, rank_hint
from .registry import register
from .spec import NodeSpec, Param, Port, ShapeError, format_shape

_HEADS = Param("num_heads", "int", 2, "parallel attention heads; must divide the embedding size", min=1, max=1024)
_CAUSAL = Param("causal", "bool", False, "each step sees only itself and earlier steps (for generation)")
_DROPOUT = dropout_param(doc="dropout on attention weights (and, in a block, on each residual branch)")


def _attention_infer(params, in_shapes):
    x = in_shapes["in"]
    expect_rank("in", x, (3,), "(N, T, E)", rank_hint(x, 3))
    heads = params["num_heads"]
    if x[2] is not None and x[2] % heads:
        raise ShapeError("in", f"embedding size {x[2]} of {format_shape(x)} does not split into {heads} heads — "
                               f"set num_heads to a divisor of {x[2]}")
    return {"out": x}


def _attention(type_id: str, prefix: str, doc: str, params: tuple[Param, ...], make, projections: int) -> NodeSpec:
    """An attention node whose weights are `projections` E×E matrices applied at every step."""

    def macs(params, in_shapes, out_shapes):
        n, steps, embed = in_shapes["in"]
        # the projections, then per step the scores q·kᵀ and their mix of v: T·E each (causal masks, not skips)
        return n * steps * embed * (projections * embed + 2 * steps)

    return register(NodeSpec(
        type_id=type_id, title=type_id, category="Attention", id_prefix=prefix, doc=doc,
        inputs=(Port("in", "(N, T, E)"),), outputs=(Port("out"),), params=params,
        infer=_attention_infer, build=lambda p, s: make(p, s["in"][2]), macs=macs,
        example_inputs={"in": (None, 6, 8)},
    ))


def _self_attention(params, embed_dim):
    from .layers.attention import SelfAttention

    return SelfAttention(embed_dim, params["num_heads"], params["dropout"], params["causal"], params["bias"])


def _block(params, embed_dim):
    from .layers.attention import TransformerBlock

    return TransformerBlock(embed_dim, params["num_heads"], params["dropout"], params["causal"])


_attention("MultiheadAttention", "attn", "Self-attention: every step mixes in the steps it attends to.",
           (_HEADS, _DROPOUT, _CAUSAL, Param("bias", "bool", True, "learn biases in the projections"), INIT_PARAM),
           _self_attention, projections=4)  # q, k, v and out
_attention("TransformerBlock", "block",
           "Pre-norm transformer layer: x + Attention(LayerNorm(x)), then x + MLP(LayerNorm(x)) with a 4·E GELU MLP.",
           (_HEADS, _DROPOUT, _CAUSAL, INIT_PARAM), _block, projections=12)  # attention's 4, the MLP's 2 × 4
