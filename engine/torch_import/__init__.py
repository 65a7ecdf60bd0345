"""PyTorch models into editable graphs: `import_pt2(path)` for an ExportedProgram saved with
`torch.export.save`, `import_module(module, input_shapes)` for a live `nn.Module` (what
`--factory torchvision.models:resnet18` returns).

The program's ATen ops are grouped into calls (calls.py) and each call becomes a node (layers.py):
a built-in layer module's call becomes its layer node, weights and all; a functional op in a forward
becomes the node for that op. Node ids follow the module paths (`layer1.0.conv1` → `layer1_0_conv1`),
so a state_dict of the same model maps onto the graph by name (engine/weights_map.py). Nothing is
handed out unproven: the graph, holding the imported weights, must give the program's outputs on
random inputs at two batch sizes, else the import is refused with the difference.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..document import BLOCK, Edge, GraphDocument
from ..layout import layered_positions
from ..onnx_import import ImportedGraph
from ..onnx_import.grouping import group_repeats
from . import compound
from .calls import Call, aten_name, group_calls
from .fixed import FixedValues
from .layers import LAYERS, PASS_THROUGH, Context, Mapped, Unmapped, map_function
from .naming import ModuleNaming
from .program import PytorchImportError, PytorchUnreadable, call_factory, input_spec, load_pt2, trace

if TYPE_CHECKING:
    import torch
    from torch import fx

__all__ = ["PytorchImportError", "PytorchUnreadable", "call_factory", "import_module", "import_pt2", "input_spec"]

NODE_SIZE = (180.0, 90.0)
MAX_LISTED = 12
PARITY_ATOL = 1e-4
LEAF_KINDS = {f"torch.nn.modules.{module}.{name}" for module, names in {
    "conv": ("Conv1d", "Conv2d", "Conv3d"), "linear": ("Linear", "Identity"),
    "batchnorm": ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d"), "normalization": ("LayerNorm", "GroupNorm", "RMSNorm"),
    "sparse": ("Embedding",), "dropout": ("Dropout",), "flatten": ("Flatten",),
    "activation": ("ReLU", "ReLU6", "GELU", "SiLU", "Sigmoid", "Tanh", "Hardswish", "Hardsigmoid", "Hardtanh",
                   "LeakyReLU", "ELU", "SELU", "Softplus", "Mish", "Softmax", "LogSoftmax", "MultiheadAttention"),
    "pooling": ("MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool2d"),
}.items() for name in names} | {"transformers.pytorch_utils.Conv1D"}  # GPT-2's transposed Linear


def import_pt2(path: str | Path) -> ImportedGraph:
    """The graph and weights of the ExportedProgram saved at `path`."""
    path = Path(path)
    return _import(load_pt2(path), path.stem or "model", f"Imported from {path.name}.")


def import_module(module: torch.nn.Module, input_shapes: list[tuple[int, ...]], name: str = "model",
                  dtypes: list[str] | None = None) -> ImportedGraph:
    """The graph and weights of `module`, traced on inputs of these per-sample shapes."""
    return _import(trace(module, input_shapes, dtypes), name, f"Imported from the PyTorch module {name}.")


def _import(program: torch.export.ExportedProgram, name: str, description: str) -> ImportedGraph:
    builder = _Builder(program, GraphDocument(_identifier(name) or "model", description))
    builder.build()
    if builder.problems:
        listed = builder.problems[:MAX_LISTED]
        more = len(builder.problems) - len(listed)
        raise PytorchImportError(f"{name}: {len(builder.problems)} parts of the model have no Layerloom node yet:\n  "
                                 + "\n  ".join(listed) + (f"\n  … and {more} more" if more > 0 else ""))
    imported = ImportedGraph(builder.doc, builder.weights, builder.input_ids, builder.output_ids)
    _check_parity(program, imported, name)
    imported.weights = group_repeats(builder.doc, imported.weights, ModuleNaming(builder.stacks))
    if any(node.type_id == BLOCK for node in builder.doc.nodes.values()):
        _check_parity(program, imported, name)  # grouped: the blocks must compute what the flat graph did
    for node_id, position in layered_positions(builder.doc, dict.fromkeys(builder.doc.nodes, NODE_SIZE)).items():
        builder.doc.nodes[node_id].position = position
    return imported


@dataclass
class Source:
    node_id: str
    port: str


class _Builder:
    def __init__(self, program: torch.export.ExportedProgram, doc: GraphDocument):
        signature = program.graph_signature
        self.program, self.doc = program, doc
        self.weight_names = {**signature.inputs_to_parameters, **signature.inputs_to_buffers,
                             **getattr(signature, "inputs_to_lifted_tensor_constants", {})}
        self.values = {**program.state_dict, **program.constants}
        self.user_inputs = list(signature.user_inputs)
        self.sources: dict[fx.Node, Source] = {}
        self.owner_of: dict[str, str] = {}  # a source tensor's name → the node id that holds it (weight tying)
        stored = {**signature.inputs_to_buffers, **getattr(signature, "inputs_to_lifted_tensor_constants", {})}
        self.fixed = FixedValues(program, {name: self.values[fqn] for name, fqn in stored.items()}, self.user_inputs)
        self.open_attention: dict[fx.Node, tuple[Call, Mapped, list]] = {}  # attention whose proj comes next (BERT)
        self.tables: dict[fx.Node, tuple[fx.Node, str]] = {}  # a position table's lookup → (its placeholder, id)
        self.weights: dict[str, np.ndarray] = {}
        self.input_ids: dict[str, str] = {}
        self.output_ids: dict[str, str] = {}
        self.problems: list[str] = []
        self.stacks: dict[str, list[tuple[str, str]]] = {}  # node id → the modules its call sat in (naming.py)
        self._stack: list[tuple[str, str]] = []  # the call being placed's
        self.context = Context(is_weight=lambda node: node.op == "placeholder" and node.name in self.weight_names,
                               shape=self._shape, is_fixed=self.fixed.__contains__,
                               mask_meaning=lambda node: self.fixed.mask_meaning(node) if node in self.fixed else None)

    def build(self) -> None:
        for node in self.program.graph.nodes:
            if node.op == "placeholder" and node.name in self.user_inputs:
                self._add_input(node)
        for call in group_calls(self.program, LEAF_KINDS):
            self._add_call(call)
        for attention, *_ in self.open_attention.values():
            self.problems.append(f"{attention.path} (attention): q, k and v projections with no output projection "
                                 "(a Linear reading the attention and nothing else)")
        output = next(node for node in self.program.graph.nodes if node.op == "output")
        for index, value in enumerate(output.args[0]):
            self._add_output(value, index)

    # -- nodes -----------------------------------------------------------------------------------
    def _add_input(self, node: fx.Node) -> None:
        value = node.meta["val"]
        dtype = str(value.dtype).removeprefix("torch.")
        node_id = self._free_id(node.name)
        shape = [int(size) for size in value.shape[1:]]
        self.doc.add_node("Input", {"shape": shape, "dtype": dtype}, node_id=node_id)
        self.sources[node] = Source(node_id, "out")
        self.input_ids[node.name] = node_id

    def _add_output(self, value, index: int) -> None:
        source = self.sources.get(value) if hasattr(value, "op") else None
        if source is None:
            if not self.problems:  # else it is what an unmapped call computes, reported already
                self.problems.append(f"output {index}: not a tensor the graph computes ({value})")
            return
        node_id = self._free_id(f"output{index + 1}")
        self.doc.add_node("Output", {}, node_id=node_id)
        self.doc.add_edge(Edge(source.node_id, source.port, node_id, "in"))
        self.output_ids[str(index)] = node_id

    def _add_call(self, call: Call) -> None:
        self._stack = _module_stack(call.ops[0])
        if not call.kind and (aten_name(call.ops[0]) in PASS_THROUGH or _keeps_dtype(call.ops[0])):
            self._pass_through(call)
            return
        if all(op in self.fixed for op in call.ops):
            return  # computed from sizes alone (a size for a reshape, positions, a mask): read where it is used
        if compound.place(self, call):
            return
        where = call.path or "the model's forward"
        try:
            mapped = LAYERS[call.kind.rsplit(".", 1)[-1]](call, self.context) if call.kind else \
                map_function(call.ops[0], self.context)
        except Unmapped as exc:
            what = (f"{call.path} ({call.kind.rsplit('.', 1)[-1]})" if call.kind
                    else f"aten.{aten_name(call.ops[0])} in {where}")
            self.problems.append(f"{what}: {exc}")
            return
        if not mapped.type_id:  # Identity
            self.sources[call.output] = self.sources[mapped.inputs[0]]
            return
        mapped = self._position_table(call, mapped)
        if mapped is not None:
            mapped = self._output_projection(call, mapped)
        if mapped is not None:
            self._place(call, mapped)

    def _output_projection(self, call: Call, mapped: Mapped) -> Mapped | None:
        """BERT's self-attention ends at the heads joined again; its output projection is the Linear of the next
        module. The attention is held back (None) until that Linear, which becomes its "proj"."""
        if mapped.type_id == "MultiheadAttention" and "qkv.weight" in mapped.weights and \
                "proj.weight" not in mapped.weights:
            self.open_attention[call.output] = (call, mapped, list(self._stack))
            return None
        opened = [arg for arg in mapped.inputs if arg in self.open_attention]
        if not opened:
            return mapped
        attention, held, stack = self.open_attention.pop(opened[0])
        readers = set(opened[0].users)
        if mapped.type_id != "Linear" or not readers <= set(call.ops) or \
                ("qkv.bias" in held.weights) != ("bias" in mapped.weights) or mapped.transposed != held.transposed:
            self.open_attention[opened[0]] = (attention, held, stack)
            return mapped  # not its projection: reported as an open attention at the end
        weights = {**held.weights, "proj.weight": mapped.weights["weight"]}
        weights |= {"proj.bias": mapped.weights["bias"]} if "bias" in mapped.weights else {}
        self._stack = stack
        return Mapped(held.type_id, held.params, held.inputs, weights, _call_id(attention), held.transposed)

    def _position_table(self, call: Call, mapped: Mapped) -> Mapped | None:
        """`x + table(arange(T))` (GPT's learned positions) is one PositionalEncoding node holding every row of
        the table: the Embedding of the positions is held back (None) until the Add that uses it."""
        if mapped.type_id == "Embedding" and mapped.inputs[0] in self.fixed:
            return self._fixed_lookup(call, mapped)
        tables = [arg for arg in mapped.inputs if arg in self.tables]
        if mapped.type_id == "Add" and len(tables) == 1:
            (other,) = [arg for arg in mapped.inputs if arg not in self.tables]
            table, name = self.tables[tables[0]]
            rows = self._shape(table)[0]
            return Mapped("PositionalEncoding", {"kind": "learned", "max_len": int(rows)}, [other], {"pe": table}, name)
        if any(arg in self.fixed or arg in self.tables for arg in mapped.inputs):
            self.problems.append(f"{call.path or call.ops[0].name}: reads positions or another value computed from "
                                 "the input's sizes alone other than as a learned position table or attention mask")
            return None
        return mapped

    def _fixed_lookup(self, call: Call, mapped: Mapped) -> None:
        """A table read at indices computed from sizes alone: at the positions 0 … T-1, a learned position table
        (held until the Add that uses it); at one index everywhere (BERT's token types when none are given), a
        Parameter holding the whole table and a Slice of the row read — no row is dropped."""
        indices, table = mapped.inputs[0], mapped.weights["weight"]
        if self.fixed.is_positions(indices):
            self.tables[call.output] = (table, _call_id(call))
            return None
        rows, width = (int(size) for size in self._shape(table))
        index = self.fixed.constant_index(indices)
        if index is None or not self.input_ids:
            self.problems.append(f"{call.path} (Embedding): read at indices computed from the input's sizes alone "
                                 "that are neither positions nor one fixed index")
            return None
        like = self.sources[next(node for node in self.sources if node.name in self.input_ids)]
        params = {"shape": [rows, width], "init": "normal"}
        node_id = self.add_node(_call_id(call), "Parameter", params, [like], {"value": self.weight(table)})
        if rows > 1:  # every row kept (they stay trainable and exported); the one read is sliced out
            node_id = self.add_node(f"{_call_id(call)}_row", "Slice", {"dim": 1, "start": int(index),
                                                                       "end": int(index) + 1}, [self.source(node_id)])
        self.sources[call.output] = self.source(node_id)
        return None

    def _pass_through(self, call: Call) -> None:
        op = call.ops[0]
        if op.args and op.args[0] in self.tables and aten_name(op) != "getitem":
            self.tables[op] = self.tables[op.args[0]]  # a position table's lookup converted to its own dtype
        first = op.args[0] if op.args else None
        if aten_name(op) == "getitem" and isinstance(op.args[1], int) and op.args[1] != 0:
            self.problems.append(f"{op.name}: item {op.args[1]} of a layer's outputs (only the first is mapped)")
            return
        if hasattr(first, "op") and first in self.sources:
            self.sources[op] = self.sources[first]

    def _place(self, call: Call, mapped: Mapped) -> None:
        node_id = self._free_id(mapped.name or _call_id(call))
        params, ties = dict(mapped.params), {}
        for key, placeholder in mapped.weights.items():
            owner = self.owner_of.get(self.weight_names[placeholder.name]) if hasattr(placeholder, "op") else None
            if owner is not None and key == "weight" and mapped.type_id == "Linear":
                ties[key] = owner
        if ties:
            params["tie"] = ties["weight"]
        if any(arg not in self.sources for arg in mapped.inputs):
            return  # it reads what an unmapped call computes: that call's problem is reported, not this one
        node_id = self.add_node(node_id, mapped.type_id, params, [self.sources[arg] for arg in mapped.inputs])
        for key, placeholder in mapped.weights.items():
            if key in ties:
                continue
            parts = placeholder if isinstance(placeholder, tuple) else (placeholder,)
            names = [self.weight_names[part.name] for part in parts]
            if len(names) == 1:
                self.owner_of.setdefault(names[0], node_id)
            arrays = [self.values[name].detach().cpu().numpy() for name in names]
            arrays = [np.ascontiguousarray(array.T) for array in arrays] if key in mapped.transposed else arrays
            self.weights[f"{node_id}.{key}"] = arrays[0] if len(arrays) == 1 else np.concatenate(arrays)
            if key == "running_mean":  # the batch counter no op reads, but the BatchNorm's state holds
                counter = self.values.get(names[0].removesuffix("running_mean") + "num_batches_tracked")
                self.weights[f"{node_id}.num_batches_tracked"] = (
                    counter.detach().cpu().numpy() if counter is not None else np.zeros((), np.int64))
        self.sources[call.output] = Source(node_id, "out")

    def add_node(self, wanted: str, type_id: str, params: dict, inputs: list[Source],
                 arrays: dict[str, np.ndarray] | None = None) -> str:
        """A node wired to `inputs` (in its port order) holding `arrays` as its weights; returns its id."""
        node_id = self._free_id(wanted)
        self.doc.add_node(type_id, params, node_id=node_id)
        self.stacks[node_id] = self._stack
        for port, source in zip(_input_ports(type_id), inputs, strict=False):
            self.doc.add_edge(Edge(source.node_id, source.port, node_id, port))
        for key, array in (arrays or {}).items():
            self.weights[f"{node_id}.{key}"] = array
        return node_id

    def source(self, node_id: str) -> Source:
        return Source(node_id, "out")

    def weight(self, placeholder: fx.Node) -> np.ndarray:
        return self.values[self.weight_names[placeholder.name]].detach().cpu().numpy()

    def _shape(self, node: fx.Node) -> tuple:
        value = node.meta.get("val")
        return tuple(value.shape) if value is not None else ()

    def _free_id(self, wanted: str) -> str:
        base = _identifier(wanted) or "node"
        node_id, counter = base, 1
        while node_id in self.doc.nodes:
            counter += 1
            node_id = f"{base}_{counter}"
        return node_id


def _keeps_dtype(op: fx.Node) -> bool:
    """`x.to(x.dtype)` (Hugging Face writes them around lookups): a copy, no node."""
    if aten_name(op) not in ("to", "_to_copy") or not op.args or not hasattr(op.args[0], "meta"):
        return False
    before, after = op.args[0].meta.get("val"), op.meta.get("val")
    return before is not None and after is not None and before.dtype == after.dtype and before.device == after.device


def _module_stack(op: fx.Node) -> list[tuple[str, str]]:
    """The modules an op sat in, outermost first, as (path, class name); the model itself left out."""
    entries = []
    for value in (op.meta.get("nn_module_stack") or {}).values():
        path, kind = value if isinstance(value, tuple) else (str(value), "")
        kind = kind if isinstance(kind, str) else kind.__qualname__
        if path:
            entries.append((path, kind.rsplit(".", 1)[-1]))
    return entries


def _call_id(call: Call) -> str:
    """`layer1.0.conv1` → `layer1_0_conv1` (a second call of the module: `…_1`); a functional op: the op's
    name after the module it is written in (`layer1_0_add`)."""
    if call.kind:
        path = call.path or call.kind.rsplit(".", 1)[-1].lower()  # the model is itself one layer: its class
        return path.replace(".", "_") + (f"_{call.repeat}" if call.repeat else "")
    prefix = call.path.replace(".", "_")
    op = aten_name(call.ops[0]).strip("_")
    return f"{prefix}_{op}" if prefix else op


def _identifier(text: str) -> str:
    text = re.sub(r"[^A-Za-z0-9_]", "_", text).strip("_")
    if not text:
        return ""
    if not text[0].isalpha():
        text = "m" + text
    return text + "_" if keyword.iskeyword(text) else text


def _input_ports(type_id: str) -> list[str]:
    from nodes import get_spec

    return [port.name for port in get_spec(type_id).inputs]


def _check_parity(program: torch.export.ExportedProgram, imported: ImportedGraph, name: str) -> None:
    """The graph with the imported weights must compute what the program computes (batch 2 and 3)."""
    import torch

    from ..compile import compile_graph
    from ..validate import validate

    report = validate(imported.document)
    if report.errors:
        raise PytorchImportError(f"{name}: the imported graph does not validate: "
                                 + "; ".join(str(d) for d in report.errors[:MAX_LISTED]))
    compiled = compile_graph(imported.document, with_loss=False, report=report)
    own = compiled.module.state_dict()
    state = {key: torch.as_tensor(value) for key, value in imported.weights.items()}
    wrong = [key for key in state if key not in own or tuple(own[key].shape) != tuple(state[key].shape)]
    if wrong:
        raise PytorchImportError(f"{name}: imported weights do not fit their nodes: {', '.join(wrong[:MAX_LISTED])}")
    compiled.module.load_state_dict(state, strict=False)
    compiled.module.eval()
    reference = program.module()
    placeholders = [n for n in program.graph.nodes if n.op == "placeholder" and n.name in imported.input_ids]
    output_index = {node_id: int(index) for index, node_id in imported.output_ids.items()}
    for batch in (2, 3):
        generator = torch.Generator().manual_seed(batch)
        args = {}
        for node in placeholders:
            value = node.meta["val"]
            shape = (batch, *value.shape[1:])
            args[node.name] = (torch.randint(0, 2, shape, generator=generator) if not value.dtype.is_floating_point
                               else torch.randn(shape, generator=generator, dtype=value.dtype))
        by_id = {imported.input_ids[name]: value for name, value in args.items()}
        with torch.no_grad():
            expected = reference(*args.values())
            expected = list(expected) if isinstance(expected, (tuple, list)) else [expected]
            got = compiled.module(*(by_id[input_id] for input_id in compiled.input_names))
            got = list(got) if isinstance(got, (tuple, list)) else [got]
        for output_id, have in zip(compiled.output_names, got, strict=True):
            index = output_index[output_id]
            want = expected[index]
            if tuple(want.shape) != tuple(have.shape):
                raise PytorchImportError(f"{name}: output {index} has shape {tuple(have.shape)} in the graph, "
                                         f"{tuple(want.shape)} in the model (batch {batch})")
            difference = float((want.float() - have.float()).abs().max()) if want.numel() else 0.0
            if not difference <= PARITY_ATOL:
                raise PytorchImportError(f"{name}: the graph's output {index} differs from the model's by "
                                         f"{difference:.3g} at batch {batch} (an importer bug, please report it)")
