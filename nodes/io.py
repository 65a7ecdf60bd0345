"""Graph boundary nodes: Input and Target feed data in, Output marks the model's prediction.

Their shapes come from params (the batch dimension is added as `None`). They have no torch
module: the compiler turns Input/Target into graph placeholders and Output into graph outputs.
"""

from __future__ import annotations

from .registry import register
from .spec import NodeSpec, Param, Port

_DTYPE = ("float32", "int64")


def _source_infer(params, in_shapes):
    return {"out": (None, *params["shape"])}


INPUT = register(NodeSpec(
    type_id="Input", title="Input", category="Input / Output", id_prefix="input", role="input",
    doc="A batch of samples from the dataset. Shape excludes the batch dimension, e.g. [1, 28, 28].",
    inputs=(),
    outputs=(Port("out"),),
    params=(
        Param("shape", "ints", (1, 28, 28), "sample shape without the batch dimension", min=1),
        Param("dtype", "choice", "float32", "element type (int64 for token ids)", choices=_DTYPE),
    ),
    infer=_source_infer, build=None,
))

TARGET = register(NodeSpec(
    type_id="Target", title="Target", category="Input / Output", id_prefix="target", role="target",
    doc="The labels that go with each sample; [] for one class index per sample.",
    inputs=(),
    outputs=(Port("out"),),
    params=(
        Param("shape", "ints", (), "label shape without the batch dimension", min=1),
        Param("dtype", "choice", "int64", "int64 for class indices, float32 for regression", choices=_DTYPE),
    ),
    infer=_source_infer, build=None,
))

OUTPUT = register(NodeSpec(
    type_id="Output", title="Output", category="Input / Output", id_prefix="output", role="output",
    doc="The model's prediction: what export and inference return.",
    inputs=(Port("in"),),
    outputs=(),
    params=(),
    infer=lambda params, in_shapes: {},
    build=None,
))
