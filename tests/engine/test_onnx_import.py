"""ONNX import: a Layerloom export comes back as the same network with the same weights."""

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from safetensors.numpy import save_file

from engine.cli import main
from engine.compile import compile_graph
from engine.document import Edge, GraphDocument
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
    with torch.no_grad():
        torch.testing.assert_close(again.module.eval()(*x), compiled.module.eval()(*x), atol=1e-5, rtol=1e-4)
    return imported


@pytest.mark.parametrize("example", ["digits_mlp", "digits_cnn"])
def test_exported_examples_import_back_with_their_node_ids(example, tmp_path):
    doc = load_document(EXAMPLES / f"{example}.json")
    imported = round_trip(doc, tmp_path)
    layer_ids = {n for n, node in doc.nodes.items() if node.type_id in ("Linear", "Conv2d")}
    assert layer_ids <= set(imported.document.nodes)


def test_batchnorm_statistics_and_activation_params_survive(tmp_path):
    state = {"bn1.running_mean": torch.linspace(-1, 1, 5), "bn1.running_var": torch.linspace(0.5, 2, 5)}
    imported = round_trip(mlp_with_batchnorm(), tmp_path, state)
    nodes = imported.document.nodes
    assert nodes["bn1"].type_id == "BatchNorm1d"
    assert nodes["act1"].params["negative_slope"] == pytest.approx(0.2)
    np.testing.assert_allclose(imported.weights["bn1.running_var"], state["bn1.running_var"].numpy())


def test_unsupported_op_is_named(tmp_path):
    doc = load_document(EXAMPLES / "sequence_lstm.json")
    export_onnx(doc, tmp_path / "lstm.onnx")
    with pytest.raises(OnnxImportError, match=r"lstm.onnx: node '/\w+/[\w/]*' \(\w+\) has no Layerloom equivalent"):
        import_onnx(tmp_path / "lstm.onnx")


def test_corrupt_file_is_refused(tmp_path):
    (tmp_path / "junk.onnx").write_bytes(b"\x08\x01garbage")
    with pytest.raises(OnnxImportError, match="junk.onnx: not a valid ONNX model"):
        import_onnx(tmp_path / "junk.onnx")


def test_cli_import_writes_graph_and_weights(tmp_path, capsys):
    doc = load_document(EXAMPLES / "digits_mlp.json")
    export_onnx(doc, tmp_path / "m.onnx")
    assert main(["import", str(tmp_path / "m.onnx"), "--out", str(tmp_path / "g.json")]) == 0
    graph = load_document(tmp_path / "g.json")
    assert validate(graph).ok and (tmp_path / "g.safetensors").is_file()
    assert {"fc1", "fc2"} <= set(graph.nodes)
    assert onnx.load(str(tmp_path / "m.onnx")).graph.input[0].name in graph.nodes
    save_document(graph, tmp_path / "again.json")


def test_external_data_outside_the_models_folder_is_refused(tmp_path):
    from onnx import TensorProto, helper

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
