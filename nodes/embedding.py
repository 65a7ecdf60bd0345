"""Token embeddings and positional encodings: the front of every sequence model."""

from __future__ import annotations

from .common import INIT_PARAM, expect_rank, rank_hint
from .registry import register
from .spec import NodeSpec, Param, Port, ShapeError, format_shape


def _embedding_infer(params, in_shapes):
    x = in_shapes["in"]
    expect_rank("in", x, (1, 2), "token ids (N,) or (N, T)", rank_hint(x, 2))
    if params["padding_idx"] >= params["num_embeddings"]:
        raise ShapeError("in", f"padding_idx {params['padding_idx']} is no row of a table of "
                               f"{params['num_embeddings']} — set it below num_embeddings, or -1 for none")
    return {"out": (*x, params["embedding_dim"])}


def _embedding_build(params, in_shapes):
    import torch.nn as nn

    padding = params["padding_idx"] if params["padding_idx"] >= 0 else None
    return nn.Embedding(params["num_embeddings"], params["embedding_dim"], padding_idx=padding)


register(NodeSpec(
    type_id="Embedding", title="Embedding", category="Embedding", id_prefix="emb",
    doc="Looks up a learned vector per token id: int64 (N, T) → (N, T, embedding_dim).",
    inputs=(Port("in", "(N, T) or (N,) int64", dtype="int64"),), outputs=(Port("out"),),
    params=(
        Param("num_embeddings", "int", 1000, "vocabulary size: ids run from 0 to this − 1", min=1, max=10_000_000),
        Param("embedding_dim", "int", 64, "length of each vector", min=1, max=65536),
        INIT_PARAM,
        Param("padding_idx", "int", -1, "the id of padding, whose row is never trained (BERT's 0); -1: none",
              min=-1, max=10_000_000),
    ),
    infer=_embedding_infer, build=_embedding_build, example_inputs={"in": (None, 7)},
))


def _positional_infer(params, in_shapes):
    x = in_shapes["in"]
    expect_rank("in", x, (3,), "(N, T, D)", rank_hint(x, 3))
    if x[1] is not None and x[1] > params["max_len"]:
        raise ShapeError("in", f"sequence length {x[1]} of {format_shape(x)} exceeds max_len {params['max_len']} "
                               f"— raise max_len")
    return {"out": x}


def _positional_build(params, in_shapes):
    from .layers.sequence import PositionalEncoding

    return PositionalEncoding(params["max_len"], in_shapes["in"][2], learned=params["kind"] == "learned")


register(NodeSpec(
    type_id="PositionalEncoding", title="PositionalEncoding", category="Embedding", id_prefix="pos",
    doc="Adds each step's position to (N, T, D): fixed sinusoids, or a learned vector per position.",
    inputs=(Port("in", "(N, T, D)"),), outputs=(Port("out"),),
    params=(
        Param("kind", "choice", "sinusoidal", "sinusoidal is fixed; learned trains one vector per position",
              choices=("sinusoidal", "learned")),
        Param("max_len", "int", 512, "the longest sequence it accepts", min=1, max=1_000_000),
    ),
    infer=_positional_infer, build=_positional_build, example_inputs={"in": (None, 6, 8)},
))
