"""Values a model computes from its input's *sizes* alone, never from its data or its learned weights — the ONNX
counterpart of engine/torch_import/fixed.py. Hugging Face models build them whenever they run: position ids
(`arange(T)`, or the first T entries of a stored `position_ids` buffer), BERT's token-type ids when none are
given (zeros, gathered from a buffer by the positions), an attention mask for an unpadded batch (all true for
BERT, the lower triangle for GPT-2, written as GatherND/Range/Expand/Where chains over shapes). No Layerloom node
computes them, and the op mappings would refuse the chains.

What such a value is gets proven, not guessed from the ops that built it: before the file's dynamic sizes are
fixed (loading.py), onnxruntime runs the part of the model they are computed from, on zeros, at two batch sizes
and, where an axis after the batch is dynamic, at a second length too. A value computed from sizes and stored
tensors alone — but not a float read out of a learned weight (a position embedding stays the model's) — that the
rest of the model reads as data, is the same for every sample and either keeps its value at both lengths or has one
of the meanings below, is folded into a stored constant at the import's sizes (its batch axis, if it has one, cut
to 1 — ONNX broadcasts it back). What it means decides how its readers map:

- positions 0 … T-1 indexing a stored table: the read stays a read of the table's first T rows (tables.py), so the
  table is kept whole, as a learned PositionalEncoding;
- one index everywhere indexing a stored table (token types): the whole table is kept, its row read sliced out;
- an attention mask that hides nothing or hides the future at every length is folded as it is at the import's
  length; the attention region around it (attention.py) is then proven with or without a causal mask, which holds
  at every length because the meaning does.

A value that differs between samples or changes with the length some other way (every other row of a table),
or a model onnxruntime cannot run, is left as written: the mappings refuse what they cannot read, naming it. Models
without such values (no size-computed tensor read as data) skip all this, and run nothing.
"""

from __future__ import annotations

import numpy as np

BATCHES = (2, 3)
OTHER_LENGTH = 11  # the second size a dynamic axis after the batch is run at (less than DYNAMIC_SIZE: within bounds)
SIZE_OPS = {"Shape", "Size"}
# inputs that are sizes, axes or bounds rather than values: a size-only tensor read there is the existing size
# machinery's (sizes.py, the constant folder), not a value to prove
SIZE_ARGS = {"Reshape": {1}, "Expand": {1}, "Tile": {1}, "Slice": {1, 2, 3, 4}, "Squeeze": {1}, "Unsqueeze": {1},
             "Pad": {1, 2, 3}, "Split": {1}, "ConstantOfShape": {0}, "Range": {0, 1, 2}, "Resize": {1, 2, 3},
             "TopK": {1}, "OneHot": {1}, "CumSum": {1}, "Upsample": {1}}
READS_TABLE = "Gather"  # the op that reads rows of a stored table by index


def fold(model, length: int) -> frozenset[str]:
    """Fold the size-only values of `model` (a checked ModelProto whose dynamic sizes are not fixed yet) that
    every sample shares into constants, in place; `length` is the size the import gives a dynamic axis after the
    batch (loading.DYNAMIC_SIZE), at which values are folded. Returns the outputs of Gathers that read a stored
    table at positions or at one index: they stay reads of the whole table (tables.py)."""
    graph = model.graph
    sized, learned = _classify(graph)
    if not any(_reads_as_value(node, sized) and not _foldable_output(node, sized, learned, None)
               for node in graph.node):
        return frozenset()  # nothing computed from sizes is read as data: no run needed
    values = _run(model, [name for node in graph.node for name in node.output if name in sized], length)
    if values is None:
        return frozenset()
    dtypes = {name: value.dtype for name, value in values[0][1].items()}
    keep = set()
    stored = {t.name for t in graph.initializer}
    for name, readers in _frontier(graph, sized, learned, dtypes).items():
        folded, meaning = _shared(name, values), _meaning(name, values)
        if folded is None or meaning is None:
            continue
        _replace(graph, name, folded, readers)
        for node, index in readers:
            if node.op_type == READS_TABLE and index == 1 and node.input[0] in stored and \
                    meaning in ("positions", "index"):
                keep.add(node.output[0])
    return frozenset(keep)


def _classify(graph) -> tuple[set[str], set[str]]:
    """(tensors computed from sizes and stored tensors alone, tensors that are or derive from learned weights —
    stored float tensors of more than one value). A float derived from a learned weight stays the model's (a
    position embedding read at positions); anything else computed from sizes is fixed (a mask compared out of a
    stored triangle)."""
    stored = {t.name for t in graph.initializer}
    learned = {t.name for t in graph.initializer if t.data_type in FLOATS and _count(t.dims) > 1}
    sized: set[str] = set()
    for node in graph.node:
        present = [name for name in node.input if name]
        if any(attr.type in (attr.GRAPH, attr.GRAPHS) for attr in node.attribute):
            continue  # a subgraph reads tensors of the outer scope too: not followed
        if node.op_type in SIZE_OPS:
            sized.update(node.output)
            continue
        if node.op_type == "Constant" or (present and all(name in stored for name in present)):
            stored.update(node.output)
        elif present and all(name in stored or name in sized for name in present):
            sized.update(node.output)
        else:
            continue
        if any(name in learned for name in present) or _learned_constant(node):
            learned.update(node.output)
    return sized, learned


def _value_inputs(node) -> list[tuple[int, str]]:
    """The inputs a node reads as values: not the sizes, axes and bounds of SIZE_ARGS."""
    skip = SIZE_ARGS.get(node.op_type, {1} if node.op_type.startswith("Reduce") else set())
    return [(index, name) for index, name in enumerate(node.input) if name and index not in skip]


def _reads_as_value(node, sized: set[str]) -> bool:
    return node.op_type not in SIZE_OPS and any(name in sized for _, name in _value_inputs(node))


def _foldable_output(node, sized: set[str], learned: set[str], dtypes: dict | None) -> bool:
    """Whether every output of `node` is computed from sizes and is not a learned float (unknown `dtypes`: only
    whether it could be)."""
    for name in node.output:
        if name not in sized:
            return False
        if name in learned and (dtypes is None or dtypes[name].kind == "f"):
            return False
    return True


def _frontier(graph, sized: set[str], learned: set[str], dtypes: dict) -> dict[str, list]:
    """Foldable size-computed tensors read as values by a node whose output is not foldable, with their readers
    (node, input index)."""
    found: dict[str, list] = {}
    for node in graph.node:
        if node.op_type in SIZE_OPS or _foldable_output(node, sized, learned, dtypes):
            continue
        for index, name in _value_inputs(node):
            if name in sized and not (name in learned and dtypes[name].kind == "f"):
                found.setdefault(name, []).append((node, index))
    return found


FLOATS = {1, 10, 11, 16}  # onnx.TensorProto float element types


def _learned_constant(node) -> bool:
    """A Constant node holding a float tensor of more than one value (a table baked into the graph)."""
    return node.op_type == "Constant" and any(attr.name == "value" and attr.t.data_type in FLOATS
                                              and _count(attr.t.dims) > 1 for attr in node.attribute)


def _count(dims) -> int:
    count = 1
    for dim in dims:
        count *= dim
    return count


def _samples(model, length: int) -> list[tuple[int, dict[str, np.ndarray]]] | None:
    """(batch, feeds) for each run: zeros at BATCHES with the import's lengths, then at OTHER_LENGTH where an
    axis after the batch is dynamic; None when an input's batch is fixed or its type is not a plain tensor."""
    from onnx import helper

    stored = {t.name for t in model.graph.initializer}
    inputs = [value for value in model.graph.input if value.name not in stored]
    if not inputs:
        return None
    dims, dtypes, dynamic = {}, {}, False
    for value in inputs:
        tensor = value.type.tensor_type
        if not value.type.HasField("tensor_type") or not tensor.HasField("shape") or not tensor.shape.dim:
            return None
        shape = list(tensor.shape.dim)
        if shape[0].HasField("dim_value"):
            return None
        dims[value.name] = [d.dim_value if d.HasField("dim_value") else None for d in shape]
        dynamic |= any(d is None for d in dims[value.name][1:])
        dtypes[value.name] = helper.tensor_dtype_to_np_dtype(tensor.elem_type)
    settings = [(batch, length) for batch in BATCHES] + ([(BATCHES[0], OTHER_LENGTH)] if dynamic else [])
    return [(batch, {name: np.zeros([batch, *(length if d is None else d for d in dims[name][1:])], dtypes[name])
                     for name in dims}) for batch, length in settings]


def _run(model, names: list[str], length: int) -> list[tuple[int, dict[str, np.ndarray]]] | None:
    """The values of `names` in each sample run, with its batch — only the other length's run left out when the
    model takes no other (an image model whose sizes are dynamic but fit one size) —; None when onnxruntime cannot
    run the part of the model they are computed from."""
    import onnxruntime as ort

    samples = _samples(model, length)
    if samples is None:
        return None
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # every value kept as written
    try:
        session = ort.InferenceSession(_needed(model, names).SerializeToString(), options,
                                       providers=["CPUExecutionProvider"])
    except Exception:  # noqa: BLE001 — a model onnxruntime cannot load keeps its size chains as written
        return None
    values = []
    for batch, feeds in samples:
        try:
            values.append((batch, dict(zip(names, session.run(names, feeds), strict=True))))
        except Exception:  # noqa: BLE001 — e.g. a position table added whole, which fits the import's length only
            if len(values) < len(BATCHES):
                return None
    return values


def _needed(model, names: list[str]):
    """`model` cut down to the nodes `names` are computed from, with `names` as its outputs."""
    from onnx import helper

    producers = {out: node for node in model.graph.node for out in node.output if out}
    kept, todo, seen = [], list(names), set()
    while todo:
        node = producers.get(todo.pop())
        if node is not None and id(node) not in seen:
            seen.add(id(node))
            kept.append(node)
            todo += [name for name in node.input if name]
    order = {id(node): index for index, node in enumerate(model.graph.node)}
    kept.sort(key=lambda node: order[id(node)])
    read = {name for node in kept for name in node.input}
    stored = {t.name for t in model.graph.initializer}
    inputs = [value for value in model.graph.input if value.name not in stored or value.name in read]
    graph = helper.make_graph(kept, model.graph.name or "sizes", inputs,
                              [helper.make_empty_tensor_value_info(name) for name in names],
                              [t for t in model.graph.initializer if t.name in read])
    cut = helper.make_model(graph, opset_imports=list(model.opset_import), ir_version=model.ir_version)
    cut.functions.extend(model.functions)
    return cut


def _per_sample(value: np.ndarray, batch: int) -> np.ndarray | None:
    """`value` as one sample's: cut to 1 along a batch axis whose entries are equal, as it is without one."""
    if value.ndim and value.shape[0] == batch:
        return value[:1] if all(np.array_equal(value[0], row) for row in value[1:]) else None
    return value


def _shared(name: str, values) -> np.ndarray | None:
    """The value of `name` at the import's sizes when it is the same for every sample (at both batch sizes)."""
    (b2, two), (b3, three) = values[0], values[1]
    first, second = _per_sample(two[name], b2), _per_sample(three[name], b3)
    if first is None or second is None or first.shape != second.shape or not np.array_equal(first, second):
        return None
    if two[name].ndim and (two[name].shape[0] == b2) != (three[name].shape[0] == b3):
        return None  # an axis the size of the batch at one batch size only: not a batch axis
    return first


def _meaning(name: str, values) -> str | None:
    """"positions" (0 … T-1 along the last axis, every other axis of size 1), "index" (one integer everywhere),
    "mask" (an attention mask hiding nothing, or the future, at every length), "constant" (the same at every
    length), or None: a value that changes with the length some other way, which is not folded."""
    shared = [_per_sample(value[name], batch) for batch, value in values]
    if any(value is None for value in shared):
        return None
    if all(value.dtype.kind in "iu" and value.size for value in shared):
        if all(value.ndim and value.size == value.shape[-1] and np.array_equal(value.reshape(-1),
                                                                              np.arange(value.shape[-1]))
               for value in shared):
            return "positions"
        if len({int(v) for value in shared for v in np.unique(value)}) == 1:
            return "index"
    if all(value.shape == shared[0].shape and np.array_equal(value, shared[0]) for value in shared[1:]):
        return "constant"
    meanings = {mask_meaning(value) for value in shared}
    return "mask" if len(meanings) == 1 and None not in meanings else None


def mask_meaning(value: np.ndarray) -> str | None:
    """"none" for a mask that hides nothing (all true, or all zero added), "causal" for the lower triangle (each
    position sees itself and those before), None for anything else."""
    if value.ndim < 2 or value.shape[-1] != value.shape[-2]:
        return None
    if value.dtype == np.bool_:  # true where attended, or where hidden (`masked_fill(mask == 0, -inf)`)
        return _kept_meaning(value) or _kept_meaning(~value)
    if value.dtype.kind == "f" and np.all((value == 0) | (value < -1e30)):  # added to the scores
        return _kept_meaning(value == 0)
    return None


def _kept_meaning(keep: np.ndarray) -> str | None:
    if keep.all():
        return "none"
    return "causal" if np.array_equal(keep, np.broadcast_to(np.tril(np.ones(keep.shape[-2:], bool)), keep.shape)) \
        else None


def _replace(graph, name: str, value: np.ndarray, readers: list) -> None:
    """Make `readers` read `value`, stored as a constant beside the graph's weights."""
    from onnx import numpy_helper

    stored = f"{name}/fixed"
    graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(value), stored))
    for node, index in readers:
        node.input[index] = stored
