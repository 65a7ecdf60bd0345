"""Pieces shared by the node families: common params, shape checks and weight init."""

from __future__ import annotations

from collections.abc import Mapping

from .spec import Param, Shape, ShapeError, format_shape

INIT_PARAM = Param(
    "init", "choice", "default", "weight initialisation: torch's default, He/Kaiming normal, or Xavier uniform",
    choices=("default", "kaiming", "xavier"),
)
BIAS_PARAM = Param("bias", "bool", True, "learn an additive bias")


def expect_rank(port: str, shape: Shape, ranks: tuple[int, ...], layout: str, hint: str = "") -> None:
    """Raise a ShapeError unless `shape` has one of the allowed ranks."""
    if len(shape) not in ranks:
        tail = f" — {hint}" if hint else ""
        raise ShapeError(port, f"expected {layout}, got {format_shape(shape)}{tail}")


def rank_hint(shape: Shape, wanted_rank: int) -> str:
    """Suggest the node that fixes a rank mismatch."""
    if len(shape) > wanted_rank:
        return "add Flatten" if wanted_rank == 2 else "add Reshape"
    return "add Reshape"


def same_shape(in_shapes: Mapping[str, Shape], ports: tuple[str, ...]) -> Shape:
    """The common shape of several inputs (element-wise ops); raises on the first that differs."""
    first = in_shapes[ports[0]]
    for port in ports[1:]:
        if port in in_shapes and not _compatible(first, in_shapes[port]):
            raise ShapeError(
                port, f"expected {format_shape(first)} to match {ports[0]}, got {format_shape(in_shapes[port])}"
            )
    return first


def _compatible(a: Shape, b: Shape) -> bool:
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))


def conv_out(size: int | None, kernel: int, stride: int, padding: int, dilation: int = 1) -> int | None:
    """Output length of a convolution or pooling window along one axis (torch's formula)."""
    if size is None:
        return None
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


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
