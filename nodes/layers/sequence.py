"""Sequence modules: recurrent layers that return one chosen output, and positional encodings."""

from __future__ import annotations

import math

import torch
from torch import nn


class RecurrentOutput(nn.Module):
    """Runs a batch-first RNN/LSTM/GRU and returns every step (N, T, H·dirs) or only the last one.

    "last" is `out[:, -1]`: for a bidirectional layer that is the forward direction's final state
    concatenated with the backward direction's state after reading only the last step.
    """

    def __init__(self, rnn: nn.Module, last: bool):
        super().__init__()
        self.rnn, self.last = rnn, last

    def forward(self, x):
        out = self.rnn(x)[0]  # (N, T, H·dirs); the hidden state is dropped
        return out[:, -1] if self.last else out


def sinusoid_table(max_len: int, dim: int):
    """The fixed encoding of "Attention is all you need": sin on even features, cos on odd ones."""
    position = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)  # (L, 1)
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))  # (⌈D/2⌉,)
    table = torch.zeros(max_len, dim)
    table[:, 0::2] = torch.sin(position * freq)
    table[:, 1::2] = torch.cos(position * freq[: dim // 2])
    return table


class PositionalEncoding(nn.Module):
    """x + pe[:T] on (N, T, D): a fixed sinusoid table (a buffer, not saved) or a learned one."""

    def __init__(self, max_len: int, dim: int, learned: bool):
        super().__init__()
        if learned:
            self.pe = nn.Parameter(torch.randn(max_len, dim) * 0.02)  # GPT-2's scale
        else:
            self.register_buffer("pe", sinusoid_table(max_len, dim), persistent=False)

    def forward(self, x):
        # torch.narrow, not pe[:T]: fx cannot slice a plain tensor with a traced length.
        return x + torch.narrow(self.pe, 0, 0, x.shape[1])
