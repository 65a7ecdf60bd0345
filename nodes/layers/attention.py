"""Multi-head attention and the pre-norm transformer block, written so they export with a dynamic length.

torch.nn.MultiheadAttention is not used: in eval mode it takes a fused kernel the ONNX exporter
cannot translate, and otherwise the export bakes the example's sequence length into reshapes.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from .norm import RMSNorm


class MultiheadAttention(nn.Module):
    """Multi-head attention of queries x (N, T, E) over keys/values (N, S, E) — x itself (self-attention)
    unless `cross`; `causal` hides later steps from each step; `masked` takes a key-padding mask.

    forward(x[, kv][, key_padding_mask]) takes the inputs its flags announce, in that order (the
    node's connected ports). The mask is (N, S): a value ≥ 0.5 (or True) marks a padding key no
    query attends to. One (3E, E) projection holds W_q, W_k, W_v in either mode, so weights and
    state-dict keys are the same for self- and cross-attention.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float, causal: bool, bias: bool = True,
                 cross: bool = False, masked: bool = False):
        super().__init__()
        self.num_heads, self.dropout, self.causal = num_heads, dropout, causal
        self.cross, self.masked = cross, masked
        self.qkv = nn.Linear(embed_dim, 3 * embed_dim, bias=bias)
        self.proj = nn.Linear(embed_dim, embed_dim, bias=bias)

    def forward(self, x, *extra):
        kv = extra[0] if self.cross else None
        mask = extra[-1] if self.masked else None
        if kv is None:
            # (N, T, 3E) → 3 × (N, heads, T, E/heads). unbind, not qkv[0], qkv[1], qkv[2]: each index's
            # backward fills a zero tensor of the full qkv size (measured: 8 % of an attention step on CPU).
            qkv = self.qkv(x).reshape(x.shape[0], x.shape[1], 3, self.num_heads, -1)
            q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        else:
            q, k, v = self._cross_projections(x, kv)
        attn_mask = None if mask is None else self._keep(mask, x.shape[1])
        # is_causal builds the (T, S) mask from the lengths at run time, so they stay dynamic in ONNX.
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=self.causal and attn_mask is None,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.proj(y.transpose(1, 2).flatten(2))  # (N, T, E)

    def _cross_projections(self, x, kv):
        """q from x (N, heads, T, d); k and v from kv (N, heads, S, d), with the rows of the one projection."""
        embed = x.shape[-1]
        weight, bias = self.qkv.weight, self.qkv.bias
        q = F.linear(x, weight[:embed], None if bias is None else bias[:embed])
        q = q.reshape(x.shape[0], x.shape[1], self.num_heads, -1).transpose(1, 2)
        k, v = F.linear(kv, weight[embed:], None if bias is None else bias[embed:]).reshape(
            kv.shape[0], kv.shape[1], 2, self.num_heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
        return q, k, v

    def _keep(self, mask, steps):
        """(N, 1, T, S) bool, True where a query may attend to a key: not padding (and not later, if causal)."""
        keep = (mask.float() < 0.5)[:, None, None, :]
        if self.causal:
            length = mask.shape[1]
            keep = keep & keep.new_ones((steps, length)).tril()  # a method: symbolic tracing (code export) records it
        return keep

    def extra_repr(self) -> str:
        return (f"num_heads={self.num_heads}, dropout={self.dropout}, causal={self.causal}, cross={self.cross}, "
                f"masked={self.masked}")


NORMS = ("layernorm", "rmsnorm")


def _norm(kind: str, embed_dim: int) -> nn.Module:
    return nn.LayerNorm(embed_dim) if kind == "layernorm" else RMSNorm(embed_dim, eps=1e-6)


class TransformerBlock(nn.Module):
    """Pre-norm block: x + Attn(Norm(x)), then x + FFN(Norm(x)) with FFN = Linear(E, 4E) → GELU → Linear(4E, E);
    Norm is LayerNorm or RMSNorm (`norm`)."""

    def __init__(self, embed_dim: int, num_heads: int, dropout: float, causal: bool, norm: str = "layernorm"):
        super().__init__()
        self.ln1 = _norm(norm, embed_dim)
        self.attn = MultiheadAttention(embed_dim, num_heads, dropout, causal)
        self.ln2 = _norm(norm, embed_dim)
        self.ffn = nn.Sequential(nn.Linear(embed_dim, 4 * embed_dim), nn.GELU(), nn.Linear(4 * embed_dim, embed_dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        x = x + self.drop(self.attn(self.ln1(x)))
        return x + self.drop(self.ffn(self.ln2(x)))
