"""Merging several wires into one: concatenation, and element-wise sum/product (residual connections, gates)."""

from __future__ import annotations

from .common import axis, broadcast, compatible, with_dim
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


def broadcasting(type_id: str, prefix: str, torch_name: str, doc: str, category: str = "Merge",
                 example: tuple = ((None, 4, 6), (None, 4, 6))) -> NodeSpec:
    """Register a two-input element-wise node whose inputs broadcast (`common.broadcast`)."""
    return register(NodeSpec(
        type_id=type_id, title=type_id, category=category, id_prefix=prefix, doc=doc,
        inputs=(Port("a"), Port("b")), outputs=(Port("out"),), params=(),
        infer=lambda params, in_shapes: {"out": broadcast(in_shapes, ("a", "b"))}, build=None,
        function=torch_function(torch_name), example_inputs=dict(zip(("a", "b"), example, strict=True)),
    ))


broadcasting("Add", "add", "add", "a + b element-wise: the skip connection of a residual block. Sizes of 1 repeat "
             "to match the other input's (a (N, C, 1, 1) bias over (N, C, H, W)).")
broadcasting("Multiply", "mul", "mul", "a · b element-wise, e.g. a learned gate; sizes of 1 repeat to match the "
             "other input's (squeeze-and-excitation: (N, C, 1, 1) scales over (N, C, H, W)).",
             example=((None, 4, 5, 6), (None, 4, 1, 1)))
