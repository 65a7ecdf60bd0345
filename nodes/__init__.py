"""The node catalogue. Importing this package registers every node type (no torch import)."""

# Registration order is the palette's order, so these imports are not sorted.
# isort: off
from . import io, linear, conv, pool, activation, norm, regularization, shape, merge, elementwise  # noqa: F401
from . import recurrent, attention, embedding, tensors, generic, loss  # noqa: F401
# isort: on
from .registry import all_specs, categories, get_spec, register
from .spec import NodeSpec, Param, Port, Shape, ShapeError, format_shape

__all__ = [
    "NodeSpec", "Param", "Port", "Shape", "ShapeError", "all_specs", "categories", "format_shape", "get_spec",
    "register",
]
