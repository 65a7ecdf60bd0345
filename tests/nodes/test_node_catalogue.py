"""One test over every registered node type: metadata, params, and infer checked against torch."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from node_harness import buildable_specs, check_against_torch, outputs_by_port, param_values, sample_inputs

import nodes
from nodes import ShapeError

ALL = nodes.all_specs()
BUILDABLE = buildable_specs()
CATEGORIES = {"Input / Output", "Linear", "Convolution", "Pooling", "Activation", "Normalization", "Regularization",
              "Shape", "Merge", "Math", "Recurrent", "Attention", "Embedding", "Tensor", "Loss"}


def test_catalogue_covers_the_agreed_node_types():
    expected = """Input Target Output Linear Conv1d Conv2d ConvTranspose2d Upsample MaxPool1d AvgPool1d MaxPool2d
        AvgPool2d AdaptiveAvgPool2d ReLU ReLU6 Hardtanh Hardswish Hardsigmoid SiLU Softplus Mish GELU BatchNorm1d
        BatchNorm2d LayerNorm RMSNorm GroupNorm Dropout Flatten Reshape Permute Slice Split Concat Add Multiply
        Subtract Divide Pow Exp Sqrt Neg Abs Clamp Embedding PositionalEncoding RNN LSTM GRU MultiheadAttention
        TransformerBlock CrossEntropyLoss MSELoss L1Loss BCEWithLogitsLoss Parameter Constant Op Chunk
        ChannelShuffle""".split()
    assert set(expected) <= {spec.type_id for spec in ALL}


def test_importing_nodes_does_not_import_torch():
    code = "import nodes, sys; assert 'torch' not in sys.modules, 'nodes imported torch'"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("spec", ALL, ids=lambda s: s.type_id)
def test_spec_metadata_and_defaults(spec):
    assert spec.doc.strip() and spec.title and spec.id_prefix.isidentifier()
    assert spec.category in CATEGORIES
    if spec.build is not None:
        assert spec.example_inputs, "buildable nodes need example_inputs"
        assert {p.name for p in spec.inputs if not p.optional} <= set(spec.example_inputs)
    if spec.role == "loss":
        assert [p.name for p in spec.inputs] == ["pred", "target"] and [p.name for p in spec.outputs] == ["loss"]
        assert spec.id_prefix == "loss"
    for param in spec.params:
        assert param.problem(param.default) is None, f"{param.name}: default {param.default!r}"
    # The defaults survive a trip through the JSON file format.
    loaded = json.loads(json.dumps(spec.defaults()))
    assert all(spec.param(name).problem(value) is None for name, value in loaded.items())
    assert spec.resolve(loaded) == spec.resolve(spec.defaults())


@pytest.mark.parametrize("spec", BUILDABLE, ids=lambda s: s.type_id)
def test_defaults_build_run_and_match_infer(spec):
    """Build with defaults on example_inputs, run forward and backward in train mode."""
    module, outputs = check_against_torch(spec, {}, spec.example_inputs)
    if spec.role == "loss":
        assert outputs["loss"].dim() == 0 and math.isfinite(outputs["loss"].item())
    if any(True for _ in module.parameters()):  # gradients reach every weight
        sum(out.sum() for out in outputs.values()).backward()
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in module.parameters())


@pytest.mark.parametrize("spec", BUILDABLE, ids=lambda s: s.type_id)
def test_module_works_as_fx_leaf_and_traced_through(spec):
    """The compiler calls each module as a `call_module`; custom modules also trace without control flow."""
    params = spec.resolve({})
    module = spec.build(params, spec.example_inputs).eval()
    args = sample_inputs(spec, params, spec.example_inputs)
    graph = torch.fx.Graph()
    placeholders = [graph.placeholder(f"x{i}") for i in range(len(args))]
    graph.output(graph.call_module("node", tuple(placeholders)))
    leaf = torch.fx.GraphModule({"node": module}, graph)
    expected = outputs_by_port(spec, module(*args))
    for name, value in outputs_by_port(spec, leaf(*args)).items():  # NaN where it must be: Sqrt of x < 0
        torch.testing.assert_close(value, expected[name], equal_nan=True)
    if type(module).__module__.startswith("nodes.layers"):
        traced = torch.fx.symbolic_trace(module)
        for name, value in outputs_by_port(spec, traced(*args)).items():
            torch.testing.assert_close(value, expected[name], equal_nan=True)


# -- property tests: infer never crashes, and agrees with torch whenever it accepts ------------------

def _shapes(spec, max_dim: int, ranks: st.SearchStrategy):
    dims = st.one_of(st.none(), st.integers(1, max_dim))
    shape = ranks.flatmap(lambda r: st.tuples(*([st.none()] + [dims] * (r - 1))) if r else st.just(()))
    ports = {p.name: shape if not p.optional else st.one_of(st.none(), shape) for p in spec.inputs}
    return st.fixed_dictionaries(ports).map(lambda d: {k: v for k, v in d.items() if v is not None})


@pytest.mark.parametrize("spec", ALL, ids=lambda s: s.type_id)
@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_infer_raises_only_shape_errors(spec, data):
    """Any valid params and any input shapes: infer returns shapes or raises ShapeError, nothing else."""
    params = {p.name: data.draw(param_values(p, 40), p.name) for p in spec.params}
    assert all(spec.param(k).problem(v) is None for k, v in params.items())
    in_shapes = data.draw(_shapes(spec, 40, st.integers(0, 5)))
    try:
        out = spec.infer(spec.resolve(params), in_shapes)
    except ShapeError as exc:
        assert exc.port in {p.name for p in spec.inputs} and exc.message
        return
    assert set(out) == {p.name for p in spec.outputs}
    assert all(all(d is None or isinstance(d, int) for d in shape) for shape in out.values())


# nodes/activation.py (not owned by the catalogue work) lets Softmax accept a dim past the input's rank.
@pytest.mark.parametrize("spec", BUILDABLE, ids=lambda s: s.type_id)
@settings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_accepted_shapes_run_in_torch(spec, data):
    """Random small params and shapes: whenever infer accepts them, torch runs and produces those shapes.

    Each param keeps its default or takes a random value; shapes are the example inputs with every
    distinct size renamed consistently, so sizes that must agree (Add's a and b, CE's batch) still do.
    """
    params = spec.resolve({p.name: data.draw(st.one_of(st.just(p.default), param_values(p, 6)), p.name)
                           for p in spec.params})
    sizes = sorted({d for shape in spec.example_inputs.values() for d in shape if d is not None})
    rename = dict(zip(sizes, data.draw(st.lists(st.integers(1, 7), min_size=len(sizes), max_size=len(sizes)),
                                       "sizes"), strict=True))
    in_shapes = {port: tuple(rename.get(d) for d in shape) for port, shape in spec.example_inputs.items()}
    try:
        out = spec.infer(params, in_shapes)
    except ShapeError:
        return
    if any(d is not None and d < 1 for shape in out.values() for d in shape):
        return  # the validator reports empty outputs
    check_against_torch(spec, params, in_shapes)
