"""Element-wise math: differences and quotients of two wires (broadcasting as Add and Multiply do), and
functions of one value (powers, roots, exponentials, clamping). Each keeps its input's shape; they take
float32, as layers do (a Divide of int64 ids would give floats anyway)."""

from __future__ import annotations

import struct

from .activation import keep_shape, unary
from .merge import broadcasting
from .spec import Param, ShapeError, torch_function

CATEGORY = "Math"

broadcasting("Subtract", "sub", "sub", "a − b element-wise; sizes of 1 repeat to match the other input's "
             "(a (N, C, 1) mean taken off (N, C, L)).", CATEGORY, example=((None, 4, 6), (None, 4, 1)))
broadcasting("Divide", "div", "div", "a / b element-wise; sizes of 1 repeat to match the other input's "
             "(a (N, 1, L) norm dividing (N, C, L)). Division by 0 gives inf or NaN.", CATEGORY,
             example=((None, 4, 6), (None, 1, 6)))


def _exponent(params) -> float:
    """The exponent as float32, the precision an ONNX export stores it in: torch tells 2.0000000001 from 2
    (a negative value to that power is NaN), the exported model could not."""
    return struct.unpack("f", struct.pack("f", params["exponent"]))[0]


def _pow(params):
    import torch

    return torch.pow, {"exponent": _exponent(params)}


def _pow_infer(params, in_shapes):
    if _exponent(params) in (0, 1):
        does = "sets every value to 1" if _exponent(params) == 0 else "leaves every value as it is"
        raise ShapeError("in", f"exponent {params['exponent']} {does} — pick another exponent, or remove the node",
                         stricter="degenerate")
    return keep_shape(params, in_shapes)


unary("Pow", "x raised to a fixed power (x² by default); a negative x to a fractional power gives NaN.", _pow,
      (Param("exponent", "float", 2.0, "the power every value is raised to", min=-100.0, max=100.0),),
      infer=_pow_infer, category=CATEGORY)
unary("Sqrt", "√x, the square root; a negative x gives NaN (feed it something ≥ 0: Abs, Exp, Softplus).",
      torch_function("sqrt"), category=CATEGORY)
unary("Exp", "eˣ, the exponential (always positive; overflows to inf past about 88).", torch_function("exp"),
      category=CATEGORY)
unary("Abs", "|x|, the absolute value.", torch_function("abs"), category=CATEGORY)
unary("Neg", "−x: flips every sign (a − b is Subtract).", torch_function("neg"), category=CATEGORY)


def _clamp(params):
    import torch

    return torch.clamp, {"min": params["min"] if params["use_min"] else None,
                         "max": params["max"] if params["use_max"] else None}


def _clamp_infer(params, in_shapes):
    if not (params["use_min"] or params["use_max"]):
        raise ShapeError("in", "neither use_min nor use_max is on, so nothing would be clamped — turn on one of them")
    if params["use_min"] and params["use_max"] and params["min"] >= params["max"]:
        raise ShapeError("in", f"min {params['min']} is not below max {params['max']}: every output would be "
                               f"{params['max']} — make min smaller than max", stricter="degenerate")
    return keep_shape(params, in_shapes)


unary("Clamp", "x limited to [min, max]; either bound can be off (use_min, use_max) to clamp one side only.", _clamp,
      (Param("use_min", "bool", True, "clamp from below: values under min become min"),
       Param("min", "float", 0.0, "the lower bound (when use_min is on)"),
       Param("use_max", "bool", True, "clamp from above: values over max become max"),
       Param("max", "float", 1.0, "the upper bound (when use_max is on)")),
      infer=_clamp_infer, category=CATEGORY)
