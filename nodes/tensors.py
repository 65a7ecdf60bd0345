"""Tensors the graph holds itself: a learned Parameter (ViT's class token, ConvNeXt's layer scale, a positional
table) and a fixed Constant. Each takes one wire only for its batch size, and gives its tensor repeated over
that batch — (N, *shape) — so it joins other wires through Concat, Add or Multiply, which broadcast sizes of 1."""

from __future__ import annotations

from .common import expect_min_rank
from .registry import register
from .spec import NodeSpec, Param, Port

CATEGORY = "Tensor"
_SHAPE = Param("shape", "ints", (1, 8), "the tensor's shape without the batch, e.g. [1, 768] for a class token, "
               "[96, 1, 1] for a per-channel scale", min=1, max=1_000_000)
_LIKE = Port("like", "(N, …) any", dtype="any")


def _infer(params, in_shapes):
    expect_min_rank("like", in_shapes["like"], 1, "(N, …)")
    return {"out": (in_shapes["like"][0], *params["shape"])}


def _build(learned: bool):
    def build(params, in_shapes):
        from .layers.tensors import Repeated

        return Repeated(tuple(params["shape"]), params.get("init", "constant"), params["value"], learned)

    return build


register(NodeSpec(
    type_id="Parameter", title="Parameter", category=CATEGORY, id_prefix="param",
    doc="A learned tensor of the given shape, the same for every sample: (N, *shape) with N the batch of the wire "
        "into like (only its batch size is read). A class token joined by Concat, a layer scale by Multiply, a "
        "positional table by Add.",
    inputs=(_LIKE,), outputs=(Port("out"),),
    params=(_SHAPE,
            Param("init", "choice", "normal", "starting values: normal (std 0.02, ViT's tokens), zeros, ones, or "
                  "constant (every entry = value, e.g. 1e-6 for a layer scale)",
                  choices=("normal", "zeros", "ones", "constant")),
            Param("value", "float", 1e-6, "the starting value of every entry when init is constant",
                  min=-1e9, max=1e9)),
    infer=_infer, build=_build(True), example_inputs={"like": (None, 4, 8)},
))

register(NodeSpec(
    type_id="Constant", title="Constant", category=CATEGORY, id_prefix="const",
    doc="A fixed tensor of the given shape, never trained: (N, *shape) with N the batch of the wire into like. "
        "Every entry is value; an imported constant keeps its own values (saved with the weights).",
    inputs=(_LIKE,), outputs=(Port("out"),),
    params=(_SHAPE, Param("value", "float", 1.0, "every entry's value", min=-1e9, max=1e9)),
    infer=_infer, build=_build(False), example_inputs={"like": (None, 4, 8)},
))
