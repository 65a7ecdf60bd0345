"""Pooling: max or average over windows of sequences (N, C, L), images (N, C, H, W) and volumes
(N, C, D, H, W), and reductions over a whole dimension."""

from __future__ import annotations

from .common import axis, expect_rank, rank_hint
from .conv import EXAMPLES, LAYOUTS
from .registry import register
from .spec import NodeSpec, Param, Port, ShapeError, format_shape

_WINDOW_PARAMS = (
    Param("kernel_size", "int", 2, "width of the square window", min=1, max=64),
    Param("stride", "int", 0, "step between windows; 0 means the same as kernel_size", min=0, max=64),
    Param("padding", "int", 0, "padding on each side, at most half the window", min=0, max=32),
    Param("kernel_shape", "ints", (), "one window size per spatial axis, e.g. [3, 1]; empty uses kernel_size on "
          "every axis", min=1, max=64),
    Param("strides", "ints", (), "one step per spatial axis, e.g. [2, 1]; empty uses stride on every axis",
          min=1, max=64),
    Param("ceil_mode", "bool", False, "round the output size up, keeping a last window that overhangs the input "
          "(SqueezeNet's pools); off rounds down and drops it"),
)
_DILATION = Param("dilation", "int", 1, "spacing between the window's taps", min=1, max=16)
_COUNT_PAD = Param("count_include_pad", "bool", True, "average over the whole window, padding included; off "
                   "divides by the input values the window covers")


def _window(params, dims: int) -> tuple[tuple[int, ...], tuple[int, ...], int, int]:
    """(kernel per axis, stride per axis, padding, dilation); stride 0 means the kernel's size."""
    kernel = tuple(params["kernel_shape"]) or (params["kernel_size"],) * dims
    stride = tuple(params["strides"]) or tuple(params["stride"] or k for k in kernel)
    return kernel, stride, params["padding"], params.get("dilation", 1)


def _named(kernel: tuple[int, ...]) -> str:
    return f"kernel_size {kernel[0]}" if len(set(kernel)) == 1 else f"kernel_shape {list(kernel)}"


def pool_size(size: int | None, kernel: int, stride: int, padding: int, dilation: int, ceil: bool) -> int | None:
    """torch's output length of a pooling window along one axis; with `ceil`, a last window must still start
    inside the input or its left padding."""
    if size is None:
        return None
    span = dilation * (kernel - 1) + 1
    out = (size + 2 * padding - span + (stride - 1 if ceil else 0)) // stride + 1
    if ceil and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def _pool(kind: str, dims: int, doc: str) -> NodeSpec:
    type_id = f"{kind}Pool{dims}d"

    def infer(params, in_shapes):
        x = in_shapes["in"]
        expect_rank("in", x, (dims + 2,), LAYOUTS[dims], rank_hint(x, dims + 2))
        for name in ("kernel_shape", "strides"):
            if params[name] and len(params[name]) != dims:
                raise ShapeError("in", f"{name} {list(params[name])} gives {len(params[name])} sizes; a {type_id} "
                                       f"needs {dims} (one per spatial axis) — fix {name} or leave it empty")
        kernel, stride, padding, dilation = _window(params, dims)
        for k in kernel:
            half = (dilation * (k - 1) + 1) // 2
            if padding > half:
                raise ShapeError("in", f"padding {padding} is more than half of the window {k} — lower padding "
                                       f"to at most {half}")
        too_small = any(size is not None and size < k for size, k in zip(x[2:], kernel, strict=True))
        if kind == "Avg" and dims == 3 and too_small:
            raise ShapeError("in", f"AvgPool3d needs D, H and W of at least {_named(kernel)} (torch does not "
                                   f"count the padding here), got {format_shape(x)} — lower kernel_size")
        for size, k in zip(x[2:], kernel, strict=True):
            span = dilation * (k - 1) + 1
            if size is not None and size + 2 * padding < span:
                raise ShapeError("in", f"a window of {span} does not fit in size {size} (+ 2×padding {padding}) of "
                                       f"{format_shape(x)} — use a smaller kernel_size, or more padding")
        out = tuple(pool_size(size, k, s, padding, dilation, params["ceil_mode"])
                    for size, k, s in zip(x[2:], kernel, stride, strict=True))
        return {"out": (*x[:2], *out)}

    def build(params, in_shapes):
        import torch.nn as nn

        kernel, stride, padding, dilation = _window(params, dims)
        extra = {"dilation": dilation} if kind == "Max" else {"count_include_pad": params["count_include_pad"]}
        return getattr(nn, type_id)(kernel, stride=stride, padding=padding, ceil_mode=params["ceil_mode"], **extra)

    return register(NodeSpec(
        type_id=type_id, title=type_id, category="Pooling", id_prefix="pool", doc=doc,
        inputs=(Port("in", LAYOUTS[dims]),), outputs=(Port("out"),),
        params=(*_WINDOW_PARAMS, _DILATION if kind == "Max" else _COUNT_PAD),
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
