"""Validation agrees with torch: a one-layer graph validates exactly when torch builds it, runs it forward
and backward, and the ONNX export runs it with the same results.

Each example draws a node type's params, a shape and an element type for every input (sometimes passed on
through a Reshape, so element types are followed through the nodes that only move values), and wires
Input → (Reshape →) node → Output. Then:
- valid ⇒ the compiled graph runs forward and backward and `export_onnx` passes its parity check;
- refused ⇒ torch fails on the same layer and inputs too, or the refusal is one Layerloom makes on purpose:
  an element type its port does not take (int64 only into Embedding and class targets), or a ShapeError
  naming a rule of `nodes.spec.STRICTER_THAN_TORCH`.
CI runs a few examples per node type; `--hypothesis-profile long` runs 1,200 per type (63,600 draws).
"""

from __future__ import annotations

import io
import warnings

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from node_harness import param_values

import nodes
from engine.compile import compile_graph
from engine.document import Edge, GraphDocument
from engine.export.onnx_export import export_onnx
from engine.validate import DTYPE_AGNOSTIC, validate
from nodes import ShapeError
from nodes.common import apply_init

LAYERS = [spec for spec in nodes.all_specs() if spec.role in ("layer", "loss")]
BATCH = 3


@st.composite
def drawn_graphs(draw, spec):
    """(document, params, {port: (sample shape, dtype)}) for one node of `spec` fed by Inputs/Targets."""
    # A Reshape keeps its batch here: one that merges or splits it is valid only with its counterpart in the
    # graph (engine/batch_scale.py), which a one-node graph lacks — tests/engine/test_batch_reshape.py has both.
    params = {p.name: draw(st.one_of(st.just(p.default), param_values(p, 8)), p.name) for p in spec.params
              if not (spec.type_id == "Reshape" and p.name == "batch")}
    sizes = sorted({d for shape in spec.example_inputs.values() for d in shape if d is not None})
    renamed = dict(zip(sizes, draw(st.lists(st.integers(1, 8), min_size=len(sizes), max_size=len(sizes))),
                       strict=True))
    doc = GraphDocument()
    node = doc.add_node(spec.type_id, params, node_id="layer")
    inputs = {}
    for port in spec.inputs:
        if port.optional and draw(st.booleans(), f"{port.name} wired?"):
            continue
        example = spec.example_inputs.get(port.name)
        renamed_example = st.just([renamed[d] for d in example[1:]]) if example else st.nothing()
        shape = draw(st.one_of(renamed_example, st.lists(st.integers(1, 8), max_size=4)), f"{port.name} shape")
        dtype = draw(st.sampled_from(_dtypes(port)), f"{port.name} dtype")
        role = "Target" if spec.role == "loss" and port.name == "target" else "Input"
        source = doc.add_node(role, {"shape": shape, "dtype": dtype}, node_id=f"{role.lower()}_{port.name}")
        if draw(st.booleans(), f"{port.name} through a Reshape?"):
            carrier = doc.add_node("Reshape", {"shape": shape}, node_id=f"reshape_{port.name}")
            doc.add_edge(Edge(source, "out", carrier, "in"))
            source = carrier
        doc.add_edge(Edge(source, "out", node, port.name))
        inputs[port.name] = (tuple(shape), dtype)
    if spec.role != "loss":
        for port in spec.outputs:
            doc.add_edge(Edge(node, port.name, doc.add_node("Output", {}, node_id=f"output_{port.name}"), "in"))
    return doc, params, inputs


def run_compiled_and_export(doc: GraphDocument, spec, tmp_path) -> None:
    """What a user does with a valid graph: train (forward, backward) and export; raises when any fails."""
    compiled = compile_graph(doc, with_loss=spec.role == "loss")
    result = compiled.module(*compiled.example_inputs(BATCH))
    if spec.role == "loss":
        total = result["loss"]
    else:
        outputs = result if isinstance(result, tuple) else (result,)
        total = sum(out.float().sum() for out in outputs)
    if total.requires_grad:
        total.backward()
    if spec.role != "loss":
        export = export_onnx(doc, tmp_path / "layer.onnx")
        assert export.passed, export.summary()


def torch_runs(spec, params: dict, inputs: dict) -> bool:
    """Whether torch builds the layer for these inputs, runs it forward (non-empty results) and backward,
    and exports it to ONNX — tried without asking validation."""
    params = spec.resolve(params)
    in_shapes = {port: (None, *shape) for port, (shape, _) in inputs.items()}
    try:
        module = spec.build(params, in_shapes)
        apply_init(module, params.get("init", "default"))
        args = _samples(spec, params, inputs)
        result = module(*args)
        outputs = result if isinstance(result, tuple) else (result,)
        if any(out.numel() == 0 for out in outputs):
            return False
        total = sum(out.float().sum() for out in outputs)
        if total.requires_grad:
            total.backward()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(module.eval(), args, io.BytesIO(), dynamo=False, opset_version=17)
    except Exception:  # noqa: BLE001 - any failure is torch refusing
        return False
    return True


def _samples(spec, params, inputs) -> tuple:
    args = []
    for port in spec.inputs:
        if port.name not in inputs:
            continue
        shape, dtype = inputs[port.name]
        if dtype == "int64":  # ids below the vocabulary, class indices below the class count
            high = params.get("num_embeddings") or (inputs["pred"][0] or (2,))[-1]
            args.append(torch.randint(0, max(high, 1), (BATCH, *shape)))
        else:
            value = torch.rand((BATCH, *shape)) if port.name == "target" else torch.randn((BATCH, *shape))
            args.append(value.requires_grad_(port.name != "target"))
    return tuple(args)


def _dtypes(port) -> list[str]:
    """Element types to feed `port`: mostly its own; a port reading any wire (a Parameter's like) takes both."""
    return ["float32", "int64"] if port.dtype == "any" else [port.dtype, port.dtype, "float32", "int64"]


def refused_on_purpose(spec, params: dict, inputs: dict) -> bool:
    """A refusal Layerloom makes although torch would run the layer: a wrong element type for the port,
    or a shape rule named in STRICTER_THAN_TORCH."""
    if spec.category not in DTYPE_AGNOSTIC and any(
            spec.input_port(port).dtype not in (dtype, "any") for port, (_, dtype) in inputs.items()):
        return True
    try:
        spec.infer(spec.resolve(params), {port: (None, *shape) for port, (shape, _) in inputs.items()})
    except ShapeError as exc:
        return bool(exc.stricter)
    return False


@pytest.mark.parametrize("spec", LAYERS, ids=lambda s: s.type_id)
def test_validate_says_valid_exactly_when_torch_runs_and_exports_it(spec, request, tmp_path):
    long = request.config.getoption("hypothesis_profile", None) == "long"

    @settings(max_examples=1200 if long else 6, deadline=None, derandomize=not long, database=None,
              suppress_health_check=list(HealthCheck))
    @given(graph=drawn_graphs(spec))
    def check(graph):
        doc, params, inputs = graph
        report = validate(doc)
        if report.ok:
            run_compiled_and_export(doc, spec, tmp_path)
        elif not refused_on_purpose(spec, params, inputs):
            assert not torch_runs(spec, params, inputs), f"refused, yet torch runs it: {report.errors}"

    torch.manual_seed(0)
    check()
