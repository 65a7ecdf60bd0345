"""The node catalogue. Importing this package registers every node type (no torch import)."""

from . import activation, io, linear  # noqa: F401  (imports register the specs)
from .registry import all_specs, categories, get_spec, register
from .spec import NodeSpec, Param, Port, Shape, ShapeError, format_shape

__all__ = [
    "NodeSpec", "Param", "Port", "Shape", "ShapeError", "all_specs", "categories", "format_shape", "get_spec",
    "register",
]
