"""Convolutions over sequences (N, C, L), images (N, C, H, W) and volumes (N, C, D, H, W), and upsampling.

Input channels are inferred from the incoming shape. Kernels are square (kernel_size) unless
kernel_shape gives one size per axis; stride, padding and dilation are one int for every axis.
"""

from __future__ import annotations

from .common import BIAS_PARAM, INIT_PARAM, expect_rank, numel, rank_hint, window_dims
from .registry import register
from .spec import NodeSpec, Param, Port, ShapeError, format_shape

LAYOUTS = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}
EXAMPLES = {1: (None, 3, 16), 2: (None, 3, 8, 8), 3: (None, 2, 5, 5, 5)}

OUT_CHANNELS = Param("out_channels", "int", 16, "number of output channels (filters)", min=1, max=65536)
KERNEL = Param("kernel_size", "int", 3, "width of the square kernel", min=1, max=64)
STRIDE = Param("stride", "int", 1, "step between kernel positions", min=1, max=64)
PADDING = Param("padding", "int", 0, "zeros added on each side of every spatial dim", min=0, max=64)
DILATION = Param("dilation", "int", 1, "spacing between kernel taps", min=1, max=64)
KERNEL_SHAPE = Param("kernel_shape", "ints", (), "one kernel size per spatial axis, e.g. [3, 1], for a kernel "
                     "that is not square; empty uses kernel_size on every axis", min=1, max=64)
GROUPS = Param("groups", "int", 1, "split the channels into groups convolved separately (groups = input "
               "channels: depthwise); must divide the input and output channels", min=1, max=65536)


def _expect_spatial(x, dims: int) -> None:
    expect_rank("in", x, (dims + 2,), LAYOUTS[dims], rank_hint(x, dims + 2))


def _kernel(params, dims: int) -> tuple[int, ...]:
    """The kernel's size along each spatial axis."""
    return tuple(params["kernel_shape"]) or (params["kernel_size"],) * dims


def _check_conv_params(params, x, dims: int) -> None:
    shape, groups = params["kernel_shape"], params["groups"]
    if shape and len(shape) != dims:
        raise ShapeError("in", f"kernel_shape {list(shape)} gives {len(shape)} sizes; a Conv{dims}d needs {dims} "
                               f"(one per spatial axis) — fix kernel_shape or leave it empty")
    for what, count in (("input", x[1]), ("output", params["out_channels"])):
        if count is not None and count % groups:
            raise ShapeError("in", f"{count} {what} channels do not split into {groups} groups — set groups to a "
                                   f"divisor of both channel counts")


def _conv(dims: int, doc: str) -> NodeSpec:
    type_id = f"Conv{dims}d"

    def infer(params, in_shapes):
        x = in_shapes["in"]
        _expect_spatial(x, dims)
        _check_conv_params(params, x, dims)
        spatial = window_dims("in", x, _kernel(params, dims), params["stride"], params["padding"], params["dilation"])
        return {"out": (x[0], params["out_channels"], *spatial)}

    def build(params, in_shapes):
        import torch.nn as nn

        return getattr(nn, type_id)(
            in_shapes["in"][1], params["out_channels"], _kernel(params, dims), stride=params["stride"],
            padding=params["padding"], dilation=params["dilation"], groups=params["groups"], bias=params["bias"],
        )

    def macs(params, in_shapes, out_shapes):  # every output value: the channels of its group · kernel taps
        return numel(out_shapes["out"]) * in_shapes["in"][1] // params["groups"] * numel(_kernel(params, dims))

    return register(NodeSpec(
        type_id=type_id, title=type_id, category="Convolution", id_prefix="conv", doc=doc,
        inputs=(Port("in", LAYOUTS[dims]),), outputs=(Port("out"),),
        params=(OUT_CHANNELS, KERNEL, STRIDE, PADDING, DILATION, BIAS_PARAM, INIT_PARAM, KERNEL_SHAPE, GROUPS),
        infer=infer, build=build, macs=macs, example_inputs={"in": EXAMPLES[dims]},
    ))


_conv(1, "Slides learned filters along a sequence: (N, C, L) → (N, out_channels, L').")
_conv(2, "Slides learned filters over an image: (N, C, H, W) → (N, out_channels, H', W').")
_conv(3, "Slides learned filters through a volume or video: (N, C, D, H, W) → (N, out_channels, D', H', W').")


def _transpose_out(size, params):
    if size is None:
        return None
    k, s, p, d, op = (params[n] for n in ("kernel_size", "stride", "padding", "dilation", "output_padding"))
    return (size - 1) * s - 2 * p + d * (k - 1) + op + 1


def _conv_transpose_infer(params, in_shapes):
    x = in_shapes["in"]
    _expect_spatial(x, 2)
    if params["output_padding"] >= params["stride"]:  # torch also takes one below the dilation; onnxruntime does not
        raise ShapeError("in", f"output_padding {params['output_padding']} must be smaller than stride "
                               f"{params['stride']} — lower output_padding", stricter="onnx")
    spatial = tuple(_transpose_out(size, params) for size in x[2:])
    if any(size is not None and size < 1 for size in spatial):
        raise ShapeError("in", f"padding {params['padding']} crops {format_shape(x)} to nothing — lower padding")
    return {"out": (x[0], params["out_channels"], *spatial)}


def _conv_transpose_build(params, in_shapes):
    import torch.nn as nn

    return nn.ConvTranspose2d(
        in_shapes["in"][1], params["out_channels"], params["kernel_size"], stride=params["stride"],
        padding=params["padding"], output_padding=params["output_padding"], dilation=params["dilation"],
        bias=params["bias"],
    )


def _conv_transpose_macs(params, in_shapes, out_shapes):  # every input value is spread by the whole kernel
    return numel(in_shapes["in"]) * params["out_channels"] * params["kernel_size"] ** 2


register(NodeSpec(
    type_id="ConvTranspose2d", title="ConvTranspose2d", category="Convolution", id_prefix="deconv",
    doc="Learned upsampling (a 'deconvolution'): stride 2 roughly doubles H and W.",
    inputs=(Port("in", LAYOUTS[2]),), outputs=(Port("out"),),
    params=(
        OUT_CHANNELS, KERNEL, Param("stride", "int", 2, "upsampling factor per step", min=1, max=64), PADDING,
        Param("output_padding", "int", 0, "extra rows/cols on one side to reach an exact size", min=0, max=63),
        DILATION, BIAS_PARAM, INIT_PARAM,
    ),
    infer=_conv_transpose_infer, build=_conv_transpose_build, macs=_conv_transpose_macs,
    example_inputs={"in": (None, 4, 5, 5)},
))


def _upsample_infer(params, in_shapes):
    x = in_shapes["in"]
    _expect_spatial(x, 2)
    factor = params["scale_factor"]
    return {"out": (*x[:2], *(None if size is None else size * factor for size in x[2:]))}


def _upsample_build(params, in_shapes):
    import torch.nn as nn

    return nn.Upsample(scale_factor=params["scale_factor"], mode=params["mode"])


register(NodeSpec(
    type_id="Upsample", title="Upsample", category="Convolution", id_prefix="up",
    doc="Enlarges H and W by an integer factor, copying (nearest) or interpolating (bilinear) pixels.",
    inputs=(Port("in", LAYOUTS[2]),), outputs=(Port("out"),),
    params=(
        Param("scale_factor", "int", 2, "how many times larger H and W become", min=1, max=16),
        Param("mode", "choice", "nearest", "nearest copies pixels; bilinear interpolates",
              choices=("nearest", "bilinear")),
    ),
    infer=_upsample_infer, build=_upsample_build, example_inputs={"in": (None, 3, 4, 4)},
))
