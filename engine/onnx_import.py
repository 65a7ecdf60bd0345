"""Import an ONNX model made of supported ops into a graph the canvas can show, edit and train.

Each ONNX node becomes one Layerloom node (Gemm/MatMul(+Add) → Linear, Conv → Conv1d/Conv2d,
pools, BatchNormalization, activations, Flatten, Concat, Add/Mul…), its initializers become that
node's weights (keys `<node id>.<param>` as the compiler names them), and node ids come from the
exporter's scopes where possible (`/conv1/Conv` → `conv1`), so a Layerloom export imports back
under the same names. Anything without an equivalent is refused with the ONNX node named.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .document import Edge, GraphDocument
from .errors import OnnxImportError
from .layout import layered_positions

NODE_SIZE = (180.0, 90.0)  # a typical node's size on the canvas, for the initial layout
_DTYPES = {1: "float32", 7: "int64"}
DYNAMIC_SIZE = 16  # the sample size given to a dynamic (sequence length) axis


@dataclass
class ImportedGraph:
    document: GraphDocument
    weights: dict[str, np.ndarray] = field(default_factory=dict)  # state_dict of the compiled graph


def import_onnx(path: str | Path) -> ImportedGraph:
    import onnx
    from onnx import numpy_helper
    from onnx.external_data_helper import load_external_data_for_model, uses_external_data

    path = Path(path)
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 — onnx raises several types for unreadable files
        raise OnnxImportError(f"{path}: not a valid ONNX model ({str(exc).splitlines()[0][:200]})") from None
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
        raise OnnxImportError(f"{path}: not a valid ONNX model ({str(exc).splitlines()[0][:200]})") from None
    model = onnx.shape_inference.infer_shapes(model)
    builder = _Builder(path, {t.name: numpy_helper.to_array(t) for t in model.graph.initializer})
    for value in (*model.graph.input, *model.graph.value_info, *model.graph.output):
        if value.type.tensor_type.HasField("shape"):
            builder.ranks[value.name] = len(value.type.tensor_type.shape.dim)
    for value in model.graph.input:
        if value.name not in builder.constants:
            builder.add_input(value)
    for node in model.graph.node:
        builder.add(node, {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}, numpy_helper)
    for value in model.graph.output:
        builder.add_output(value.name)
    doc = builder.doc
    for node_id, position in layered_positions(doc, dict.fromkeys(doc.nodes, NODE_SIZE)).items():
        doc.nodes[node_id].position = position
    return ImportedGraph(doc, builder.weights)


class _Builder:
    def __init__(self, path: Path, initializers: dict[str, np.ndarray]):
        self.path = path
        self.doc = GraphDocument(_identifier(path.stem, "model"), f"Imported from {path.name}")
        self.constants = dict(initializers)
        self.tensors: dict[str, tuple[str, str]] = {}  # ONNX tensor name → (node id, output port)
        self.weights: dict[str, np.ndarray] = {}
        self.ranks: dict[str, int] = {}  # tensor name → rank, from ONNX shape inference

    # -- graph boundary ------------------------------------------------------------------------
    def add_input(self, value) -> None:
        tensor = value.type.tensor_type
        if tensor.elem_type not in _DTYPES:
            self._fail(value.name, "input", f"element type {tensor.elem_type} is not float32 or int64")
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
        if len(dims) < 2:
            self._fail(value.name, "input", f"needs a batch axis and at least one more, got {dims}")
        node_id = self._new_id(value.name, "Input")
        if None in dims[1:]:
            self.doc.description += (f" {node_id}: dynamic axes were given size {DYNAMIC_SIZE}; edit the Input's "
                                     "shape to the length you train with.")
        shape = [DYNAMIC_SIZE if d is None else d for d in dims[1:]]
        self.doc.add_node("Input", {"shape": shape, "dtype": _DTYPES[tensor.elem_type]}, node_id=node_id)
        self.tensors[value.name] = (node_id, "out")

    def add_output(self, name: str) -> None:
        node_id = self._new_id(name, "Output")
        self.doc.add_node("Output", node_id=node_id)
        self.doc.add_edge(Edge(*self._source(name, node_id), node_id, "in"))

    # -- one ONNX node ---------------------------------------------------------------------------
    def add(self, node, attrs: dict, numpy_helper) -> None:
        op = node.op_type
        if op == "Constant":
            self.constants[node.output[0]] = numpy_helper.to_array(attrs["value"])
            return
        if op in ("Identity", "Dropout"):  # inference graphs: pass the tensor through
            self.tensors[node.output[0]] = self._source(node.input[0], node.name)
            return
        handler = getattr(self, f"_op_{op}", None)
        if handler is None:
            self._fail(node.name, op, "has no Layerloom equivalent yet (supported: " + ", ".join(
                sorted(n[4:] for n in dir(self) if n.startswith("_op_"))) + ")")
        handler(node, attrs)

    def _layer(self, node, type_id: str, params: dict, inputs: list[str], ports=("in",),
               weights: dict[str, np.ndarray] | None = None) -> str:
        node_id = self._new_id(_scope(node.name) or node.output[0], type_id)
        self.doc.add_node(type_id, params, node_id=node_id)
        for tensor, port in zip(inputs, ports, strict=True):
            self.doc.add_edge(Edge(*self._source(tensor, node.name), node_id, port))
        for name, value in (weights or {}).items():
            self.weights[f"{node_id}.{name}"] = np.array(value, order="C")  # keeps 0-d tensors 0-d
        self.tensors[node.output[0]] = (node_id, "out")
        return node_id

    def _op_Gemm(self, node, attrs):
        if attrs.get("transA", 0) or attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0:
            self._fail(node.name, "Gemm", "only alpha = beta = 1 without transA maps to Linear")
        weight = self._constant(node, 1)
        weight = weight if attrs.get("transB", 0) else weight.T  # Linear stores (out, in)
        bias = self._constant(node, 2) if len(node.input) > 2 and node.input[2] else None
        self._linear(node, weight, bias)

    def _op_MatMul(self, node, attrs):
        self._linear(node, self._constant(node, 1).T, None)

    def _linear(self, node, weight: np.ndarray, bias: np.ndarray | None) -> None:
        weights = {"weight": weight} | ({"bias": bias} if bias is not None else {})
        self._layer(node, "Linear", {"out_features": int(weight.shape[0]), "bias": bias is not None},
                    [node.input[0]], weights=weights)

    def _op_Add(self, node, attrs):
        constant = [i for i in node.input if i in self.constants]
        if not constant:
            self._layer(node, "Add", {}, list(node.input), ports=("a", "b"))
            return
        # MatMul + Add(bias) from the exporter: fold the bias into the Linear just made
        other = next(i for i in node.input if i not in self.constants)
        source_id, _ = self._source(other, node.name)
        key = f"{source_id}.bias"
        linear = self.doc.nodes[source_id]
        if linear.type_id != "Linear" or key in self.weights:
            self._fail(node.name, "Add", "adding a constant only maps to a Linear layer's bias")
        linear.params["bias"] = True
        self.weights[key] = self.constants[constant[0]].reshape(-1)
        self.tensors[node.output[0]] = (source_id, "out")

    def _op_Mul(self, node, attrs):
        self._layer(node, "Multiply", {}, list(node.input), ports=("a", "b"))

    def _op_Conv(self, node, attrs):
        weight = self._constant(node, 1)
        dims = weight.ndim - 2
        kernel, stride, pads, dilation = (attrs.get(k) for k in ("kernel_shape", "strides", "pads", "dilations"))
        kernel = kernel or list(weight.shape[2:])
        for name, values in (("kernel", kernel), ("stride", stride or [1] * dims), ("pads", pads or [0] * 2 * dims),
                             ("dilation", dilation or [1] * dims)):
            if len(set(values)) != 1:
                self._fail(node.name, "Conv", f"{name} {values} is not the same on every side")
        if dims not in (1, 2) or attrs.get("group", 1) != 1:
            self._fail(node.name, "Conv", "only ungrouped 1-D and 2-D convolutions are supported")
        bias = self._constant(node, 2) if len(node.input) > 2 and node.input[2] else None
        params = {"out_channels": int(weight.shape[0]), "kernel_size": kernel[0], "stride": (stride or [1])[0],
                  "padding": (pads or [0])[0], "dilation": (dilation or [1])[0], "bias": bias is not None}
        self._layer(node, f"Conv{dims}d", params, [node.input[0]],
                    weights={"weight": weight} | ({"bias": bias} if bias is not None else {}))

    def _pool(self, node, attrs, kind: str):
        kernel = attrs["kernel_shape"]
        dims = len(kernel)
        stride, pads = attrs.get("strides", kernel), attrs.get("pads", [0] * 2 * dims)
        if len(set(kernel)) != 1 or len(set(stride)) != 1 or len(set(pads)) != 1 or attrs.get("ceil_mode", 0):
            self._fail(node.name, node.op_type, "only square windows with even padding and ceil_mode 0 are supported")
        self._layer(node, f"{kind}Pool{dims}d", {"kernel_size": kernel[0], "stride": stride[0], "padding": pads[0]},
                    [node.input[0]])

    def _op_MaxPool(self, node, attrs):
        self._pool(node, attrs, "Max")

    def _op_AveragePool(self, node, attrs):
        self._pool(node, attrs, "Avg")

    def _op_GlobalAveragePool(self, node, attrs):
        self._layer(node, "AdaptiveAvgPool2d", {"output_size": 1}, [node.input[0]])

    def _op_BatchNormalization(self, node, attrs):
        scale, bias, mean, var = (self._constant(node, i) for i in range(1, 5))
        momentum = round(1.0 - attrs.get("momentum", 0.9), 6)  # ONNX keeps the old value's weight
        type_id = "BatchNorm2d" if self.ranks.get(node.input[0]) == 4 else "BatchNorm1d"  # (N, C, H, W)
        weights = {"weight": scale, "bias": bias, "running_mean": mean, "running_var": var,
                   "num_batches_tracked": np.zeros((), dtype=np.int64)}
        self._layer(node, type_id, {"eps": float(attrs.get("epsilon", 1e-5)), "momentum": momentum},
                    [node.input[0]], weights=weights)

    def _op_Flatten(self, node, attrs):
        self._layer(node, "Flatten", {"start_dim": int(attrs.get("axis", 1))}, [node.input[0]])

    def _op_Concat(self, node, attrs):
        if not 2 <= len(node.input) <= 4:
            self._fail(node.name, "Concat", f"joins {len(node.input)} tensors; Concat takes 2 to 4")
        self._layer(node, "Concat", {"dim": int(attrs["axis"])}, list(node.input), ports=("a", "b", "c", "d"))

    def _op_Softmax(self, node, attrs):
        self._layer(node, "Softmax", {"dim": int(attrs.get("axis", -1))}, [node.input[0]])

    def _op_LeakyRelu(self, node, attrs):
        self._layer(node, "LeakyReLU", {"negative_slope": round(float(attrs.get("alpha", 0.01)), 6)},
                    [node.input[0]])

    def _activation(self, node, type_id: str):
        self._layer(node, type_id, {}, [node.input[0]])

    def _op_Relu(self, node, attrs):
        self._activation(node, "ReLU")

    def _op_Sigmoid(self, node, attrs):
        self._activation(node, "Sigmoid")

    def _op_Tanh(self, node, attrs):
        self._activation(node, "Tanh")

    def _op_Gelu(self, node, attrs):
        self._activation(node, "GELU")

    # -- helpers ---------------------------------------------------------------------------------
    def _constant(self, node, index: int) -> np.ndarray:
        name = node.input[index]
        if name not in self.constants:
            self._fail(node.name, node.op_type, f"input {index} ({name}) must be a stored weight, not computed")
        return self.constants[name]

    def _source(self, tensor: str, consumer: str) -> tuple[str, str]:
        if tensor not in self.tensors:
            self._fail(consumer, "", f"reads {tensor!r}, which no supported node produces")
        return self.tensors[tensor]

    def _new_id(self, name: str, type_id: str) -> str:
        candidate = _identifier(name, "")
        return candidate if candidate and candidate not in self.doc.nodes else self.doc.new_id(type_id)

    def _fail(self, node_name: str, op: str, message: str):
        label = f"node {node_name!r} ({op})" if op else f"node {node_name!r}"
        raise OnnxImportError(f"{self.path}: {label} {message}")


def _scope(onnx_name: str) -> str:
    """`/conv1/Conv` → `conv1` (the exporter's module scope), '' when the name has none."""
    parts = [p for p in onnx_name.split("/") if p]
    return parts[0] if len(parts) >= 2 else ""


def _identifier(text: str, fallback: str) -> str:
    cleaned = re.sub(r"\W+", "_", text).strip("_")
    return cleaned if cleaned and cleaned[0].isalpha() else (f"n_{cleaned}" if cleaned else fallback)
