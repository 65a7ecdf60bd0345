"""Shape and merge plumbing: reshape, permute, slice, concatenate, add, multiply. The batch stays dim 0."""

from __future__ import annotations

import torch
from torch import nn


class Reshape(nn.Module):
    """(N, *in) → (N, *shape); `shape` excludes the batch and may hold one -1. `batch` "merge" folds the
    axis after the batch into it, (N, A, …) → (N·A, *shape); "split" unfolds a batch of N·A samples,
    (N·A, …) → (N, split, *shape). The batch size is read at run time, so exports keep it dynamic."""

    def __init__(self, shape: tuple[int, ...], batch: str = "keep", split: int = 2):
        super().__init__()
        self.shape, self.batch, self.split = tuple(shape), batch, split
        self.node_id = "Reshape"  # the compiler names the node here, for the error a split may raise

    def forward(self, x):
        n = x.shape[0]
        if self.batch == "merge":
            return x.reshape(n * x.shape[1], *self.shape)
        if self.batch == "split":
            if isinstance(n, int) and n % self.split:  # eager runs only: traced and exported sizes are symbolic
                raise ValueError(f"{self.node_id}: a batch of {n} does not split into {self.split} equal parts — feed "
                                 f"it a batch merged from {self.split} rows per sample, or fix batch_split")
            return x.reshape(n // self.split, self.split, *self.shape)
        return x.reshape(n, *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}" + ("" if self.batch == "keep" else f", batch={self.batch!r}") + (
            f", split={self.split}" if self.batch == "split" else "")


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
    """Piece `index` of `torch.chunk(x, chunks, dim)`. With the dim's `size` known when built (a dim after the
    batch), its bounds are worked out once and the piece is one narrow — exported as a Slice of constants, where
    torch.chunk becomes a SplitToSequence that onnxruntime refuses when the dim holds fewer than `chunks`."""

    def __init__(self, chunks: int, dim: int, index: int, size: int | None = None):
        super().__init__()
        self.chunks, self.dim, self.index = chunks, dim, index
        self.bounds = None
        if size is not None:
            step = -(-size // chunks)
            self.bounds = index * step, min(step, size - index * step)

    def forward(self, x):
        if self.bounds is None:
            return torch.chunk(x, self.chunks, self.dim)[self.index]
        return x.narrow(self.dim, *self.bounds)

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
