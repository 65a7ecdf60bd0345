"""Pooling: max or average over windows of sequences (N, C, L), images (N, C, H, W) and volumes
(N, C, D, H, W), and reductions over a whole dimension."""

from __future__ import annotations

from .common import axis, expect_rank, rank_hint, window_dims
from .conv import EXAMPLES, LAYOUTS
from .registry import register
from .spec import NodeSpec, Param, Port, ShapeError, format_shape

_WINDOW_PARAMS = (
    Param("kernel_size", "int", 2, "width of the square window", min=1, max=64),
    Param("stride", "int", 0, "step between windows; 0 means the same as kernel_size", min=0, max=64),
    Param("padding", "int", 0, "padding on each side, at most half the kernel", min=0, max=32),
)


def _window(params) -> tuple[int, int, int]:
    """(kernel, stride, padding) with stride 0 resolved to the kernel."""
    return params["kernel_size"], params["stride"] or params["kernel_size"], params["padding"]


def _pool(kind: str, dims: int, doc: str) -> NodeSpec:
    type_id = f"{kind}Pool{dims}d"

    def infer(params, in_shapes):
        x = in_shapes["in"]
        expect_rank("in", x, (dims + 2,), LAYOUTS[dims], rank_hint(x, dims + 2))
        kernel, stride, padding = _window(params)
        if padding > kernel // 2:
            raise ShapeError("in", f"padding {padding} is more than half of kernel_size {kernel} — lower padding "
                                   f"to at most {kernel // 2}")
        if kind == "Avg" and dims == 3 and any(size is not None and size < kernel for size in x[2:]):
            raise ShapeError("in", f"AvgPool3d needs D, H and W of at least kernel_size {kernel} (torch does not count "
                                   f"the padding here), got {format_shape(x)} — lower kernel_size")
        return {"out": (*x[:2], *window_dims("in", x, kernel, stride, padding))}

    def build(params, in_shapes):
        import torch.nn as nn

        kernel, stride, padding = _window(params)
        return getattr(nn, type_id)(kernel, stride=stride, padding=padding)

    return register(NodeSpec(
        type_id=type_id, title=type_id, category="Pooling", id_prefix="pool", doc=doc,
        inputs=(Port("in", LAYOUTS[dims]),), outputs=(Port("out"),), params=_WINDOW_PARAMS,
        infer=infer, build=build, example_inputs={"in": EXAMPLES[dims]},
    ))


_pool("Max", 1, "The largest value in each window along a sequence.")
_pool("Avg", 1, "The mean of each window along a sequence.")
_pool("Max", 2, "The largest value in each window of an image: kernel 2 halves H and W.")
_pool("Avg", 2, "The mean of each window of an image: kernel 2 halves H and W.")
_pool("Max", 3, "The largest value in each window of a volume: kernel 2 halves D, H and W.")
_pool("Avg", 3, "The mean of each window of a volume: kernel 2 halves D, H and W.")


def _adaptive_infer(params, in_shapes):
    x = in_shapes["in"]
    expect_rank("in", x, (4,), LAYOUTS[2], rank_hint(x, 4))
    return {"out": (*x[:2], params["output_size"], params["output_size"])}


def _adaptive_build(params, in_shapes):
    from .layers.pool import AdaptiveAvgPool2d

    return AdaptiveAvgPool2d(params["output_size"], *in_shapes["in"][2:])


register(NodeSpec(
    type_id="AdaptiveAvgPool2d", title="AdaptiveAvgPool2d", category="Pooling", id_prefix="pool",
    doc="Averages any H×W down to output_size×output_size (1 = global average pooling).",
    inputs=(Port("in", LAYOUTS[2]),), outputs=(Port("out"),),
    params=(Param(
        "output_size", "int", 1,
        "height and width of the result", min=1, max=1024,
    ),),
    infer=_adaptive_infer, build=_adaptive_build, example_inputs={"in": (None, 3, 6, 6)},
))


_REDUCTIONS = ("mean", "sum", "max", "min")


def _reduce_infer(params, in_shapes):
    x = in_shapes["in"]
    index = axis("in", params["dim"], x)  # raises for a dim the input lacks, or the batch
    kept = (*x[:index], 1, *x[index + 1:]) if params["keepdim"] else (*x[:index], *x[index + 1:])
    return {"out": kept}


def _reduce_function(params):
    import torch

    reduction = {"mean": torch.mean, "sum": torch.sum, "max": torch.amax, "min": torch.amin}[params["mode"]]
    return reduction, {"dim": params["dim"], "keepdim": params["keepdim"]}


register(NodeSpec(
    type_id="Reduce", title="Reduce", category="Pooling", id_prefix="reduce",
    doc="The mean, sum, max or min over one whole dimension, e.g. the mean over the steps of (N, T, E) → (N, E).",
    inputs=(Port("in"),), outputs=(Port("out"),),
    params=(
        Param("mode", "choice", "mean", "what to compute over the dimension", choices=_REDUCTIONS),
        Param("dim", "int", 1, "the dimension to reduce (negative counts from the end; never the batch)",
              min=-8, max=8),
        Param("keepdim", "bool", False, "keep the reduced dimension with size 1"),
    ),
    infer=_reduce_infer, build=None, function=_reduce_function, example_inputs={"in": (None, 5, 4)},
))
