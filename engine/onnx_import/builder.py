"""The graph under construction while ONNX nodes are mapped, and the register of op mappings.

An op mapping (`@handles("Relu")`) turns one ONNX node into Layerloom nodes through `emit`, which
checks each param against the node type's own limits and runs the type's shape rule on the wires
it reads, comparing the result with the shape ONNX inferred — so a mapping that would not validate,
or would compute something else, is refused where it happens, naming the ONNX node. Refusals are
collected, not raised: the import fails once at the end listing every op type without an
equivalent (once each) and every node that could not be mapped. Tensors that only carry sizes
(`Shape` and what is computed from it) never become nodes; ops that need them (Reshape) read the
shape ONNX inferred instead.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

from nodes import ShapeError, format_shape, get_spec

from ..document import Edge, GraphDocument, _identifier_base, make_node_id, node_id_problem
from ..errors import OnnxImportError
from .loading import SIZE_OPS, OnnxNode, PreparedModel
from .weight_shapes import mismatches

ELEMENT_TYPES = {1: "float32", 7: "int64"}  # onnx.TensorProto element types an Input can take
REPEATS = {"Expand", "Tile"}  # ops that repeat a stored tensor to a size read at run time (the batch)
MAX_LISTED = 25  # problems listed in one error message
# values in one sample of an Input (1 GiB of float32): a declared size beyond it is a mistake in the file
MAX_SAMPLE_VALUES = 1 << 28

Handler = Callable[["Builder", OnnxNode], None]
HANDLERS: dict[str, Handler] = {}


def handles(*ops: str):
    """Register the decorated function as the mapping of these ONNX op types."""

    def register(handler: Handler) -> Handler:
        for op in ops:
            HANDLERS[op] = handler
        return handler

    return register


class Refusal(Exception):
    """This ONNX node cannot be mapped; the message says why (and, where it can, what to change)."""


class _Upstream(Exception):
    """An input of this node comes from a node that was already refused: nothing more to say."""


class Builder:
    def __init__(self, path: Path, model: PreparedModel, doc: GraphDocument):
        self.path, self.model, self.doc = path, model, doc
        self.weights: dict[str, np.ndarray] = {}
        self.refs: dict[str, tuple[str, str]] = {}  # ONNX tensor → (node id, output port)
        self.ll_shapes: dict[tuple[str, str], tuple] = {}  # (node id, port) → Layerloom shape
        # (node id, port) → rows per sample of the wire, where a Reshape merged the batch (N·A rows): what sizes.py
        # needs to work out a run-time size read off such a wire (absent: 1)
        self.row_factors: dict[tuple[str, str], int] = {}
        self.sizes: set[str] = set()  # tensors that only carry sizes (from Shape)
        self.refused: set[str] = set()  # tensors whose producer was refused
        self.unsupported: dict[str, str] = {}  # op type → the first node of that type
        self.problems: list[str] = []
        self.input_ids: dict[str, str] = {}  # ONNX graph input → Input node id
        self.output_ids: dict[str, str] = {}  # ONNX graph output → Output node id
        self.consumers = Counter(i for node in model.nodes for i in node.inputs if i) + Counter(model.outputs)
        self.notes: dict[str, str] = {}  # ONNX node → why no region around it could be imported
        self.counted: dict[str, int] = {}  # id prefix (`relu`) → the number below which every id is taken
        self.table_reads: dict = {}  # tensor → tables.TableRead: the first rows of a stored table, by length
        self.owners: dict[tuple, str] = {}  # a weight's shape, dtype and digest → the node holding it (tables.py)
        self.producers = {out: node for node in model.nodes for out in node.outputs if out}
        self.size_values: dict[int, dict[str, np.ndarray]] = {}  # batch → size tensor → its value (sizes.py)

    # -- the graph boundary ------------------------------------------------------------------
    def add_input(self, name: str) -> None:
        dims, elem = self.model.shapes.get(name), self.model.elem_types.get(name)
        if elem not in ELEMENT_TYPES:
            return self._refuse_input(name, f"has element type {_elem_name(elem)}; an Input takes float32 or int64")
        if dims is None or len(dims) < 2:
            return self._refuse_input(name, f"has shape {list(dims or [])}; an Input needs a batch axis and at least "
                                            "one more")
        if problem := _size_problem(dims[1:]):
            return self._refuse_input(name, f"has shape {format_shape((None, *dims[1:]))}: {problem}")
        node_id = self._free_id(name)
        self.doc.add_node("Input", {"shape": list(dims[1:]), "dtype": ELEMENT_TYPES[elem]}, node_id=node_id)
        self.input_ids[name] = node_id
        self.refs[name] = (node_id, "out")
        self.ll_shapes[(node_id, "out")] = (None, *dims[1:])

    def add_output(self, name: str) -> None:
        if name in self.refused:
            return
        if name not in self.refs:
            self.problems.append(f"output {name!r} is {self._describe(name)}; an Output shows a computed tensor")
            return
        node_id = self._free_id(name)
        self.doc.add_node("Output", node_id=node_id)
        self.doc.add_edge(Edge(*self.refs[name], node_id, "in"))
        self.output_ids[name] = node_id

    def _refuse_input(self, name: str, why: str) -> None:
        self.problems.append(f"input {name!r} {why}")
        self.refused.add(name)

    # -- one ONNX node -------------------------------------------------------------------------
    def add(self, node: OnnxNode) -> None:
        present = [i for i in node.inputs if i]
        repeats = node.op in REPEATS and present[0] in self.model.constants  # a class token, repeated over the batch
        if node.op in SIZE_OPS or (present and not repeats and any(i in self.sizes for i in present)
                                   and all(i in self.sizes or i in self.model.constants for i in present)):
            self.sizes.update(node.outputs)
            return
        op = node.op if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op}"
        handler = HANDLERS.get(op)
        if node.name in self.notes and handler is None:
            self.fail(node, self.notes[node.name])
        elif handler is None:
            self.unsupported.setdefault(op, node.name)
            self.refused.update(node.outputs)
        else:
            self.run(node, lambda builder: handler(builder, node))

    def run(self, node: OnnxNode, mapping: Callable[[Builder], None]) -> None:
        """Apply `mapping`, recording a refusal against `node`."""
        try:
            mapping(self)
        except Refusal as refusal:
            self.fail(node, str(refusal))
        except _Upstream:
            self.refused.update(node.outputs)

    def fail(self, node: OnnxNode, why: str) -> None:
        self.problems.append(f"node {node.name!r} ({node.op}): {why}")
        self.refused.update(node.outputs)

    # -- what mappings read --------------------------------------------------------------------
    def data(self, name: str) -> tuple[str, str]:
        """The Layerloom wire carrying tensor `name`."""
        if name in self.refs:
            return self.refs[name]
        if name in self.refused:
            raise _Upstream
        raise Refusal(f"reads {name!r}, which is {self._describe(name)}; this op maps only onto a computed tensor")

    def const(self, node: OnnxNode, index: int, what: str = "weight") -> np.ndarray:
        name = node.inputs[index] if index < len(node.inputs) else ""
        if name not in self.model.constants:
            if name in self.refused:
                raise _Upstream
            raise Refusal(f"its {what} (input {index}) must be a stored constant, but it is computed at run time")
        return self.model.constants[name]

    def optional_const(self, node: OnnxNode, index: int, what: str = "weight") -> np.ndarray | None:
        present = index < len(node.inputs) and node.inputs[index]
        return self.const(node, index, what) if present else None

    def is_const(self, name: str) -> bool:
        return name in self.model.constants

    def onnx_shape(self, name: str) -> tuple:
        """The shape ONNX inferred for `name` (ints, with a str for a symbolic size)."""
        if name in self.refused:
            raise _Upstream
        dims = self.model.shapes.get(name)
        if dims is None or any(d is None for d in dims):
            raise Refusal(f"the shape of {name!r} is not known after shape inference")
        return dims

    def shape(self, name: str) -> tuple:
        """The Layerloom shape of the wire carrying `name`: (None, …) with the batch first."""
        return self.ll_shapes[self.data(name)]

    # -- what mappings write -------------------------------------------------------------------
    def emit(self, node: OnnxNode, type_id: str, params: dict, inputs: list[str], *,
             ports: tuple[str, ...] | None = None, weights: dict[str, np.ndarray] | None = None,
             outputs: dict[str, str] | None = None, check_shapes: bool = True) -> str:
        """Add a `type_id` node reading `inputs` (ONNX tensors) on `ports`; its output ports carry the
        ONNX tensors named in `outputs` (port → tensor; by default the node's first output on the
        type's first port). Returns the new node id."""
        spec = get_spec(type_id)
        ports = ports or tuple(p.name for p in spec.inputs)
        sources = [self.data(name) for name in inputs]
        outputs = outputs if outputs is not None else {spec.outputs[0].name: node.outputs[0]}
        for name, value in params.items():
            if problem := spec.param(name).problem(value):
                raise Refusal(f"as a {type_id}, its {name} {problem} (Layerloom's limit)")
        in_shapes = {port: self.ll_shapes[source] for port, source in zip(ports, sources, strict=False)}
        try:
            out_shapes = spec.infer(spec.resolve(params), in_shapes)
        except ShapeError as exc:
            raise Refusal(f"as a {type_id} it would not fit its input: {exc.message}") from None
        if check_shapes:
            for port, tensor in outputs.items():
                self._check_shape(type_id, tensor, out_shapes[port])
        node_id = self._new_id(node, type_id)
        if problems := mismatches(type_id, spec.resolve(params), in_shapes, weights or {}, f"{node_id}."):
            raise Refusal(f"its weights do not fit {type_id} {node_id!r}: " + "; ".join(problems))
        self.doc.add_node(type_id, params, node_id=node_id)
        for source, port in zip(sources, ports, strict=False):
            self.doc.add_edge(Edge(*source, node_id, port))
        for name, value in (weights or {}).items():
            self.weights[f"{node_id}.{name}"] = np.array(value, order="C")  # keeps 0-d tensors 0-d
        rows = _rows_out(type_id, params, [self.row_factors.get(source, 1) for source in sources],
                         [in_shapes[port] for port in ports[:len(sources)]])
        for port, tensor in outputs.items():
            self.refs[tensor] = (node_id, port)
            self.ll_shapes[(node_id, port)] = out_shapes[port]
            if rows != 1:
                self.row_factors[(node_id, port)] = rows
        return node_id

    def alias(self, tensor: str, source: str) -> None:
        """`tensor` is the same values as `source` (Identity, Dropout at inference)."""
        self.refs[tensor] = self.data(source)

    def _check_shape(self, type_id: str, tensor: str, shape: tuple) -> None:
        onnx_dims = self.model.shapes.get(tensor)
        if onnx_dims is None:
            return
        agree = len(onnx_dims) == len(shape) and all(not isinstance(want, int) or have is None or want == have
                                                     for want, have in zip(onnx_dims[1:], shape[1:], strict=True))
        if not agree:
            raise Refusal(f"as a {type_id} it would give {format_shape(shape)}, but ONNX gives "
                          f"{format_shape((None, *onnx_dims[1:]))}")

    def _new_id(self, node: OnnxNode, type_id: str) -> str:
        """An id from the exporter's module path — its last part (`fc1`), else the last two
        (`block2_ln1`), … — else the type's own (`relu3`)."""
        if not node.scope:
            return self._counted_id(get_spec(type_id).id_prefix)
        for depth in range(1, len(node.scope) + 1):
            candidate = make_node_id("_".join(node.scope[-depth:]), ())
            if candidate not in self.doc.nodes:
                return candidate
        return self._free_id(f"{node.scope[-1]}_{get_spec(type_id).id_prefix}")

    def _free_id(self, text: str) -> str:
        """`make_node_id(text, self.doc.nodes)`, in constant time however many ids share its base."""
        base = _identifier_base(text)
        if base not in self.doc.nodes and node_id_problem(base) is None:
            return base
        return self._counted_id(f"{base}_")

    def _counted_id(self, prefix: str) -> str:
        """The first free id `<prefix><k>`, k from 1 (`relu1`, `relu2`, …) as the document counts them — but
        counting on from the last one given, not from 1: the import only adds nodes, so every id below it is
        still taken, and 10,000 unnamed ReLUs no longer cost 50 million look-ups."""
        k = self.counted.get(prefix, 1)
        while (candidate := f"{prefix}{k}") in self.doc.nodes or node_id_problem(candidate):
            k += 1
        self.counted[prefix] = k  # not k + 1: a refused node leaves its id free for the next
        return candidate

    def _describe(self, name: str) -> str:
        if name in self.table_reads:
            return (f"the first rows of the stored table {self.table_reads[name].table!r}, read by the input's length "
                    "(Layerloom keeps such a table only added to a sequence, as a learned PositionalEncoding)")
        if name in self.sizes and self.model.elem_types.get(name) == 7:  # int64
            return "a size computed at run time (Layerloom nodes take fixed sizes)"
        if name in self.sizes:
            return "computed from sizes alone, not from any input (e.g. zeros of the input's shape)"
        if name in self.model.constants:
            return "a constant"
        return "not produced by any node"

    # -- the verdict ---------------------------------------------------------------------------
    def verdict(self) -> None:
        """Raise one OnnxImportError listing every op type without an equivalent and every refusal."""
        lines = []
        if self.unsupported:
            ops = ", ".join(f"{op} (node {name!r})" for op, name in sorted(self.unsupported.items()))
            lines.append(f"no Layerloom equivalent for {len(self.unsupported)} ONNX op type"
                         f"{'s' * (len(self.unsupported) != 1)}: {ops}")
        lines += self.problems[:MAX_LISTED]
        if len(self.problems) > MAX_LISTED:
            lines.append(f"… and {len(self.problems) - MAX_LISTED} more")
        if lines:
            raise OnnxImportError(f"{self.path}: cannot import this model —\n  " + "\n  ".join(lines))


def _size_problem(dims: tuple) -> str | None:
    """Why an Input cannot have these sizes after the batch, or None when it can."""
    for axis, size in enumerate(dims, start=1):
        if not isinstance(size, int) or size < 1:
            return f"axis {axis} has size {size}; every axis after the batch needs a size of at least 1"
    values = math.prod(dims)
    if values > MAX_SAMPLE_VALUES:
        return (f"{values:,} values per sample, more than the {MAX_SAMPLE_VALUES:,} (1 GiB of float32) an imported "
                "Input may hold — a size in the file is wrong, or the model is far too big to train here")
    return None


def tidy(value: float) -> float:
    """A float32 attribute as the number it was written as (9.999999747e-06 → 1e-05)."""
    return float(f"{value:.7g}")


def _elem_name(elem: int | None) -> str:
    import onnx

    return onnx.TensorProto.DataType.Name(elem) if elem else "unknown"


def _rows_out(type_id: str, params: dict, rows_in: list[int], shapes_in: list[tuple]) -> int:
    """Rows per sample of a new node's outputs: a batch merge multiplies its input's by the folded axis, a split
    divides by its factor, any other node keeps what its inputs carry (validation checks they agree)."""
    rows = max(rows_in, default=1)
    if type_id == "Reshape" and params.get("batch") == "merge":
        return rows * shapes_in[0][1]
    if type_id == "Reshape" and params.get("batch") == "split":
        return max(rows // params.get("batch_split", 2), 1)
    return rows
