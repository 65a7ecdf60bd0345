"""Reading an ONNX file and bringing it into the one form the op mappings expect.

Exporters write the same network in many shapes: old opsets, initializers listed as inputs,
`Shape → Gather → Reshape` chains that compute sizes at run time, GELU spelt out as
Div/Erf/Add/Mul. Before anything is mapped, values computed from the input's sizes alone (position ids, masks)
are proven and folded while the sizes are still free (fixed.py); then the model is converted to opset
`TARGET_OPSET` (onnx's version converter), its dynamic non-batch axes get a size, and onnxscript's constant folding and
rewrite rules (rewrites.py) fold every size that is fixed into a constant and fuse the spelt-out
GELU; onnx shape inference then gives every tensor its shape — and where sizes are still read at run
time, a second fold with those shapes written in folds what they fix (a positional table sliced to a
length read off a reshaped tensor). Only the batch stays symbolic.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import OnnxImportError, OnnxUnreadable

TARGET_OPSET = 20  # op semantics the mappings are written for (Gelu and LayerNormalization exist)
DYNAMIC_SIZE = 16  # the sample size given to a dynamic non-batch axis (a sequence length)
BATCH = "N"  # the name the batch axis gets when the file leaves it unnamed
FOLD_LIMIT = 1 << 26  # values a folded constant may have: a transposed weight matrix folds whatever its size
FOLD_ROUNDS = 2  # folding exposes rewrites, which expose folds
Dims = tuple  # one entry per axis: int size, str for a symbolic size (the batch), None when unknown
SIZE_OPS = {"Shape", "Size"}  # ops whose output describes a tensor rather than holding its values
SPLIT_INPUT_OPSET = 13  # Split takes its sizes as an input from this opset on


@dataclass(frozen=True)
class OnnxNode:
    """One ONNX node, with its attributes decoded and a module scope for naming the Layerloom node."""

    name: str  # the ONNX node name, or its first output when the node is unnamed
    op: str
    domain: str
    inputs: tuple[str, ...]  # '' marks an optional input left out
    outputs: tuple[str, ...]
    attrs: dict
    scope: tuple[str, ...]  # module path from the exporter (`('encoder', 'layers.0')`), () when unknown
    proto: object = field(repr=False, compare=False)


@dataclass
class PreparedModel:
    nodes: list[OnnxNode]  # in topological order
    constants: dict[str, np.ndarray]
    shapes: dict[str, Dims]
    elem_types: dict[str, int]  # tensor → onnx.TensorProto element type
    inputs: list[str]  # graph inputs that are not weights
    outputs: list[str]
    opsets: dict[str, int]  # domain → version, after conversion
    source_opset: int  # the file's own ONNX opset (some old op semantics differ)
    sized_axes: list[str] = field(default_factory=list)  # inputs whose dynamic axes got DYNAMIC_SIZE
    # outputs of Gathers and Slices reading a stored table by a size of the input (a positional table's first T
    # rows): left unfolded, so the table stays whole (tables.py)
    table_reads: frozenset[str] = frozenset()


def load_model(path: Path):
    """The checked ModelProto with its external data, which must stay inside the model's folder."""
    import onnx
    from onnx.external_data_helper import load_external_data_for_model, uses_external_data

    if not path.is_file():
        raise OnnxUnreadable(f"{path}: no such file")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 — onnx raises several types for unreadable files
        raise OnnxUnreadable(f"{path}: not a valid ONNX model ({_first_line(exc)})") from None
    folder = path.parent.resolve()
    for tensor in model.graph.initializer:
        if uses_external_data(tensor):
            location = next((e.value for e in tensor.external_data if e.key == "location"), "")
            if not (folder / location).resolve().is_relative_to(folder):
                raise OnnxImportError(f"{path}: weight {tensor.name!r} keeps its data in {location!r}, outside the "
                                      "model's folder — refused; keep external data beside the model")
    try:
        load_external_data_for_model(model, str(folder))
        onnx.checker.check_model(model)
    except Exception as exc:  # noqa: BLE001
        raise OnnxUnreadable(f"{path}: not a valid ONNX model ({_first_line(exc)})") from None
    return model


def prepare(model, path: Path) -> PreparedModel:
    """Convert, size, optimize and shape-infer `model` (a checked ModelProto read from `path`)."""
    from onnx import numpy_helper

    from .fixed import fold

    # size-only values every sample shares, proven while the sizes are still free
    fixed_reads = fold(model, DYNAMIC_SIZE)
    sized = _size_dynamic_axes(model)
    source_opset = _onnx_opset(model)
    model.ir_version = max(model.ir_version, 4)  # lets initializers stand apart from the graph inputs
    model = _convert_opset(model)
    # Old exporters list every weight as a graph input too; as inputs they could be overridden, so
    # nothing computed from them would fold.
    weights = {t.name for t in model.graph.initializer}
    kept = [v for v in model.graph.input if v.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(kept)
    table_reads = _table_reads(model) | fixed_reads
    with _quiet_loggers():
        model = _optimize(model, table_reads)
    model = _infer_shapes(model, path)
    if _fixed_sizes_read(model):
        # onnxscript infers fewer shapes than onnx with data propagation (a Reshape to a size computed
        # from the batch): once onnx's shapes are written in, what is read off them folds too
        with _quiet_loggers():
            model = _optimize(model, table_reads)
        model = _infer_shapes(model, path)
    constants = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    shapes, elem_types = {}, {}
    for value in (*model.graph.input, *model.graph.value_info, *model.graph.output):
        tensor = value.type.tensor_type
        elem_types[value.name] = tensor.elem_type
        if tensor.HasField("shape"):
            shapes[value.name] = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                                       for d in tensor.shape.dim)
    nodes = []
    for proto in model.graph.node:
        if proto.op_type == "Constant" and proto.domain in ("", "ai.onnx"):
            constants[proto.output[0]] = constant_value(proto)
            continue
        attrs = {a.name: _attribute(a) for a in proto.attribute}
        nodes.append(OnnxNode(proto.name or proto.output[0], proto.op_type, proto.domain, tuple(proto.input),
                              tuple(proto.output), attrs, _scope(proto), proto))
    opsets = {o.domain: o.version for o in model.opset_import}
    if opsets.get("", opsets.get("ai.onnx", 0)) >= SPLIT_INPUT_OPSET:
        nodes = _pair_slices(nodes, constants, shapes)
    for name, value in constants.items():
        shapes.setdefault(name, value.shape)
    return PreparedModel(nodes, constants, shapes, elem_types,
                         [v.name for v in model.graph.input if v.name not in constants],
                         [v.name for v in model.graph.output], opsets,
                         source_opset, sized, table_reads)


TABLE_READS = {"Gather", "Slice"}


def _table_reads(model) -> frozenset[str]:
    """Outputs of Gathers and Slices of a stored tensor whose indices or bounds are computed from sizes of the
    input (`pos_emb(arange(T))`, `pe[:T]`). Sizes are fixed on import, so these would fold into a table
    cut to the import's length — data the model has and an export of the import would lack."""
    stored = {t.name for t in model.graph.initializer}
    from_sizes: set[str] = set()
    reads = set()
    for node in model.graph.node:
        present = [name for name in node.input if name]
        if node.op_type in SIZE_OPS:
            from_sizes.update(node.output)
        elif node.op_type == "Constant" or (present and all(n in stored for n in present)):
            stored.update(node.output)  # Identity of a weight, a Constant: stored values too
        elif node.op_type in TABLE_READS and present[0] in stored and any(n in from_sizes for n in present[1:]):
            reads.update(node.output)
        elif present and all(n in stored or n in from_sizes for n in present):
            from_sizes.update(node.output)
    return frozenset(reads)


def _pair_slices(nodes: list[OnnxNode], constants: dict[str, np.ndarray], shapes: dict[str, Dims]) -> list[OnnxNode]:
    """Two Slices cutting one tensor in two along one axis — [0, k) and [k, end) — as one Split at the
    first of them: how a Layerloom Split exports, and torch's chunk(2) in old opsets. One pass over the
    nodes (onnxscript's SlicesSplit rule, which did this for halves of the last axis, scans the whole
    graph for every node it is tried on)."""
    heads: dict[tuple[str, int, int], int] = {}  # (tensor, axis, k) → the Slice keeping [0, k)
    tails: dict[tuple[str, int, int], int] = {}  # … the Slice keeping [k, end)
    for index, node in enumerate(nodes):
        cut = _single_cut(node, constants, shapes)
        if cut is None:
            continue
        source, axis, start, end, size = cut
        if start == 0 and 0 < end < size:
            heads.setdefault((source, axis, end), index)
        elif 0 < start < size and end >= size:
            tails.setdefault((source, axis, start), index)
    pairs = {heads[key]: (tails[key], key) for key in heads.keys() & tails.keys()}
    if not pairs:
        return nodes
    from onnx import helper

    dropped = {tail for tail, _ in pairs.values()}
    paired = []
    for index, node in enumerate(nodes):
        if index in dropped:
            continue
        if index in pairs:
            tail, (source, axis, cut) = pairs[index]
            size = shapes[source][axis]
            sizes = f"{node.outputs[0]}/split"
            constants[sizes] = np.array([cut, size - cut], np.int64)
            outputs = (node.outputs[0], nodes[tail].outputs[0])
            proto = helper.make_node("Split", [source, sizes], list(outputs), name=node.name, axis=axis)
            node = OnnxNode(node.name, "Split", "", (source, sizes), outputs, {"axis": axis}, node.scope, proto)
        paired.append(node)
    return paired


def _single_cut(node: OnnxNode, constants: dict[str, np.ndarray], shapes: dict[str, Dims]
                ) -> tuple[str, int, int, int, int] | None:
    """(tensor, axis, start, end, the axis's size) of a step-1 Slice of one fixed-size axis after the batch,
    start and end within [0, size]; None for any other node."""
    if node.op != "Slice" or node.domain not in ("", "ai.onnx") or len(node.inputs) < 3:
        return None
    values = [constants.get(name) if name else None for name in node.inputs[1:5]]
    if any(value is None or value.size != 1 for value in values[:2]):
        return None
    dims = shapes.get(node.inputs[0])
    axes, steps = (values[2:] + [None, None])[:2]
    if dims is None or (axes is not None and axes.size != 1) or (steps is not None and steps.reshape(-1)[0] != 1):
        return None
    axis = int(axes.reshape(-1)[0]) if axes is not None else 0
    axis = axis + len(dims) if axis < 0 else axis
    if not 0 < axis < len(dims) or not isinstance(dims[axis], int):
        return None
    size = dims[axis]
    start, end = (int(value.reshape(-1)[0]) for value in values[:2])
    start, end = (min(max(v + size if v < 0 else v, 0), size) for v in (start, end))
    return node.inputs[0], axis, start, end, size


def _infer_shapes(model, path: Path):
    import onnx

    try:
        return onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception as exc:  # noqa: BLE001 — InferenceError, or a ValueError from a malformed attribute
        raise OnnxImportError(f"{path}: ONNX shape inference fails on this model ({_first_line(exc)})") from None


def _fixed_sizes_read(model) -> bool:
    """Whether a Shape op still reads sizes that shape inference found fixed (not just the batch)."""
    dims = {value.name: [d.dim_value if d.HasField("dim_value") else None for d in value.type.tensor_type.shape.dim]
            for value in (*model.graph.input, *model.graph.value_info) if value.type.tensor_type.HasField("shape")}
    for node in model.graph.node:
        if node.op_type == "Shape" and node.input[0] in dims:
            attrs = {a.name: a.i for a in node.attribute}
            picked = dims[node.input[0]][attrs.get("start", 0):attrs.get("end")]
            if picked and None not in picked:
                return True
    return False


def _size_dynamic_axes(model) -> list[str]:
    """Give dynamic axes after the batch the size DYNAMIC_SIZE and name an unnamed batch axis."""
    sized = []
    for value in model.graph.input:
        dims = value.type.tensor_type.shape.dim
        for index, dim in enumerate(dims):
            if dim.HasField("dim_value"):
                continue
            if index == 0:
                dim.dim_param = dim.dim_param or BATCH
            else:
                dim.dim_value = DYNAMIC_SIZE
                if value.name not in sized:
                    sized.append(value.name)
    return sized


def _convert_opset(model):
    import onnx
    from onnx import version_converter

    if _onnx_opset(model) >= TARGET_OPSET:
        return model
    try:
        converted = version_converter.convert_version(model, TARGET_OPSET)
        onnx.checker.check_model(converted)
    except Exception:  # noqa: BLE001 — some ops have no adapter; the mappings read older forms too
        return model
    return converted


def _onnx_opset(model) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), TARGET_OPSET)


def _optimize(proto, keep: frozenset[str]):
    """onnxscript's constant folding, with rewrite rules that make sizes foldable, fuse GELU and drop
    no-op casts, expands and reshape pairs (rewrites.py) — but not onnxscript's default fusions,
    which would fold a BatchNorm into the layer before it or drop a zero bias, changing the network
    the user will edit. A model the optimizer fails on is mapped as written."""
    import onnx_ir as ir
    import onnxscript.optimizer
    import onnxscript.rewriter

    from .rewrites import SPELT_OUT, rules_for

    try:
        model = ir.serde.deserialize_model(proto)
        onnxscript.optimizer.inline(model)
        spelt_out = {node.op_type for node in proto.graph.node} & SPELT_OUT
        for _ in range(FOLD_ROUNDS):
            onnxscript.optimizer.fold_constants(model, onnx_shape_inference=True, input_size_limit=FOLD_LIMIT,
                                                output_size_limit=FOLD_LIMIT,
                                                should_fold=functools.partial(_should_fold, keep))
            # the ops as they are now: folding and rewriting take some away and bring others in
            rules = rules_for({node.op_type for node in model.graph} | spelt_out)
            if rules is not None:
                model = onnxscript.rewriter.rewrite(model, rules)
            onnxscript.optimizer.remove_unused_nodes(model)
        return ir.serde.serialize_model(model)
    except Exception:  # noqa: BLE001 — an optimizer bug on an unusual model must not stop the import
        return proto


def _should_fold(keep: frozenset[str], node) -> bool | None:
    """Fold ConstantOfShape too (onnxscript keeps it to keep files small): a tensor filled to a fixed
    size is a constant to the mappings, e.g. the pads torch computes for a reflect pad. Never fold a node
    whose output is in `keep` (a table read by length)."""
    if any(value is not None and value.name in keep for value in node.outputs):
        return False
    return True if node.op_type == "ConstantOfShape" else None


@contextlib.contextmanager
def _quiet_loggers():
    """onnxscript and onnx_ir log every constant they decline to fold; none of it concerns the user."""
    loggers = [logging.getLogger(name) for name in ("onnxscript", "onnx_ir")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def constant_value(proto) -> np.ndarray:
    import onnx
    from onnx import numpy_helper

    attr = proto.attribute[0]
    value = onnx.helper.get_attribute_value(attr)
    if attr.name in ("value", "sparse_value"):
        return numpy_helper.to_array(value)
    return np.array(value, dtype=np.float32 if attr.name.startswith("value_float") else
                    np.int64 if attr.name.startswith("value_int") else object)


def _attribute(attr):
    import onnx

    value = onnx.helper.get_attribute_value(attr)
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, list) and value and isinstance(value[0], bytes):
        return [v.decode() for v in value]
    return value


def _scope(proto) -> tuple[str, ...]:
    """The module path of a node: torch's dynamo exporter records it in the metadata
    (`['', 'fc1', 'linear']`, the last entry being the op); the TorchScript exporter in the name
    (`/encoder/layers.0/self_attn/MatMul`), or in its output's (`/gen_reshape/Reshape_output_0`)."""
    meta = {p.key: p.value for p in proto.metadata_props}
    scopes = meta.get("pkg.torch.onnx.name_scopes")
    if scopes and scopes.startswith("["):
        parts = [p.strip().strip("'\"") for p in scopes.strip("[]").split(",")]
        path = tuple(p for p in parts[:-1] if p)
        return path or tuple(p for p in parts[-1:] if p)  # a function call: its own name (`relu_2`)
    parts = [p for p in proto.name.split("/") if p]
    if len(parts) < 2 and proto.output and proto.output[0].startswith("/"):
        # a node a rewrite rule made (`node_Reshape_1`) still writes the tensor the exporter named
        parts = [p for p in proto.output[0].split("/") if p]
    return tuple(parts[:-1])


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]
