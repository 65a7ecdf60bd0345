"""Import an ONNX model into a graph the canvas can show, edit and train.

The file is first brought into one form (loading.py: values computed from sizes alone proven and folded
(fixed.py), opset conversion, constant folding by onnxscript's optimizer, GELU fusion, shape inference). Subgraphs
that stand for one Layerloom layer — a recurrent op with the transposes around it, an attention block spelt out in
MatMuls, an RMSNorm, a channel shuffle, a SiLU spelt x·σ(x) — are
matched and proven equal on sample data (regions.py); every other ONNX node maps onto Layerloom
nodes by its op type (ops_*.py), its initializers becoming that node's weights (keys
`<node id>.<param>` as the compiler names them). Node ids come from the exporter's module scopes
where possible (`/conv1/Conv` → `conv1`), so a Layerloom export imports back under the same names.

A Layerloom export's preprocessing (the run's standardisation, an image's pixel scaling) is taken off
the front of the graph and returned as the run's data record (prefix.py), which an export of the
imported graph builds in again.

The result always validates, and every imported tensor has the shape the compiled node gives it
(weight_shapes.py, read off the params and input shapes without torch): an op without an equivalent,
a node that would not fit, weights that do not fit their node, or an Input of impossible size (0,
negative, more than 2²⁸ values a sample) makes the import fail with every such op type listed once and
every such node and input named. The work is linear in the model's size (bench/onnx_import.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nodes import get_spec

from ..document import GraphDocument
from ..errors import OnnxImportError
from ..layout import layered_positions
from . import (  # noqa: F401 — ops_* register
    attention,
    ops_elementwise,
    ops_generic,
    ops_layers,
    ops_shape,
    ops_tensors,
    recurrent,
    rmsnorm,
    shuffle,
    silu,
)
from .builder import MAX_LISTED, Builder
from .grouping import group_repeats
from .loading import DYNAMIC_SIZE, PreparedModel, load_model, prepare
from .prefix import Prefix, peel
from .regions import Dataflow, Region
from .weight_shapes import mismatches

__all__ = ["ImportedGraph", "OnnxImportError", "import_onnx"]

NODE_SIZE = (180.0, 90.0)  # a typical node's size on the canvas, for the initial layout


@dataclass
class ImportedGraph:
    document: GraphDocument
    weights: dict[str, np.ndarray] = field(default_factory=dict)  # state_dict of the compiled graph
    input_ids: dict[str, str] = field(default_factory=dict)  # ONNX input name → Input node id
    output_ids: dict[str, str] = field(default_factory=dict)  # ONNX output name → Output node id
    # The data record (a run's data.json: preprocessing, class names) the model was exported with, None when
    # it says nothing; `layerloom import` writes it beside the weights, where `layerloom export` reads it.
    data: dict | None = None


def import_onnx(path: str | Path) -> ImportedGraph:
    """The graph and weights of the ONNX model at `path`; raises OnnxImportError naming what failed."""
    from ..validate import validate

    path = Path(path)
    proto = load_model(path)
    prefix = peel(proto)
    model = prepare(proto, path)
    doc = GraphDocument(path.stem or "model", f"Imported from {path.name}.")
    builder = Builder(path, model, doc)
    for name in model.inputs:
        builder.add_input(name)
    regions, builder.notes = _match_regions(model)
    for index, node in enumerate(model.nodes):
        region = regions.get(index)
        if region is None:
            builder.add(node)
        elif index == region.last:
            builder.run(node, region.emit)
    for name in model.outputs:
        builder.add_output(name)
    builder.verdict()
    if model.sized_axes:
        doc.description += (f" Dynamic axes of {', '.join(builder.input_ids[n] for n in model.sized_axes)} were "
                            f"given size {DYNAMIC_SIZE}; edit the Input's shape to the length you train with.")
    data = _data_record(doc, builder, prefix, path) if prefix else None
    report = validate(doc)
    if report.errors:  # every mapping checks its node, so this is a bug — but never hand out an invalid graph
        raise OnnxImportError(f"{path}: the imported graph does not validate (an importer bug, please report "
                              "it): " + "; ".join(str(d) for d in report.errors[:10]))
    if problems := _weight_problems(doc, report, builder.weights):  # as above: checked per node already
        raise OnnxImportError(f"{path}: the imported weights do not fit the graph (an importer bug, please report "
                              "it):\n  " + "\n  ".join(problems[:MAX_LISTED])
                              + (f"\n  … and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""))
    builder.weights = group_repeats(doc, builder.weights)  # repeated structures become blocks (grouping.py)
    for node_id, position in layered_positions(doc, dict.fromkeys(doc.nodes, NODE_SIZE)).items():
        doc.nodes[node_id].position = position
    return ImportedGraph(doc, builder.weights, builder.input_ids, builder.output_ids, data)


def _weight_problems(doc: GraphDocument, report, weights: dict[str, np.ndarray]) -> list[str]:
    """Each imported tensor whose shape is not the one the compiled graph gives it, each tensor a node needs
    but lacks, and each one no node has a place for — the shapes read off the validated graph."""
    by_node: dict[str, dict[str, np.ndarray]] = {}
    problems = []
    for key, value in weights.items():
        node_id, _, name = key.partition(".")
        if node_id in doc.nodes:
            by_node.setdefault(node_id, {})[name] = value
        else:
            problems.append(f"{key}: no node {node_id!r} holds it")
    for node_id, node in doc.nodes.items():
        spec = get_spec(node.type_id)
        found = mismatches(node.type_id, spec.resolve(node.params), report.input_shapes.get(node_id, {}),
                           by_node.get(node_id, {}), f"{node_id}.")
        problems += [f"node {node_id!r} ({node.type_id}): {problem}" for problem in found]
    return problems


def _data_record(doc: GraphDocument, builder: Builder, prefix: Prefix, path: Path) -> dict:
    """The record for the data Input as imported, its shape and dtype read off the Input node; in a Layerloom
    export every other Input is noise (a GAN's latent vector), so they are marked so again."""
    node_id = builder.input_ids[prefix.input]
    params = doc.nodes[node_id].params
    record = prefix.record(params["shape"], params["dtype"], f"imported from {path.name}")
    if prefix.said:
        for other in builder.input_ids.values():
            if other != node_id and doc.nodes[other].params["dtype"] == "float32":
                doc.set_param(other, "source", "noise")
    doc.description += (f" How raw data becomes {node_id} (preprocessing, class names) is kept as the data record"
                        + (", taken off the front of the graph; an export builds it in again." if prefix.peeled
                           else ", from the metadata."))
    if prefix.notes:
        doc.description += " Note: " + "; ".join(prefix.notes) + "."
    return record


def _match_regions(model: PreparedModel) -> tuple[dict[int, Region], dict[str, str]]:
    """Regions by the index of each node they replace, and why anchors that matched none did not."""
    flow = Dataflow(model)
    regions: dict[int, Region] = {}
    notes: dict[str, str] = {}
    for index, node in enumerate(model.nodes):
        if index in regions:
            continue
        for matcher in (recurrent.match, attention.match, rmsnorm.match, shuffle.match, silu.match):
            found = matcher(flow, index)
            if isinstance(found, Region):
                regions |= dict.fromkeys(found.members, found)
                break
            if found is not None:
                notes[node.name] = found
    return regions, notes

