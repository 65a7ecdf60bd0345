"""Shape plumbing: flatten, reshape, permute, slice, split, chunk, channel shuffle and pad. The batch dimension
always stays first."""

from __future__ import annotations

from .common import axis, expect_min_rank, numel, with_dim
from .registry import register
from .spec import NodeSpec, Param, Port, ShapeError, format_shape, torch_function

_DIM = Param("dim", "int", -1, "the dimension to cut (negative counts from the end; never the batch)",
             min=-8, max=8)
_BIG = 1_000_000_000


def _flatten_infer(params, in_shapes):
    x, start = in_shapes["in"], params["start_dim"]
    if start >= len(x):
        fix = f"use at most {len(x) - 1}" if len(x) > 1 else "there is nothing to flatten, remove Flatten"
        raise ShapeError("in", f"start_dim {start} is past the last dim of {format_shape(x)} — {fix}")
    return {"out": (*x[:start], numel(x[start:]))}


register(NodeSpec(
    type_id="Flatten", title="Flatten", category="Shape", id_prefix="flat",
    doc="Merges every dimension from start_dim on into one: (N, C, H, W) → (N, C·H·W).",
    inputs=(Port("in"),), outputs=(Port("out"),),
    params=(Param("start_dim", "int", 1, "first dimension to merge (1 keeps only the batch apart)", min=1, max=8),),
    infer=_flatten_infer, build=None, function=torch_function("flatten", "start_dim"),
    example_inputs={"in": (None, 3, 4, 4)},
))


BATCH_MODES = ("keep", "merge", "split")


def _reshape_infer(params, in_shapes):
    """`shape` is what follows the batch: after `merge` the batch N·A of (N, A, …), after `split` the
    (N, A) of a batch N·A. The merged batch is still the batch axis (None): validation does not follow
    how many samples it holds."""
    x, shape, mode = in_shapes["in"], params["shape"], params["batch"]
    if mode == "merge" and len(x) < 2:
        raise ShapeError("in", f"batch merge folds the axis after the batch into it, but {format_shape(x)} has no "
                               "axis after the batch — set batch to keep, or feed a (N, A, …) wire")
    expect_min_rank("in", x, 1, "(N, …)")
    rest = x[2:] if mode == "merge" else x[1:]
    lead = (None, params["batch_split"]) if mode == "split" else (None,)
    wanted = format_shape((*lead, *shape))
    if shape.count(-1) > 1 or 0 in shape:
        raise ShapeError("in", f"shape {wanted} may hold one -1 (inferred) and no 0 — fix the shape param")
    have, known = numel(rest), numel(tuple(d for d in shape if d != -1))
    per = "per row of the merged batch" if mode == "merge" else "per sample"
    if have is None:
        return {"out": (*lead, *(None if d == -1 else d for d in shape))}
    if (have % known if -1 in shape else have != known):
        raise ShapeError("in", f"cannot reshape {format_shape(x)} ({have} values {per}) to {wanted} "
                               f"({known} values) — make the product of the shape equal {have}")
    return {"out": (*lead, *(have // known if d == -1 else d for d in shape))}


def _reshape_build(params, in_shapes):
    from .layers.plumbing import Reshape

    return Reshape(params["shape"], params["batch"], params["batch_split"])


register(NodeSpec(
    type_id="Reshape", title="Reshape", category="Shape", id_prefix="reshape",
    doc="Rearranges each sample into a new shape with the same number of values (one dim may be -1). "
        "batch merge folds the axis after the batch into it, (N, A, …) → (N·A, …) — attention heads, patches or "
        "time steps handled as samples; batch split unfolds it again, (N·A, …) → (N, A, …).",
    inputs=(Port("in"),), outputs=(Port("out"),),
    params=(Param("shape", "ints", (-1,), "new shape after the batch (after N·A when merging, after (N, A) when "
                                           "splitting); one -1 is inferred", min=-1, max=_BIG),
            Param("batch", "choice", "keep", "keep the batch apart; merge the axis after it into it, (N, A, …) → "
                                             "(N·A, …); or split it, (N·A, …) → (N, A, …)", choices=BATCH_MODES),
            Param("batch_split", "int", 2, "split only: A in (N·A, …) → (N, A, …). Validation cannot know the batch "
                                           "size, so it cannot prove it divides by A: the layer raises, naming the "
                                           "node, when a batch does not", min=2, max=_BIG)),
    infer=_reshape_infer, build=_reshape_build, example_inputs={"in": (None, 3, 4)},
))


def _permute_infer(params, in_shapes):
    x, dims = in_shapes["in"], params["dims"]
    expect_min_rank("in", x, 2, "(N, …)")
    if sorted(dims) != list(range(1, len(x))):
        raise ShapeError("in", f"dims {tuple(dims)} must order 1..{len(x) - 1} once each for {format_shape(x)} "
                               f"(the batch stays first) — fix the dims param")
    return {"out": (x[0], *(x[d] for d in dims))}


def _permute_build(params, in_shapes):
    from .layers.plumbing import Permute

    return Permute(params["dims"])


register(NodeSpec(
    type_id="Permute", title="Permute", category="Shape", id_prefix="perm",
    doc="Reorders the dimensions after the batch, e.g. dims [2, 1] turns (N, C, L) into (N, L, C).",
    inputs=(Port("in"),), outputs=(Port("out"),),
    params=(Param("dims", "ints", (2, 1), "the new order of dims 1, 2, …", min=1, max=8),),
    infer=_permute_infer, build=_permute_build, example_inputs={"in": (None, 3, 5)},
))


def _cut(x, dim: int, start: int, end: int | None) -> tuple[int, int | None]:
    """(axis index, length) of x[..., start:end] along `dim`; raises when the piece is empty."""
    index = axis("in", dim, x)
    size = x[index]
    if size is None:
        return index, None
    length = len(range(size)[start:end])
    if length == 0:
        bounds = f"{start}:{'' if end is None else end}"
        raise ShapeError("in", f"[{bounds}] of dim {dim} (size {size}) in {format_shape(x)} is empty — "
                               f"pick bounds inside 0..{size}")
    return index, length


def _slice_bounds(params) -> tuple[int, int | None]:
    return params["start"], params["end"] or None  # end 0 means "to the end"


def _slice_infer(params, in_shapes):
    x = in_shapes["in"]
    index, length = _cut(x, params["dim"], *_slice_bounds(params))
    return {"out": with_dim(x, index, length)}


def _slice_build(params, in_shapes):
    from .layers.plumbing import Slices

    return Slices(axis("in", params["dim"], in_shapes["in"]), (_slice_bounds(params),))


register(NodeSpec(
    type_id="Slice", title="Slice", category="Shape", id_prefix="slice",
    doc="Keeps positions start..end (end excluded) of one dimension, like x[:, start:end].",
    inputs=(Port("in"),), outputs=(Port("out"),),
    params=(
        _DIM,
        Param("start", "int", 0, "first position kept (negative counts from the end)", min=-_BIG, max=_BIG),
        Param("end", "int", 0, "position after the last one kept; 0 means to the end", min=-_BIG, max=_BIG),
    ),
    infer=_slice_infer, build=_slice_build, example_inputs={"in": (None, 3, 6)},
))


def _split_infer(params, in_shapes):
    x, cut = in_shapes["in"], params["index"]
    index, a = _cut(x, params["dim"], 0, cut)
    _, b = _cut(x, params["dim"], cut, None)
    return {"a": with_dim(x, index, a), "b": with_dim(x, index, b)}


def _split_build(params, in_shapes):
    from .layers.plumbing import Slices

    cut = params["index"]
    return Slices(axis("in", params["dim"], in_shapes["in"]), ((None, cut), (cut, None)))


register(NodeSpec(
    type_id="Split", title="Split", category="Shape", id_prefix="split",
    doc="Cuts one dimension in two at index: a = x[…, :index], b = x[…, index:].",
    inputs=(Port("in"),), outputs=(Port("a"), Port("b")),
    params=(_DIM, Param("index", "int", 1, "where b starts (negative counts from the end)", min=-_BIG, max=_BIG)),
    infer=_split_infer, build=_split_build, example_inputs={"in": (None, 3, 6)},
))


def _chunk_infer(params, in_shapes):
    """torch.chunk's pieces: ceil(size / chunks) values each, the last ones shorter or missing."""
    x, chunks, index = in_shapes["in"], params["chunks"], params["index"]
    axis_index = axis("in", params["dim"], x)
    size = x[axis_index]
    if size is None:
        return {"out": with_dim(x, axis_index, None)}
    step = -(-size // chunks)
    pieces = -(-size // step)
    if index >= pieces:
        raise ShapeError("in", f"dim {params['dim']} of {format_shape(x)} (size {size}) cuts into {pieces} pieces of "
                               f"{step}, so there is no piece {index} — pick an index below {pieces}")
    return {"out": with_dim(x, axis_index, min(step, size - index * step))}


def _chunk_build(params, in_shapes):
    from .layers.plumbing import Chunk

    dim = axis("in", params["dim"], in_shapes["in"])
    return Chunk(params["chunks"], dim, params["index"], in_shapes["in"][dim])


register(NodeSpec(
    type_id="Chunk", title="Chunk", category="Shape", id_prefix="chunk",
    doc="Piece index of chunks equal pieces of one dimension (torch.chunk): with chunks 2, index 0 is the first "
        "half, whatever the size — ShuffleNet's channel split, in a block that serves every width.",
    inputs=(Port("in"),), outputs=(Port("out"),),
    params=(_DIM, Param("chunks", "int", 2, "how many pieces the dimension is cut into", min=1, max=1024),
            Param("index", "int", 0, "which piece this node gives, from 0", min=0, max=1023)),
    infer=_chunk_infer, build=_chunk_build, example_inputs={"in": (None, 3, 6)},
))


def _shuffle_infer(params, in_shapes):
    x, groups = in_shapes["in"], params["groups"]
    expect_min_rank("in", x, 2, "(N, C, …)")
    if x[1] is not None and x[1] % groups:
        raise ShapeError("in", f"{x[1]} channels of {format_shape(x)} do not split into {groups} groups — set groups "
                               f"to a divisor of {x[1]}")
    if groups in (1, x[1]):
        raise ShapeError("in", f"{groups} group(s) of {x[1]} channels leave every channel where it is — use groups "
                               "between 1 and the channel count, or remove the node", stricter="degenerate")
    return {"out": x}


def _shuffle_build(params, in_shapes):
    from .layers.plumbing import ChannelShuffle

    return ChannelShuffle(params["groups"])


register(NodeSpec(
    type_id="ChannelShuffle", title="Channel shuffle", category="Shape", id_prefix="shuffle",
    doc="Interleaves the channels of groups groups (ShuffleNet): channel j of group i moves to position j·groups + "
        "i, so the next grouped conv sees every group. (N, C, …) keeps its shape; C must divide by groups.",
    inputs=(Port("in", "(N, C, …)"),), outputs=(Port("out"),),
    params=(Param("groups", "int", 2, "how many groups the channels form", min=1, max=1024),),
    infer=_shuffle_infer, build=_shuffle_build, example_inputs={"in": (None, 6, 3, 3)},
))


_PAD_MODES = ("constant", "reflect", "replicate")


def _pad_infer(params, in_shapes):
    x, padding, mode = in_shapes["in"], params["padding"], params["mode"]
    pairs = len(padding) // 2
    if not padding:
        raise ShapeError("in", "padding [] pads nothing — give a (before, after) pair per dim to pad, or delete the "
                               "node", stricter="degenerate")
    if len(padding) % 2:
        raise ShapeError("in", f"padding {list(padding)} needs a (before, after) pair per dim — give an even number "
                               f"of values")
    if pairs > len(x) - 1:
        raise ShapeError("in", f"padding {list(padding)} pads {pairs} dims, but {format_shape(x)} has {len(x) - 1} "
                               f"after the batch — give fewer pairs", stricter="batch")
    if mode != "constant" and (pairs > 3 or len(x) not in (pairs + 1, pairs + 2)):
        raise ShapeError("in", f"{mode} padding of the last {pairs} dims takes a tensor of rank {pairs + 1} or "
                               f"{pairs + 2}, got {format_shape(x)} — pad as many dims as the tensor has spatial dims")
    out = list(x)
    for i in range(pairs):
        index, before, after = len(x) - 1 - i, padding[2 * i], padding[2 * i + 1]
        size = x[index]
        if mode == "reflect" and size is not None and max(before, after) >= size:
            raise ShapeError("in", f"reflect padding {max(before, after)} must be smaller than size {size} of dim "
                                   f"{index} in {format_shape(x)} — pad less, or use replicate")
        out[index] = None if size is None else size + before + after
    return {"out": tuple(out)}


def _pad_function(params):
    import torch.nn.functional as F

    value = {"value": params["value"]} if params["mode"] == "constant" else {}
    return F.pad, {"pad": tuple(params["padding"]), "mode": params["mode"], **value}


register(NodeSpec(
    type_id="Pad", title="Pad", category="Shape", id_prefix="pad",
    doc="Adds values around the last dims: zeros (or a constant), a mirror of the edge (reflect), or the edge "
        "repeated (replicate).",
    inputs=(Port("in"),), outputs=(Port("out"),),
    params=(
        Param("padding", "ints", (1, 1), "how much before and after each dim, from the last dim back: [left, right, "
              "top, bottom, …] (torch.nn.functional.pad's order)", min=0, max=1024),
        Param("mode", "choice", "constant", "what the new values are", choices=_PAD_MODES),
        Param("value", "float", 0.0, "the value constant padding adds", min=-1e9, max=1e9),
    ),
    infer=_pad_infer, build=None, function=_pad_function, example_inputs={"in": (None, 3, 6)},
))
