"""Merging several wires into one: concatenation, and element-wise sum/product (residual connections)."""

from __future__ import annotations

from .common import axis, compatible, same_shape, with_dim
from .registry import register
from .spec import NodeSpec, Param, Port, ShapeError, format_shape, torch_function

_CONCAT_PORTS = ("a", "b", "c", "d")


def _concat_infer(params, in_shapes):
    connected = [p for p in _CONCAT_PORTS if p in in_shapes]
    first = in_shapes[connected[0]]
    index = axis(connected[0], params["dim"], first)
    total = 0
    for port in connected:
        x = in_shapes[port]
        # None at the joined dim: only the other dims have to agree.
        if len(x) != len(first) or not compatible(with_dim(x, index, None), with_dim(first, index, None)):
            raise ShapeError(port, f"cannot concatenate {format_shape(x)} with {connected[0]} {format_shape(first)} "
                                   f"along dim {params['dim']} — every other dim must match")
        total = None if total is None or x[index] is None else total + x[index]
    return {"out": with_dim(first, index, total)}


def _concat_build(params, in_shapes):
    from .layers.plumbing import Concat

    return Concat(axis("a", params["dim"], in_shapes["a"]))


register(NodeSpec(
    type_id="Concat", title="Concat", category="Merge", id_prefix="cat",
    doc="Joins two to four inputs end to end along one dimension (channels by default).",
    inputs=(Port("a"), Port("b"), Port("c", optional=True), Port("d", optional=True)), outputs=(Port("out"),),
    params=(Param("dim", "int", 1, "the dimension to join along (negative counts from the end; never the batch)",
                  min=-8, max=8),),
    infer=_concat_infer, build=_concat_build, example_inputs={"a": (None, 3, 4), "b": (None, 2, 4)},
))


def _elementwise(type_id: str, prefix: str, torch_name: str, doc: str) -> NodeSpec:
    return register(NodeSpec(
        type_id=type_id, title=type_id, category="Merge", id_prefix=prefix, doc=doc,
        inputs=(Port("a"), Port("b")), outputs=(Port("out"),), params=(),
        infer=lambda params, in_shapes: {"out": same_shape(in_shapes, ("a", "b"))}, build=None,
        function=torch_function(torch_name), example_inputs={"a": (None, 4, 6), "b": (None, 4, 6)},
    ))


_elementwise("Add", "add", "add", "a + b for inputs of the same shape: the skip connection of a residual block.")
_elementwise("Multiply", "mul", "mul", "a · b element-wise for inputs of the same shape, e.g. a learned gate.")
