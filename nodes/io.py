"""Graph boundary nodes: Input and Target feed data in, Output marks the model's prediction.

Their shapes come from params (the batch dimension is added as `None`). They have no torch
module: the compiler turns Input/Target into graph placeholders and Output into graph outputs.

An Input's `source` says where the trainer gets its values: "data" (the dataset's samples) or
"noise" (fresh float32 N(0, 1) samples of its shape at every step — a GAN generator's latent
vector; the trainer refuses a noise Input of dtype int64).
Inference and export treat both alike: the caller passes the tensor.
"""

from __future__ import annotations

from .registry import register
from .spec import NodeSpec, Param, Port

_DTYPE = ("float32", "int64")
SOURCES = ("data", "noise")


def is_noise(params) -> bool:
    """True for an Input whose values the trainer samples from N(0, 1) instead of the dataset."""
    return params.get("source", "data") == "noise"


def _source_infer(params, in_shapes):
    return {"out": (None, *params["shape"])}



INPUT = register(NodeSpec(
    type_id="Input", title="Input", category="Input / Output", id_prefix="input", role="input",
    doc="A batch of samples from the dataset, or of N(0, 1) noise (source noise: a GAN's latent vector). "
        "Shape excludes the batch dimension, e.g. [1, 28, 28].",
    inputs=(),
    outputs=(Port("out"),),
    params=(
        Param("shape", "ints", (1, 28, 28), "sample shape without the batch dimension", min=1),
        Param("dtype", "choice", "float32", "element type (int64 for token ids)", choices=_DTYPE),
        Param("source", "choice", "data", "data: the dataset's samples; noise: N(0, 1) drawn by the trainer "
                                          "every step (float32)", choices=SOURCES),
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
