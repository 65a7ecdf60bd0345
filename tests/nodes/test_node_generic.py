"""The generic Op node: a checked ATen name, shapes and element types from meta runs, a graph that trains and
exports to ONNX and Python code, and the params the PyTorch importer asks for."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch

import nodes
from engine.compile import compile_graph
from engine.document import Edge, GraphDocument
from engine.export.onnx_export import export_onnx
from engine.export.python_code import export_python
from engine.validate import validate
from nodes import ShapeError
from nodes.generic import op_params, parse_args

N = None
OP = nodes.get_spec("Op")


def infer(params, **shapes):
    return OP.infer(OP.resolve(params), shapes)["out"]


@pytest.mark.parametrize(("params", "shapes"), [
    ({"op": "cumsum", "args": '{"dim": 2}'}, {"a": (N, 3, 5)}),
    ({"op": "mean", "args": '{"dim": [2, 3], "keepdim": true}'}, {"a": (N, 4, 5, 6)}),
    ({"op": "where", "args": "[-1.0]"}, {"a": (N, 3, 1), "b": (N, 1, 4)}),  # a boolean condition, broadcast
    ({"op": "bmm"}, {"a": (N, 3, 4), "b": (N, 4, 2)}),
    ({"op": "addcmul", "args": '{"value": 0.5}'}, {"a": (N, 2, 3), "b": (N, 2, 3), "c": (N, 1, 3)}),
    ({"op": "transpose", "args": "[1, 2]"}, {"a": (N, 3, N)}),  # an unknown size stays unknown, moved
])
def test_inferred_shapes_are_what_the_op_gives(params, shapes):
    out = infer(params, **shapes)
    for batch in (2, 5):
        module = OP.build(OP.resolve(params), shapes)
        tensors = []
        for port, shape in shapes.items():
            size = [d if d is not None else 6 if i else batch for i, d in enumerate(shape)]  # 6: an unknown size
            tensors.append(torch.rand(size) > 0.5 if params["op"] == "where" and port == "a" else torch.randn(size))
        got = module(*tensors).shape
        assert len(got) == len(out) and got[0] == batch
        assert all(d is None or d == g for d, g in zip(out, got, strict=True))
    assert out[0] is None


def test_element_types_come_from_the_op():
    typed = OP.typed_infer
    assert typed(OP.resolve({"op": "lt", "args": "[0.5]"}), {"a": (N, 3)}, {"a": "float32"})[1] == {"out": "bool"}
    assert typed(OP.resolve({"op": "_to_copy", "args": '{"dtype": "torch.int64"}'}), {"a": (N, 3)},
                 {"a": "float32"})[1] == {"out": "int64"}
    assert typed(OP.resolve({"op": "neg"}), {"a": (N, 3)}, {"a": "int64"})[1] == {"out": "int64"}


@pytest.mark.parametrize(("params", "shapes", "port", "fragment"), [
    ({"op": "os.system"}, {"a": (N, 3)}, "a", "not an ATen operator name"),
    ({"op": "no_such_op"}, {"a": (N, 3)}, "a", "torch.ops.aten has no 'no_such_op'"),
    ({"op": "relu_"}, {"a": (N, 3)}, "a", "writes into its inputs; use the out-of-place form (relu)"),
    ({"op": "cumsum", "args": "{dim: 1}"}, {"a": (N, 3)}, "a", "is not JSON"),
    ({"op": "cumsum", "args": "3"}, {"a": (N, 3)}, "a", "must be a JSON list"),
    ({"op": "cumsum", "args": '{"dim": 4}'}, {"a": (N, 3)}, "a", "aten.cumsum refuses (N, 3) float32"),
    ({"op": "max", "args": "[1]"}, {"a": (N, 3)}, "a", "gives 2 values"),
    ({"op": "sum"}, {"a": (N, 3)}, "a", "does not keep the batch first"),
    ({"op": "where"}, {"a": (N, 3), "c": (N, 3)}, "c", "c is wired but b is not"),
    ({}, {"a": ()}, "a", "expected (N, …)"),
])
def test_refusals_say_why(params, shapes, port, fragment):
    with pytest.raises(ShapeError) as info:
        OP.infer(OP.resolve(params), shapes)
    assert info.value.port == port and fragment in info.value.message, info.value.message


def test_a_reduction_over_the_batch_names_the_stricter_rule():
    with pytest.raises(ShapeError) as info:
        infer({"op": "sum"}, a=(N, 3))
    assert info.value.stricter == "batch"


def test_a_matrix_product_counts_its_multiply_adds():
    params = OP.resolve({"op": "bmm"})
    assert OP.macs(params, {"a": (2, 3, 4), "b": (2, 4, 5)}, {"out": (2, 3, 5)}) == 2 * 3 * 4 * 5
    assert OP.macs(OP.resolve({}), {"a": (2, 3)}, {"out": (2, 3)}) == 0


def test_op_params_for_the_pytorch_importer_build_the_same_call():
    x = torch.randn(2, 4, 3)
    cases = [
        (torch.ops.aten.cumsum.default, [1], {"dtype": torch.float64}, torch.cumsum(x, 1, dtype=torch.float64)),
        ("aten::clamp", [0.0, 0.5], {}, x.clamp(0.0, 0.5)),
        ("aten.amax.default", [], {"dim": [2], "keepdim": True}, x.amax(2, keepdim=True)),
        ("_to_copy", [], {"dtype": torch.float16, "device": torch.device("cpu")}, x.half()),
    ]
    for op, args, kwargs, expected in cases:
        params = op_params(op, args, kwargs)
        json.loads(params["args"])  # plain JSON, written into the graph file as it is
        module = OP.build(OP.resolve(params), {"a": (N, 4, 3)})
        torch.testing.assert_close(module(x), expected)
    assert op_params(torch.ops.aten.cumsum.default, [1], {"dtype": torch.float64})["args"] == \
        '{"dim": 1, "dtype": "torch.float64"}'  # positional named by the overload's schema
    with pytest.raises(ValueError, match="argument 0 = "):
        op_params("add", [object()])
    with pytest.raises(ValueError, match="not an ATen operator"):
        op_params("aten.no_such_op.default")


def test_args_name_only_allowed_torch_constants():
    assert parse_args('["torch.float32", "torch.cuda"]') == ((torch.float32, "torch.cuda"), {})


def _graph(shape, dtype="float32", *ops) -> GraphDocument:
    doc = GraphDocument("generic")
    source = doc.add_node("Input", {"shape": list(shape), "dtype": dtype}, node_id="x")
    for i, params in enumerate(ops):
        node = doc.add_node("Op", params, node_id=f"op{i}")
        doc.add_edge(Edge(source, "out", node, "a"))
        source = node
    doc.add_edge(Edge(source, "out", doc.add_node("Output", {}, node_id="y"), "in"))
    return doc


def test_validation_follows_the_ops_element_types():
    doc = _graph((4,), "float32", {"op": "gt", "args": "[0.0]"})
    fc = doc.add_node("Linear", {"out_features": 2}, node_id="fc")
    doc.add_edge(Edge("op0", "out", fc, "in"))
    errors = [(d.node, d.port, d.message) for d in validate(doc).errors]
    assert ("fc", "in", "expects float32 values, but op0 gives bool — float32 values come from an Input or Target "
                        "of dtype float32") in errors


def test_a_bad_op_is_reported_on_its_node():
    errors = validate(_graph((4,), "float32", {"op": "no_such_op"})).errors
    assert [(d.node, d.port) for d in errors] == [("op0", "a")] and "no_such_op" in errors[0].message


def test_a_graph_of_generic_ops_trains_and_exports_to_onnx_and_python(tmp_path):
    doc = _graph((5, 3), "float32", {"op": "erf"}, {"op": "cumsum", "args": '{"dim": 1}'},
                 {"op": "amax", "args": '{"dim": [2], "keepdim": true}'})
    fc = doc.add_node("Linear", {"out_features": 2}, node_id="fc")
    doc.remove_edge(next(e for e in doc.edges if e.dst == "y"))
    doc.add_edge(Edge("op2", "out", fc, "in"))
    doc.add_edge(Edge(fc, "out", "y", "in"))
    report = validate(doc)
    assert report.ok, report.errors
    assert report.shapes[("op2", "out")] == (N, 5, 1)
    compiled = compile_graph(doc, with_loss=False)
    compiled.module(*compiled.example_inputs(3)).sum().backward()  # gradients flow through the ops
    assert all(p.grad is not None for p in compiled.module.parameters())

    assert export_onnx(doc, tmp_path / "g.onnx").passed
    result = export_python(doc, tmp_path / "g.py")
    code = result.code_path.read_text()
    assert "torch.ops.aten.cumsum(" in code and "torch.ops.aten.amax(" in code, code
    spec = importlib.util.spec_from_file_location("generic_export", result.code_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.load(result.weights_path).eval()
    ours = compile_graph(doc, with_loss=False).module
    ours.load_state_dict(model.state_dict())
    x = torch.randn(4, 5, 3)
    torch.testing.assert_close(model(x), ours.eval()(x))


@pytest.mark.parametrize(("params", "dtype"), [
    ({"op": "erf"}, "int64"),  # torch gives float32 from integers; ONNX's Erf takes floats only
    ({"op": "div", "args": "[2]"}, "int64"),  # true division of integers
])
def test_an_op_that_makes_floats_of_integers_exports_with_parity(tmp_path, params, dtype):
    """Found by the node fuzz test: validation said valid, the ONNX checker rejected Erf of int64."""
    doc = _graph((4,), dtype, params)
    report = validate(doc)
    assert report.ok and report.dtypes[("op0", "out")] == "float32"
    compiled = compile_graph(doc, with_loss=False)
    x = torch.arange(-6, 6).reshape(3, 4)
    torch.testing.assert_close(compiled.module(x), getattr(torch.ops.aten, params["op"])(x, *parse_args(
        params.get("args", "[]"))[0]))
    assert export_onnx(doc, tmp_path / "g.onnx").passed


def test_an_op_mixing_floats_and_integer_indices_keeps_the_indices():
    doc = GraphDocument()
    doc.add_node("Input", {"shape": [4], "dtype": "float32"}, node_id="x")
    doc.add_node("Input", {"shape": [2], "dtype": "int64"}, node_id="i")
    doc.add_node("Op", {"op": "take_along_dim", "args": '{"dim": 1}'}, node_id="op0")  # floats at int indices
    doc.add_node("Output", {}, node_id="y")
    doc.add_edge(Edge("x", "out", "op0", "a"))
    doc.add_edge(Edge("i", "out", "op0", "b"))
    doc.add_edge(Edge("op0", "out", "y", "in"))
    assert validate(doc).ok
    compiled = compile_graph(doc, with_loss=False)
    given = {"x": torch.randn(3, 4), "i": torch.tensor([[3, 0]] * 3)}
    got = compiled.module(*(given[name] for name in compiled.input_names))
    torch.testing.assert_close(got, torch.take_along_dim(given["x"], given["i"], dim=1))
