"""The preprocessing a Layerloom export builds in front of the network, taken back off on import.

By default `layerloom export` makes a trained model deployable (engine/export/deploy.py): the run's
preprocessing (engine/preprocessing.py) runs inside the graph, named after the data Input it feeds,
so the file takes raw data:

    image pixels   uint8 (N, H, W, C) → Transpose(perm 0,3,1,2) → Cast(float) → Mul(scale)    /input1/…
    standardised   x → Sub(x, mean) → Div(·, std), mean and std shaped (1, …, k, …, 1)        /input1/…

Layerloom has no node for either — preprocessing belongs to the data, not the network — so the import
peels the prefix off and returns it as the record a training run keeps beside its weights (data.json:
`raw`, `normalization`, the class names); `layerloom import` writes it as `GRAPH.data.json`, and
exporting the imported graph with its weights builds the very same prefix again.

The ops are the truth: they are matched wherever they are unambiguous — the one reader of an input at
each step, constants that hold one value per entry along at most one axis — with or without metadata,
and the record takes their constants exactly. The metadata entry `layerloom.preprocessing` says which
Input is the data, what the ops cannot (a table's column names, a text vocabulary, the length a
dynamic axis was trained with) and, when the graph is bare (`--no-preprocessing`), everything. Where
metadata and ops disagree the ops win, and the imported graph's description says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from ..preprocessing import data_record
from .loading import constant_value

META_PREFIX = "layerloom."
KINDS = ("table", "image", "text", "array")
FLOAT, UINT8 = 1, 2  # onnx.TensorProto element types
TO_CHANNELS_FIRST = [0, 3, 1, 2]


@dataclass
class Prefix:
    """What the import learned about the data Input `input`; `entry` has the metadata entry's form."""

    input: str
    entry: dict
    task: str | None = None
    class_names: list[str] | None = None
    peeled: bool = False  # the ops were in the graph and have been taken off
    said: bool = False  # the metadata named the data Input: a Layerloom export, whose other Inputs are noise
    notes: list[str] = field(default_factory=list)  # for the imported graph's description

    def record(self, input_shape: list[int], input_dtype: str, summary: str) -> dict:
        """The data.json record for the imported Input, which takes samples of `input_shape` and `input_dtype`."""
        entry = {**self.entry, "input_shape": list(input_shape), "input_dtype": input_dtype}
        return data_record(entry, task=self.task, class_names=self.class_names, summary=summary)


@dataclass
class _Match:
    """The prefix ops found after one graph input."""

    nodes: list  # NodeProtos, in graph order
    last: str  # the tensor the network reads
    scale: float | None = None  # image pixels
    channels_first: tuple | None = None  # image: (N, C, H, W) dims of the network's input
    mean: np.ndarray | None = None
    std: np.ndarray | None = None


def peel(model) -> Prefix | None:
    """Find Layerloom's preprocessing in `model` (a checked ModelProto, edited in place: the prefix
    ops are replaced by an Identity of the input, which then takes what they gave the network)."""
    meta, notes = _metadata(model)
    entry = meta.get("preprocessing")
    graph = model.graph
    weights = {t.name for t in graph.initializer}
    inputs = {v.name: v for v in graph.input if v.name not in weights}
    if entry is not None and entry["input"] not in inputs:
        notes.append(f"the metadata's preprocessing names input {entry['input']!r}, which the graph lacks; "
                     "it was left out")
        entry = None
    constants = _Constants(graph)
    if entry is not None:
        found = _match(graph, inputs[entry["input"]], constants) if entry["built_in"] else None
        name = entry["input"]
    else:
        matches = {name: m for name, value in inputs.items() if (m := _match(graph, value, constants))}
        if len(matches) != 1:
            return None  # no prefix, or one before several inputs: nothing says which is the data
        name, found = next(iter(matches.items()))
    prefix = Prefix(name, _entry(name, entry, found, inputs[name], notes), meta.get("task"),
                    meta.get("class_names"), notes=notes, said=entry is not None)
    if found is not None:
        _remove(model, inputs[name], found)
        prefix.peeled = True
    if entry is not None:
        _size_from_metadata(inputs[name], entry["input_shape"])
    return prefix


# -- metadata ------------------------------------------------------------------------------------
def _metadata(model) -> tuple[dict, list[str]]:
    """The Layerloom entries that are well formed (`preprocessing` checked for what the record needs)."""
    props = {p.key[len(META_PREFIX):]: p.value for p in model.metadata_props if p.key.startswith(META_PREFIX)}
    meta, notes = {}, []
    if props.get("task", "unknown") != "unknown":  # plain text, unlike the JSON entries
        meta["task"] = props["task"]
    for key, check in (("preprocessing", _good_entry),
                       ("class_names", lambda v: isinstance(v, list) and all(isinstance(n, str) for n in v))):
        if key not in props:
            continue
        try:
            value = json.loads(props[key])
        except ValueError:
            value = ...
        if value is None:
            continue
        if check(value):
            meta[key] = value
        else:
            notes.append(f"its metadata {META_PREFIX}{key} is malformed and was left out")
    return meta, notes


def _good_entry(entry) -> bool:
    if not (isinstance(entry, dict) and isinstance(entry.get("input"), str) and entry.get("kind") in KINDS
            and isinstance(entry.get("built_in"), bool) and entry.get("input_dtype") in ("float32", "int64")
            and isinstance(entry.get("input_shape"), list)
            and all(isinstance(d, int) and d > 0 for d in entry["input_shape"])):
        return False
    norm = entry.get("normalization")
    if norm is not None and not (isinstance(norm, dict) and isinstance(norm.get("axis"), int)
                                 and _numbers(norm.get("mean")) and _numbers(norm.get("std"))
                                 and len(norm["mean"]) == len(norm["std"])):
        return False
    if entry["kind"] == "image":
        return (isinstance(entry.get("scale"), int | float) and entry.get("channels") in (1, 3)
                and isinstance(entry.get("size"), list) and len(entry["size"]) == 2)
    return True


def _numbers(values) -> bool:
    return isinstance(values, list) and bool(values) and all(isinstance(v, int | float) for v in values)


# -- the ops -------------------------------------------------------------------------------------
class _Constants:
    """Constant tensors of the raw graph: initializers, Constant nodes and Identities of either (torch
    writes a shared value once and the other names as Identity of it)."""

    def __init__(self, graph):
        from onnx import numpy_helper

        self.values = {t.name: t for t in graph.initializer}
        self.producers = {out: node for node in graph.node for out in node.output}
        self._array = numpy_helper.to_array

    def get(self, name: str) -> np.ndarray | None:
        for _ in range(8):  # a short chain of Identities at most
            if name in self.values:
                return self._array(self.values[name])
            node = self.producers.get(name)
            if node is None or node.domain not in ("", "ai.onnx"):
                return None
            if node.op_type == "Constant":
                try:
                    return np.asarray(constant_value(node))
                except Exception:  # noqa: BLE001 — a sparse or string constant is no preprocessing
                    return None
            if node.op_type != "Identity":
                return None
            name = node.input[0]
        return None


def _readers(graph, name: str) -> list:
    return [node for node in graph.node if name in node.input]


def _only_reader(graph, name: str, op: str):
    """The one node reading `name`, when it is a default-domain `op` and `name` is no graph output."""
    readers = _readers(graph, name)
    if len(readers) != 1 or name in {o.name for o in graph.output}:
        return None
    node = readers[0]
    return node if node.op_type == op and node.domain in ("", "ai.onnx") else None


def _dims(value) -> list:
    """A graph input's dims: ints, or None where the size is symbolic."""
    return [d.dim_value if d.HasField("dim_value") else None for d in value.type.tensor_type.shape.dim]


def _match(graph, value, constants: _Constants) -> _Match | None:
    """The prefix after graph input `value`: image pixels then standardisation, either one, or None."""
    elem, dims = value.type.tensor_type.elem_type, _dims(value)
    found = _Match([], value.name)
    if elem == UINT8:
        if not _match_pixels(graph, found, dims, constants):
            return None
        dims = list(found.channels_first)
    elif elem != FLOAT:
        return None
    _match_standardisation(graph, found, dims, constants)
    return found if found.nodes else None


def _match_pixels(graph, found: _Match, dims: list, constants: _Constants) -> bool:
    """Transpose to channels first and Cast to float, in either order, then an optional Mul by one value."""
    if len(dims) != 4 or dims[3] not in (1, 3) or None in dims[1:]:
        return False
    for first, second in (("Transpose", "Cast"), ("Cast", "Transpose")):
        a = _only_reader(graph, found.last, first)
        b = _only_reader(graph, a.output[0], second) if a is not None else None
        if a is not None and b is not None:
            break
    else:
        return False
    transpose, cast = (a, b) if a.op_type == "Transpose" else (b, a)
    perm = next((list(attr.ints) for attr in transpose.attribute if attr.name == "perm"), None)
    to = next((attr.i for attr in cast.attribute if attr.name == "to"), None)
    if perm != TO_CHANNELS_FIRST or to != FLOAT:
        return False
    found.nodes += [a, b]
    found.last = b.output[0]
    found.channels_first = (dims[0], dims[3], dims[1], dims[2])
    found.scale = 1.0
    mul = _only_reader(graph, found.last, "Mul")
    if mul is not None:
        other = mul.input[1] if mul.input[0] == found.last else mul.input[0]
        scale = constants.get(other)
        if scale is not None and scale.size == 1 and scale.ndim <= 1 and scale.dtype == np.float32:
            found.nodes.append(mul)
            found.last = mul.output[0]
            found.scale = float(scale.reshape(()))
    return True


def _match_standardisation(graph, found: _Match, dims: list, constants: _Constants) -> None:
    """Sub(x, mean) then Div(·, std), both one value per entry along at most one sample axis."""
    sub = _only_reader(graph, found.last, "Sub")
    if sub is None or sub.input[0] != found.last:
        return
    div = _only_reader(graph, sub.output[0], "Div")
    if div is None or div.input[0] != sub.output[0]:
        return
    mean, std = constants.get(sub.input[1]), constants.get(div.input[1])
    if mean is None or std is None or mean.shape != std.shape or not mean.dtype == std.dtype == np.float32:
        return
    if _feature_axis(mean.shape, dims) is False:
        return
    found.nodes += [sub, div]
    found.last = div.output[0]
    found.mean, found.std = mean, std


def _feature_axis(shape: tuple, dims: list) -> int | None | bool:
    """The sample axis a constant of `shape` holds its values along against an input of `dims` (batch
    first); None when it holds one value; False when it broadcasts any other way (a per-pixel mean)."""
    if len(shape) > len(dims) or len(dims) < 2:
        return False
    aligned = (1,) * (len(dims) - len(shape)) + tuple(shape)
    spread = [i for i, size in enumerate(aligned) if size != 1]
    if not spread:
        return None
    if len(spread) > 1 or spread[0] == 0 or dims[spread[0]] != aligned[spread[0]]:
        return False
    return spread[0] - 1


# -- the entry -----------------------------------------------------------------------------------
def _entry(name: str, meta: dict | None, found: _Match | None, value, notes: list[str]) -> dict:
    """The metadata entry for the Input as the graph will take it (`input_shape` is set later): from the
    ops where they were found, checked against the metadata, which adds what ops cannot say."""
    if found is None:  # a bare export (or a model without any preprocessing): the metadata is all there is
        entry = {**meta, "built_in": False}
        if meta["built_in"] and (meta["kind"] == "image" or meta.get("normalization")):
            notes.append(f"its metadata says {name}'s preprocessing is built in, but the graph does not start with "
                         "it; the preprocessing was left out")
            entry = {key: v for key, v in entry.items() if key not in ("size", "channels", "scale")}
            entry.update(kind="array" if meta["kind"] == "image" else meta["kind"], normalization=None)
        return entry
    dims = list(found.channels_first) if found.channels_first else _dims(value)
    entry = {"input": name, "kind": "image" if found.scale is not None else "array"}
    if meta is not None and (meta["kind"] == "image") == (found.scale is not None):
        entry = {key: v for key, v in meta.items() if key not in ("normalization", "input_shape")}
    elif meta is not None:
        notes.append(f"its metadata calls {name}'s data {meta['kind']}, but the graph's preprocessing "
                     f"{'scales' if found.scale is not None else 'does not scale'} image pixels; the graph's was kept")
    if found.scale is not None:
        _, channels, height, width = dims
        size, scale = [height, width], found.scale
        if meta is not None and meta["kind"] == "image":
            if np.float32(meta["scale"]) == np.float32(scale):
                scale = meta["scale"]  # the number as written (1/255), which the graph holds as float32
            else:
                notes.append(f"the metadata's pixel scale {meta['scale']} differs from the graph's {scale}; "
                             "the graph's was kept")
        entry.update(size=size, channels=channels, scale=scale)
    entry.update(built_in=True, input_dtype="float32", normalization=_normalization(found, dims, meta, notes))
    return entry


def _normalization(found: _Match, dims: list, meta: dict | None, notes: list[str]) -> dict | None:
    said = meta.get("normalization") if meta else None
    if found.mean is None:
        if said:
            notes.append("its metadata records a standardisation the graph does not apply; it was left out")
        return None
    axis = _feature_axis(found.mean.shape, dims)
    if axis is None:  # one value: any axis holds it; the one the metadata or Layerloom's data would name
        axis = said["axis"] if said and 0 <= said["axis"] < len(dims) - 1 else \
            (0 if len(dims) == 4 else max(len(dims) - 2, 0))
    if said and (np.array_equal(np.float32(said["mean"]), found.mean.ravel())
                 and np.array_equal(np.float32(said["std"]), found.std.ravel()) and said["axis"] == axis):
        return {"mean": said["mean"], "std": said["std"], "axis": axis}  # the numbers as written: the same float32s
    if said:
        notes.append("the metadata's standardisation differs from the one the graph applies; the graph's was kept")
    # the graph's float32 values, each exactly (a float32 is a double with a shorter fraction)
    return {"mean": found.mean.ravel().tolist(), "std": found.std.ravel().tolist(), "axis": axis}


# -- the edit ------------------------------------------------------------------------------------
def _remove(model, value, found: _Match) -> None:
    """Replace the prefix by Identity(input) → its last tensor; the input takes the network's dtype and
    layout; constants that only the prefix read go too. (Nodes are told apart by their first output.)"""
    from onnx import helper

    graph = model.graph
    gone = {node.output[0] for node in found.nodes}
    kept = []
    for node in graph.node:
        if node.output[0] == found.nodes[0].output[0]:
            kept.append(helper.make_node("Identity", [value.name], [found.last], name=f"/{value.name}/Identity"))
        if node.output[0] not in gone:
            kept.append(_copy(node))
    read = {name for node in found.nodes for name in node.input}
    still = {name for node in kept for name in node.input} | {o.name for o in graph.output}
    unused = read - still
    kept = [node for node in kept if not (node.op_type in ("Constant", "Identity") and set(node.output) <= unused)]
    del graph.node[:]
    graph.node.extend(kept)
    initializers = [_copy(t) for t in graph.initializer if t.name not in unused]
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    produced = {name for node in found.nodes for name in node.output}
    infos = [_copy(v) for v in graph.value_info if v.name not in produced]
    del graph.value_info[:]
    graph.value_info.extend(infos)
    if found.channels_first is not None:
        tensor = value.type.tensor_type
        tensor.elem_type = FLOAT
        old = [_copy(dim) for dim in tensor.shape.dim]
        for dim, index in zip(tensor.shape.dim, TO_CHANNELS_FIRST, strict=True):
            dim.CopyFrom(old[index])


def _copy(message):
    copy = type(message)()
    copy.CopyFrom(message)
    return copy


def _size_from_metadata(value, sample_shape: list[int]) -> None:
    """Give the input's symbolic sizes after the batch the ones it was trained with, when the metadata's
    shape fits the fixed ones (a sequence model's length: 20, where an import would otherwise guess)."""
    dims = value.type.tensor_type.shape.dim
    if len(dims) != len(sample_shape) + 1:
        return
    if any(d.HasField("dim_value") and d.dim_value != size for d, size in zip(dims[1:], sample_shape, strict=True)):
        return
    for dim, size in zip(dims[1:], sample_shape, strict=True):
        if not dim.HasField("dim_value"):
            dim.dim_value = size
