"""Learned tables kept whole: a positional table read by the input's length, and weights shared by two nodes.

A table read by length (`pos_emb(arange(T))`, `pe[:T]`) is left unfolded by loading.py; here it is
recorded as a read of the table's first T rows, and the Add that puts it on a sequence (N, T, D) becomes a
learned PositionalEncoding holding every row — max_len is the table's length, not the import's T, so
an export of the import still takes every length the original took. A read that is not the first rows in
order, or is used any other way, is refused: never cut down. A table read at one index for every position (BERT's
token types when none are given, proven so by fixed.py) is kept whole too, as a Parameter with that row sliced out.

Tied weights (GPT's output projection reusing the token embedding's table) arrive as two stored tensors
with equal values (TorchScript writes the transposed copy; the dynamo exporter a Transpose that folds). A
Linear whose weight equals an earlier Embedding's or Linear's ties to it (`tie` names that node), so the
graph holds one tensor. Equal values mean one tensor only when they vary: two constant-filled matrices
(zeros) are left apart.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

import numpy as np

from .builder import Refusal
from .loading import OnnxNode

OWNERS = ("Embedding", "Linear")  # node types whose weight another Linear may share


@dataclass(frozen=True)
class TableRead:
    table: str  # the stored tensor
    axis: int  # the axis whose first `length` entries are read
    length: int
    scope: tuple[str, ...] = ()  # the module path of the read (`transformer.wpe`), which names the node


def read(b, node: OnnxNode) -> None:
    """A Gather or Slice of a stored table by a length read off the input: recorded, mapped where it is used."""
    table = b.model.constants[node.inputs[0]]
    if node.op == "Gather":
        axis, index = int(node.attrs.get("axis", 0)) % table.ndim, b.const(node, 1, "indices")
        if index.size and index.min() == index.max() and index.size != 1 and table.ndim == 2 and axis == 0:
            row(b, node, table, int(index.reshape(-1)[0]))  # one index everywhere: token types when none are given
            return
        first = index.ndim >= 1 and index.size == index.shape[-1] and np.array_equal(index.reshape(-1),
                                                                                      np.arange(index.size))
        length = index.size
    else:
        starts, ends = (b.const(node, i, what).reshape(-1) for i, what in ((1, "starts"), (2, "ends")))
        axes = b.optional_const(node, 3, "axes")
        steps = b.optional_const(node, 4, "steps")
        axes = [0] if axes is None else [int(a) % table.ndim for a in axes.reshape(-1)]
        first = len(axes) == 1 and starts[0] == 0 and (steps is None or steps.reshape(-1)[0] == 1)
        axis, length = axes[0], int(min(ends[0], table.shape[axes[0]]))
    if not first:
        raise Refusal(f"reads entries of the stored table {node.inputs[0]!r} chosen by the input's size; Layerloom "
                      "keeps such a table whole only when its first T rows are read in order (a positional table)")
    b.table_reads[node.outputs[0]] = TableRead(node.inputs[0], axis, length, node.scope)


def row(b, node: OnnxNode, table: np.ndarray, index: int) -> None:
    """A table read at one index for every position (BERT's token types when none are given, fixed.py): a
    Parameter holding the whole table — every row stays, trainable and exported — and a Slice of the row read,
    (N, 1, D), which broadcasts over the positions where it is added."""
    from .ops_tensors import repeated

    if not 0 <= index < table.shape[0]:
        raise Refusal(f"reads row {index} of the stored table {node.inputs[0]!r}, which has {table.shape[0]} rows")
    whole = repeated(b, node.inputs[0], table, holder=node)
    if table.shape[0] == 1:
        b.alias(node.outputs[0], whole)
        return
    named = replace(node, scope=(*node.scope[:-1], f"{node.scope[-1]}_row")) if node.scope else node
    b.emit(named, "Slice", {"dim": 1, "start": index, "end": index + 1}, [whole], check_shapes=False)


def follow(b, node: OnnxNode) -> bool:
    """An Unsqueeze or Reshape that only puts size-1 axes in front of a table read is the same read."""
    found = b.table_reads.get(node.inputs[0])
    if found is None:
        return False
    before, after = b.model.shapes.get(node.inputs[0]), b.model.shapes.get(node.outputs[0])
    if before is None or after is None or tuple(after[len(after) - len(before):]) != tuple(before) or any(
            d != 1 for d in after[:len(after) - len(before)]):
        raise Refusal(f"reshapes the first rows of the stored table {found.table!r}; Layerloom keeps such a table "
                      "only added to a sequence (a learned PositionalEncoding)")
    b.table_reads[node.outputs[0]] = found
    return True


def positional(b, node: OnnxNode) -> bool:
    """Map `x + table[:T]` onto a learned PositionalEncoding with the whole table; False when neither operand
    is a table read."""
    reads = [name for name in node.inputs if name in b.table_reads]
    if not reads:
        return False
    found = b.table_reads[reads[0]]
    table = b.model.constants[found.table]
    other = next((name for name in node.inputs if name not in b.table_reads), None)
    rows = table.reshape(table.shape[found.axis], -1) if table.ndim == 2 or (
        table.ndim == 3 and found.axis == 1 and table.shape[0] == 1) else None
    shape = b.shape(other) if other is not None else None
    if rows is None or shape is None or len(shape) != 3 or found.axis != table.ndim - 2 or \
            shape[1:] != (found.length, rows.shape[1]):
        raise Refusal(f"adds the first rows of the stored table {found.table!r} {list(table.shape)} to "
                      f"{list(shape or ())}; Layerloom keeps such a table whole only as a learned PositionalEncoding "
                      "over (N, T, D) with a (rows, D) table")
    b.emit(replace(node, scope=found.scope or node.scope), "PositionalEncoding",
           {"kind": "learned", "max_len": int(rows.shape[0])}, [other], weights={"pe": rows})
    return True


def _key(weight: np.ndarray) -> tuple:
    weight = np.ascontiguousarray(weight)
    return weight.shape, weight.dtype.str, hashlib.sha1(weight.tobytes()).digest()


def remember(b, node_id: str, type_id: str, weights: dict[str, np.ndarray]) -> None:
    """Note an emitted node's own weight as one a later Linear may share."""
    weight = weights.get("weight")
    if type_id in OWNERS and weight is not None and weight.size > 1 and weight.min() != weight.max():
        b.owners.setdefault(_key(weight), node_id)


def owner_of(b, weight: np.ndarray) -> str | None:
    """The node already holding a weight equal to `weight` (a Linear's (out, in) matrix), if any."""
    return b.owners.get(_key(weight)) if weight.size > 1 else None
