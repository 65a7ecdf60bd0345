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


class Chunk(nn.Module):
    """Piece `index` of `torch.chunk(x, chunks, dim)`: its bounds follow the input's size."""

    def __init__(self, chunks: int, dim: int, index: int):
        super().__init__()
        self.chunks, self.dim, self.index = chunks, dim, index

    def forward(self, x):
        return torch.chunk(x, self.chunks, self.dim)[self.index]

    def extra_repr(self) -> str:
        return f"chunks={self.chunks}, dim={self.dim}, index={self.index}"


class ChannelShuffle(nn.Module):
    """(N, C, …) with the channels of `groups` groups interleaved: (N, g, C/g, …) → (N, C/g, g, …) → (N, C, …)."""

    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, x):
        return x.unflatten(1, (self.groups, -1)).transpose(1, 2).flatten(1, 2)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"


class Concat(nn.Module):
    """Joins the connected inputs (two to four) along `dim`."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, *xs):
        return torch.cat(xs, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Function(nn.Module):
    """One torch call on one input, `fn(x, **kwargs)`: the module form of a node declared by its function."""

    def __init__(self, fn, kwargs: dict):
        super().__init__()
        self.fn, self.kwargs = fn, dict(kwargs)

    def forward(self, x):
        return self.fn(x, **self.kwargs)

    def extra_repr(self) -> str:
        args = "".join(f", {k}={v!r}" for k, v in self.kwargs.items())
        return f"{getattr(self.fn, '__name__', self.fn)}{args}"


class BinaryFunction(Function):
    """`fn(a, b, **kwargs)`: the module form of a two-input node declared by its function."""

    def forward(self, a, b):
        return self.fn(a, b, **self.kwargs)
