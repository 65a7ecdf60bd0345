"""Pieces shared by the node families: common params, shape checks and weight init."""

from __future__ import annotations

from collections.abc import Mapping

from .spec import Param, Shape, ShapeError, format_shape

INIT_PARAM = Param(
    "init", "choice", "default", "weight initialisation: torch's default, He/Kaiming normal, or Xavier uniform",
    choices=("default", "kaiming", "xavier"),
)
BIAS_PARAM = Param("bias", "bool", True, "learn an additive bias")
# Dropout probabilities stop short of 1: p = 1 zeroes every activation and nothing can train.
DROPOUT_MAX = 0.99


def dropout_param(name: str = "dropout", default: float = 0.0,
                  doc: str = "probability of zeroing an activation while training") -> Param:
    return Param(name, "float", default, doc, min=0.0, max=DROPOUT_MAX)


def expect_rank(port: str, shape: Shape, ranks: tuple[int, ...], layout: str, hint: str = "") -> None:
    """Raise a ShapeError unless `shape` has one of the allowed ranks."""
    if len(shape) not in ranks:
        tail = f" — {hint}" if hint else ""
        raise ShapeError(port, f"expected {layout}, got {format_shape(shape)}{tail}", stricter="layout")


def expect_min_rank(port: str, shape: Shape, rank: int, layout: str) -> None:
    """Raise a ShapeError unless `shape` has at least `rank` dims."""
    if len(shape) < rank:
        raise ShapeError(port, f"expected {layout}, got {format_shape(shape)} — add Reshape", stricter="layout")


def rank_hint(shape: Shape, wanted_rank: int) -> str:
    """Suggest the node that fixes a rank mismatch."""
    if len(shape) > wanted_rank:
        return "add Flatten" if wanted_rank == 2 else "add Reshape"
    return "add Reshape"


def axis(port: str, dim: int, shape: Shape) -> int:
    """`dim` (negative counts from the end) as an index into `shape`; never the batch dimension."""
    rank = len(shape)
    if not -rank <= dim < rank:
        raise ShapeError(port, f"dim {dim} is out of range for {format_shape(shape)} (rank {rank})")
    index = dim % rank
    if index == 0:
        raise ShapeError(port, f"dim {dim} is the batch dimension of {format_shape(shape)} — pick a dim ≥ 1",
                         stricter="batch")
    return index


def numel(dims: Shape) -> int | None:
    """The number of elements of `dims`, None when any of them is unknown."""
    count = 1
    for dim in dims:
        if dim is None:
            return None
        count *= dim
    return count


def with_dim(shape: Shape, index: int, size: int | None) -> Shape:
    """`shape` with the dim at `index` replaced by `size`."""
    return (*shape[:index], size, *shape[index + 1:])


def broadcast(in_shapes: Mapping[str, Shape], ports: tuple[str, ...]) -> Shape:
    """The shape element-wise inputs broadcast to (NumPy's and torch's rule over the dims after the batch):
    each dim's sizes must be equal or 1, and 1 stretches to the other — (N, C, 1, 1) with (N, C, H, W), a
    squeeze-and-excitation gate. Raises on the first connected port that does not broadcast, naming both
    shapes. Inputs must have the same rank: torch lines dims up from the right, so a (N, C) against a
    (N, C, H, W) would meet the batch with H — the graph says where it reshapes."""
    first = ports[0]
    result = in_shapes[first]
    for port in ports[1:]:
        if port not in in_shapes:
            continue
        shape = in_shapes[port]
        if len(shape) != len(result):
            short, rank = min(shape, result, key=len), max(len(shape), len(result))
            hint = f", e.g. {format_shape((*short, *(1,) * (rank - len(short))))}" if short else ""
            raise ShapeError(port, f"cannot broadcast {format_shape(shape)} with {first} {format_shape(result)}: the "
                                   f"ranks differ, and torch would line the batch up with another dim — add Reshape "
                                   f"to give {format_shape(short)} {rank} dims, size 1 where it repeats{hint}",
                             stricter="layout")
        dims = list(result[:1])
        for index, (x, y) in enumerate(zip(result[1:], shape[1:], strict=True), start=1):
            sizes = {d for d in (x, y) if d is not None and d != 1}
            if len(sizes) > 1:
                raise ShapeError(port, f"cannot broadcast {format_shape(shape)} with {first} {format_shape(result)}: "
                                       f"dim {index} is {y} against {x} — sizes must be equal, or 1 to repeat")
            dims.append(sizes.pop() if sizes else None if None in (x, y) else 1)
        result = tuple(dims)
    return result


def compatible(a: Shape, b: Shape) -> bool:
    """Same rank and equal sizes wherever both are known."""
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b, strict=True))


def conv_out(size: int | None, kernel: int, stride: int, padding: int, dilation: int = 1) -> int | None:
    """Output length of a convolution or pooling window along one axis (torch's formula)."""
    if size is None:
        return None
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def window_dims(port: str, shape: Shape, kernel: int | tuple[int, ...], stride: int, padding: int,
                dilation: int = 1) -> Shape:
    """Output sizes of a conv/pool window sliding over the spatial dims `shape[2:]`; `kernel` is one
    size for every axis or a tuple with one per axis.

    Raises a ShapeError naming the sizes when the (dilated) window does not fit the padded input.
    """
    kernels = kernel if isinstance(kernel, tuple) else (kernel,) * len(shape[2:])
    for size, k in zip(shape[2:], kernels, strict=True):
        span = dilation * (k - 1) + 1
        if size is not None and size + 2 * padding < span:
            raise ShapeError(port, f"a window of {span} does not fit in size {size} (+ 2×padding {padding}) of "
                                   f"{format_shape(shape)} — use a smaller kernel_size or dilation, or more padding")
    return tuple(conv_out(size, k, stride, padding, dilation) for size, k in zip(shape[2:], kernels, strict=True))


def apply_init(module, scheme: str) -> None:
    """Re-initialise every weight matrix/kernel in `module` (He or Xavier); biases become zero."""
    if scheme == "default":
        return
    import torch

    for name, tensor in module.named_parameters():
        if tensor.dim() >= 2 and "weight" in name:
            if scheme == "kaiming":
                torch.nn.init.kaiming_normal_(tensor, nonlinearity="relu")
            else:
                torch.nn.init.xavier_uniform_(tensor)
        elif "bias" in name:
            torch.nn.init.zeros_(tensor)
