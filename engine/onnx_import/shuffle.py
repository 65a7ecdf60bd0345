"""ShuffleNet's channel shuffle spelt out in ONNX ops, imported as one ChannelShuffle node.

`x.view(N, g, C/g, H, W).transpose(1, 2).reshape(N, C, H, W)` arrives as Reshape → Transpose(perm 0,2,1,…) →
Reshape; mapped op by op it would be three nodes (a Reshape, a Permute, a Reshape) that say nothing about what
they do. The anchor is the Transpose swapping axes 1 and 2 of a tensor split from x's channels; the region runs
from x to the Reshape giving x's shape back, and must reproduce ChannelShuffle(g) on sample data.
"""

from __future__ import annotations

from .regions import Dataflow, Region, first_proven, named, same


def match(flow: Dataflow, index: int) -> Region | str | None:
    """The channel-shuffle region around Transpose node `index`; a reason when it does not shuffle; None when the
    Transpose is not between a channel split and its undoing."""
    anchor = flow.model.nodes[index]
    if anchor.op != "Transpose":
        return None
    split, join = _producer(flow, anchor.inputs[0]), _only_reader(flow, anchor.outputs[0])
    grouped = flow.model.shapes.get(anchor.inputs[0])
    if split is None or join is None or split.op != "Reshape" or join.op != "Reshape" or grouped is None:
        return None
    rank = len(grouped)
    if rank < 4 or list(anchor.attrs.get("perm", ())) != [0, 2, 1, *range(3, rank)]:
        return None
    x, y = split.inputs[0], join.outputs[0]
    before, after = flow.model.shapes.get(x), flow.model.shapes.get(y)
    groups = grouped[1]
    if before is None or after is None or tuple(before[1:]) != tuple(after[1:]) or not isinstance(groups, int) \
            or len(before) != rank - 1:
        return None

    def propose(_x, _y, members, output):
        sample = flow.sample(x)
        n, channels, *rest = sample.shape
        if channels % groups or groups in (1, channels):
            return f"{channels} channels do not form {groups} groups to interleave"
        expected = sample.reshape(n, groups, channels // groups, *rest).swapaxes(1, 2).reshape(sample.shape)
        if not same(expected, output):
            return "the reshapes around the transpose do not interleave the channel groups"
        return Region(members, flow.producer[y], lambda b: b.emit(
            named(flow, members, anchor), "ChannelShuffle", {"groups": int(groups)}, [x], outputs={"out": y}))

    return first_proven(flow, [x], [y], propose)


def _producer(flow: Dataflow, name: str):
    index = flow.producer.get(name)
    return flow.model.nodes[index] if index is not None else None


def _only_reader(flow: Dataflow, name: str):
    readers = flow.readers(name)
    return flow.model.nodes[readers[0]] if len(readers) == 1 else None

