"""Shape and merge plumbing: reshape, permute, slice, concatenate, add, multiply. The batch stays dim 0."""

from __future__ import annotations

import torch
from torch import nn


class Reshape(nn.Module):
    """(N, *in) → (N, *shape); `shape` excludes the batch and may hold one -1."""

    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x):
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


class Permute(nn.Module):
    """Reorders the non-batch dims: `dims` is a permutation of 1..rank-1."""

    def __init__(self, dims: tuple[int, ...]):
        super().__init__()
        self.dims = (0, *dims)

    def forward(self, x):
        return x.permute(*self.dims)

    def extra_repr(self) -> str:
        return f"dims={self.dims}"


class Slices(nn.Module):
    """Cuts fixed ranges out of one dim: one slice gives a tensor, several give a tuple of pieces."""

    def __init__(self, dim: int, bounds: tuple[tuple[int | None, int | None], ...]):
        super().__init__()
        self.dim, self.bounds = dim, tuple(bounds)
        self._index = tuple((slice(None),) * dim + (slice(start, end),) for start, end in bounds)

    def forward(self, x):
        pieces = tuple(x[index] for index in self._index)
        return pieces[0] if len(pieces) == 1 else pieces

    def extra_repr(self) -> str:
        return f"dim={self.dim}, bounds={self.bounds}"


class Concat(nn.Module):
    """Joins the connected inputs (two to four) along `dim`."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, *xs):
        return torch.cat(xs, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Add(nn.Module):
    """a + b, e.g. the skip of a residual connection."""

    def forward(self, a, b):
        return a + b


class Multiply(nn.Module):
    """a · b element-wise, e.g. a gate."""

    def forward(self, a, b):
        return a * b
