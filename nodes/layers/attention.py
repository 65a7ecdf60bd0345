"""Self-attention and the pre-norm transformer block, written so they export with a dynamic length.

torch.nn.MultiheadAttention is not used: in eval mode it takes a fused kernel the ONNX exporter
cannot translate, and otherwise the export bakes the example's sequence length into reshapes.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn


class SelfAttention(nn.Module):
    """Multi-head self-attention on (N, T, E); `causal` hides later steps from each step."""

    def __init__(self, embed_dim: int, num_heads: int, dropout: float, causal: bool, bias: bool = True):
        super().__init__()
        self.num_heads, self.dropout, self.causal = num_heads, dropout, causal
        self.qkv = nn.Linear(embed_dim, 3 * embed_dim, bias=bias)
        self.proj = nn.Linear(embed_dim, embed_dim, bias=bias)

    def forward(self, x):
        # (N, T, 3E) → 3 × (N, heads, T, E/heads). unbind, not qkv[0], qkv[1], qkv[2]: each index's
        # backward fills a zero tensor of the full qkv size (measured: 8 % of an attention step on CPU).
        q, k, v = self.qkv(x).reshape(x.shape[0], x.shape[1], 3, self.num_heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
        # is_causal builds the (T, T) mask from the length at run time, so T stays dynamic in ONNX.
        y = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.proj(y.transpose(1, 2).flatten(2))  # (N, T, E)

    def extra_repr(self) -> str:
        return f"num_heads={self.num_heads}, dropout={self.dropout}, causal={self.causal}"


class TransformerBlock(nn.Module):
    """Pre-norm block: x + Attn(LN(x)), then x + FFN(LN(x)) with FFN = Linear(E, 4E) → GELU → Linear(4E, E)."""

    def __init__(self, embed_dim: int, num_heads: int, dropout: float, causal: bool):
        super().__init__()
        self.ln1 = nn.LayerNorm(embed_dim)
        self.attn = SelfAttention(embed_dim, num_heads, dropout, causal)
        self.ln2 = nn.LayerNorm(embed_dim)
        self.ffn = nn.Sequential(nn.Linear(embed_dim, 4 * embed_dim), nn.GELU(), nn.Linear(4 * embed_dim, embed_dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        x = x + self.drop(self.attn(self.ln1(x)))
        return x + self.drop(self.ffn(self.ln2(x)))
