"""ONNX import: a Layerloom export comes back as the same network with the same weights; anything
else either imports into a graph that validates or is refused naming every op and node at fault."""

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator
from safetensors.numpy import save_file

from engine.cli import main
from engine.compile import compile_graph
from engine.document import Edge, GraphDocument, node_id_problem
from engine.export.onnx_export import export_onnx
from engine.export.weights import load_weights
from engine.fileformat import load_document, save_document
from engine.onnx_import import OnnxImportError, import_onnx
from engine.validate import validate

EXAMPLES = Path(__file__).resolve().parents[2] / "resources" / "examples"


def mlp_with_batchnorm() -> GraphDocument:
    doc = GraphDocument("bn mlp")
    chain = [("Input", {"shape": [6]}, "input1"), ("Linear", {"out_features": 5}, "fc1"),
             ("BatchNorm1d", {}, "bn1"), ("LeakyReLU", {"negative_slope": 0.2}, "act1"),
             ("Linear", {"out_features": 3}, "fc2"), ("Softmax", {}, "prob1"), ("Output", {}, "output1")]
    for type_id, params, node_id in chain:
        doc.add_node(type_id, params, node_id=node_id)
    for (_, _, a), (_, _, b) in zip(chain, chain[1:], strict=False):
        doc.add_edge(Edge(a, "out", b, "in"))
    return doc


def round_trip(doc: GraphDocument, tmp_path, trained_state=None):
    compiled = compile_graph(doc, with_loss=False)
    if trained_state:
        compiled.module.load_state_dict(trained_state, strict=False)
    path = tmp_path / "model.onnx"
    save_file({k: v.numpy() for k, v in compiled.module.state_dict().items()}, str(tmp_path / "w.safetensors"))
    assert export_onnx(doc, path, weights=tmp_path / "w.safetensors").passed
    imported = import_onnx(path)
    assert validate(imported.document).ok, [str(d) for d in validate(imported.document).diagnostics]
    save_file(imported.weights, str(tmp_path / "imported.safetensors"))
    again = compile_graph(imported.document, with_loss=False)
    load_weights(again.module, tmp_path / "imported.safetensors")
    x = compiled.example_inputs(4)
    if imported.document.description.count("size 16"):  # a dynamic length came back as 16 steps
        x = tuple(t[:, :16] for t in x)
    with torch.no_grad():
        torch.testing.assert_close(again.module.eval()(*x), compiled.module.eval()(*x), atol=1e-5, rtol=1e-4)
    return imported


@pytest.mark.parametrize("example", ["digits_mlp", "digits_cnn", "sequence_lstm", "text_transformer"])
def test_exported_examples_import_back_with_their_node_ids(example, tmp_path):
    doc = load_document(EXAMPLES / f"{example}.json")
    imported = round_trip(doc, tmp_path)
    layers = {n for n, node in doc.nodes.items() if node.type_id in ("Linear", "Conv2d", "LSTM", "Embedding")}
    assert layers <= set(imported.document.nodes)


def test_a_transformer_block_comes_back_as_its_parts(tmp_path):
    """Layerloom's own export of attention (fused q/k/v, causal mask) imports as a MultiheadAttention."""
    doc = load_document(EXAMPLES / "text_transformer.json")
    imported = round_trip(doc, tmp_path)
    attention = [n for n in imported.document.nodes.values() if n.type_id == "MultiheadAttention"]
    blocks = [n for n in doc.nodes.values() if n.type_id == "TransformerBlock"]
    assert len(attention) == len(blocks) >= 2
    assert all(n.params["causal"] and n.params["num_heads"] == 4 for n in attention)


def test_batchnorm_statistics_and_activation_params_survive(tmp_path):
    state = {"bn1.running_mean": torch.linspace(-1, 1, 5), "bn1.running_var": torch.linspace(0.5, 2, 5)}
    imported = round_trip(mlp_with_batchnorm(), tmp_path, state)
    nodes = imported.document.nodes
    assert nodes["bn1"].type_id == "BatchNorm1d" and nodes["bn1"].params["momentum"] == pytest.approx(0.1)
    assert nodes["act1"].params["negative_slope"] == pytest.approx(0.2)
    np.testing.assert_allclose(imported.weights["bn1.running_var"], state["bn1.running_var"].numpy())


def test_an_rmsnorm_spelt_out_comes_back_as_one_node_with_its_weight(tmp_path):
    """Opset 17 has no RMSNormalization: torch writes Pow, ReduceMean, Add, Sqrt, Div, Mul, Mul."""
    doc = GraphDocument("rms")
    chain = [("Input", {"shape": [5, 6]}, "input1"), ("RMSNorm", {"eps": 1e-5}, "norm1"),
             ("Linear", {"out_features": 3}, "fc1"), ("Output", {}, "output1")]
    for type_id, params, node_id in chain:
        doc.add_node(type_id, params, node_id=node_id)
    for (_, _, a), (_, _, b) in zip(chain, chain[1:], strict=False):
        doc.add_edge(Edge(a, "out", b, "in"))
    weight = torch.linspace(0.5, 2.0, 6)
    imported = round_trip(doc, tmp_path, {"norm1.weight": weight})
    norm = imported.document.nodes["norm1"]
    assert norm.type_id == "RMSNorm" and norm.params["eps"] == 1e-5
    np.testing.assert_array_equal(imported.weights["norm1.weight"], weight.numpy())


# -- hand-written ONNX models ------------------------------------------------------------------------

def save_model(path: Path, nodes, inputs, outputs, initializers=()) -> Path:
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)]), str(path))
    return path


def features(name: str, size: int = 3):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", size])


def assert_same_as_onnx(path: Path, **inputs: np.ndarray) -> None:
    """The imported graph computes what the reference evaluator computes for the file."""
    imported = import_onnx(path)
    compiled = compile_graph(imported.document, with_loss=False)
    compiled.module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in imported.weights.items()})
    by_id = {imported.input_ids[name]: value for name, value in inputs.items()}
    with torch.no_grad():
        got = compiled.module.eval()(*(torch.from_numpy(by_id[n]) for n in compiled.input_names))
    expected = ReferenceEvaluator(str(path)).run(None, inputs)[0]
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("count", [2, 3, 6])
def test_concat_of_several_inputs_imports(count, tmp_path):
    """Two or three inputs once crashed the importer; more than four become a chain of Concats."""
    activations = ["Relu", "Sigmoid", "Tanh", "Relu", "Sigmoid", "Tanh"][:count]
    nodes = [helper.make_node(op, ["x"], [f"a{i}"]) for i, op in enumerate(activations)]
    nodes.append(helper.make_node("Concat", [f"a{i}" for i in range(count)], ["y"], axis=1))
    path = save_model(tmp_path / "concat.onnx", nodes, [features("x")], [features("y", 3 * count)])
    assert_same_as_onnx(path, x=np.random.default_rng(0).standard_normal((4, 3), dtype=np.float32))


def test_node_names_that_are_not_valid_ids_become_valid_ones(tmp_path):
    """`/class/Gemm` (a Python keyword as module name), names starting with digits, empty names."""
    weight = helper.make_tensor("w", TensorProto.FLOAT, [3, 3], np.eye(3, dtype=np.float32).ravel())
    nodes = [helper.make_node("Gemm", ["x", "w"], ["h"], name="/class/Gemm", transB=1),
             helper.make_node("Relu", ["h"], ["r"], name="/0/Relu"), helper.make_node("Sigmoid", ["r"], ["7y"])]
    path = save_model(tmp_path / "names.onnx", nodes, [features("x")], [features("7y")], [weight])
    doc = import_onnx(path).document
    assert all(node_id_problem(node_id) is None for node_id in doc.nodes), list(doc.nodes)
    assert_same_as_onnx(path, x=np.ones((2, 3), np.float32))


def test_every_unsupported_op_type_is_listed_once_with_every_refused_node(tmp_path):
    nodes = [helper.make_node("LpNormalization", ["x"], ["s1"], name="lp_a"),
             helper.make_node("LpNormalization", ["s1"], ["s2"]),
             helper.make_node("Hardmax", ["x"], ["c"], name="hm_a"), helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("Add", ["r", "k"], ["y"], name="add_k")]
    constant = helper.make_tensor("k", TensorProto.FLOAT, [2, 3], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    path = save_model(tmp_path / "odd.onnx", nodes, [features("x")],
                      [features("s2"), features("c"), features("y")], [constant])
    with pytest.raises(OnnxImportError) as raised:
        import_onnx(path)
    message = str(raised.value)
    assert "odd.onnx: cannot import this model" in message
    assert "no Layerloom equivalent for 2 ONNX op types: Hardmax (node 'hm_a'), LpNormalization (node 'lp_a')" in \
        message
    assert message.count("LpNormalization") == 1
    assert "node 'add_k' (Add): its stored operand 'k' of shape [2, 3] holds values per sample of a fixed" in message


def test_a_reshape_computed_from_the_input_shape_imports(tmp_path):
    """torch's default exporter computes target shapes at run time: Shape → Gather → Concat → Reshape."""
    batch = helper.make_tensor("zero", TensorProto.INT64, [1], [0])
    rest = helper.make_tensor("rest", TensorProto.INT64, [2], [2, 3])
    nodes = [helper.make_node("Shape", ["x"], ["shape"]),
             helper.make_node("Gather", ["shape", "zero"], ["n"], axis=0),
             helper.make_node("Concat", ["n", "rest"], ["target"], axis=0),
             helper.make_node("Reshape", ["x", "target"], ["y"])]
    path = save_model(tmp_path / "view.onnx", nodes, [features("x", 6)],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2, 3])], [batch, rest])
    doc = import_onnx(path).document
    assert [n.params["shape"] for n in doc.nodes.values() if n.type_id == "Reshape"] == [[2, 3]]
    assert_same_as_onnx(path, x=np.arange(12, dtype=np.float32).reshape(2, 6))


def test_an_op_that_moves_the_batch_is_refused(tmp_path):
    nodes = [helper.make_node("Transpose", ["x"], ["y"], perm=[1, 0])]
    path = save_model(tmp_path / "t.onnx", nodes, [features("x")],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, "batch"])])
    with pytest.raises(OnnxImportError, match=r"perm \[1, 0\] moves the batch axis"):
        import_onnx(path)


def test_corrupt_file_is_refused(tmp_path):
    (tmp_path / "junk.onnx").write_bytes(b"\x08\x01garbage")
    with pytest.raises(OnnxImportError, match="junk.onnx: not a valid ONNX model"):
        import_onnx(tmp_path / "junk.onnx")


def test_external_data_outside_the_models_folder_is_refused(tmp_path):
    weight = helper.make_tensor("w", TensorProto.FLOAT, [2, 2], [0.0] * 4)
    weight.ClearField("float_data")
    weight.data_location = TensorProto.EXTERNAL
    weight.external_data.add(key="location", value="../../secrets.bin")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="/fc1/MatMul")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2])], [weight])
    folder = tmp_path / "models"
    folder.mkdir()
    onnx.save(helper.make_model(graph), str(folder / "evil.onnx"))
    with pytest.raises(OnnxImportError, match="'../../secrets.bin', outside the model's folder — refused"):
        import_onnx(folder / "evil.onnx")


# -- the command -------------------------------------------------------------------------------------

def test_cli_import_writes_graph_and_weights_creating_the_folder(tmp_path, capsys):
    doc = load_document(EXAMPLES / "digits_mlp.json")
    export_onnx(doc, tmp_path / "m.onnx")
    out = tmp_path / "new" / "folder" / "g.json"
    assert main(["import", str(tmp_path / "m.onnx"), "--out", str(out)]) == 0
    graph = load_document(out)
    assert validate(graph).ok and out.with_suffix(".safetensors").is_file()
    assert {"fc1", "fc2"} <= set(graph.nodes)
    assert onnx.load(str(tmp_path / "m.onnx")).graph.input[0].name in graph.nodes
    save_document(graph, tmp_path / "again.json")


def test_cli_exit_codes_without_tracebacks(tmp_path, capsys):
    (tmp_path / "junk.onnx").write_bytes(b"junk")
    assert main(["import", str(tmp_path / "junk.onnx")]) == 2
    assert main(["import", str(tmp_path / "missing.onnx")]) == 2
    path = save_model(tmp_path / "hardmax.onnx", [helper.make_node("Hardmax", ["x"], ["y"])], [features("x")],
                      [features("y")])
    assert main(["import", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("error: ") == 3 and "Traceback" not in err and "Hardmax" in err
    assert not (tmp_path / "hardmax.json").exists()
