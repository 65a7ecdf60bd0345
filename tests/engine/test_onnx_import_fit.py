"""ONNX import never writes a graph its weights do not fit, nor an Input no graph can hold, and its time
grows linearly with the model (issue 26, class 8)."""

import time

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from engine.cli import main
from engine.document import Edge, GraphDocument
from engine.export.onnx_export import export_onnx
from engine.onnx_import import OnnxImportError, import_onnx
from engine.onnx_import import builder as builder_module
from engine.onnx_import.weight_shapes import KNOWN_TYPES, expected_weights
from engine.validate import validate
from nodes import get_spec


def save(path, nodes, inputs, outputs, initializers=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)]), str(path))
    return path


def gemm_model(path, declared, weight_shape=(3, 4), **attrs):
    """x (N, declared) → /fc1/Gemm with a stored weight of `weight_shape` → y (N, 3)."""
    weight = helper.make_tensor("w", TensorProto.FLOAT, list(weight_shape), np.zeros(np.prod(weight_shape)))
    nodes = [helper.make_node("Gemm", ["x", "w"], ["y"], name="/fc1/Gemm", **({"transB": 1} | attrs))]
    return save(path, nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", declared])],
                [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])], [weight])


# -- weights that do not fit -------------------------------------------------------------------------

def test_a_weight_of_another_width_than_the_declared_input_is_refused(tmp_path):
    """x (N, 8) into a Gemm whose weight is 3×4: ONNX's shape inference lets it through, the graph validated,
    and export failed loading the weights."""
    with pytest.raises(OnnxImportError) as raised:
        import_onnx(gemm_model(tmp_path / "wide.onnx", 8))
    message = str(raised.value)
    assert "node '/fc1/Gemm' (Gemm)" in message and "'fc1'" in message
    assert "fc1.weight has shape (3, 4)" in message and "needs (3, 8)" in message and "(N, 8)" in message


def test_the_command_refuses_it_with_exit_1_and_writes_nothing(tmp_path, capsys):
    path = gemm_model(tmp_path / "wide.onnx", 8)
    assert main(["import", str(path), "--out", str(tmp_path / "g.json")]) == 1
    err = capsys.readouterr().err
    assert "fc1.weight has shape (3, 4)" in err and "needs (3, 8)" in err and "Traceback" not in err
    assert not (tmp_path / "g.json").exists() and not (tmp_path / "g.safetensors").exists()


def test_a_weight_that_fits_still_imports(tmp_path):
    imported = import_onnx(gemm_model(tmp_path / "fits.onnx", 4))
    assert imported.weights["fc1.weight"].shape == (3, 4) and validate(imported.document).ok


def test_a_mismatched_bias_and_a_conv_of_other_channels_are_refused(tmp_path):
    """A Conv whose weight reads 2 channels of a 3-channel input; a LayerNorm whose scale is of another width."""
    conv_weight = helper.make_tensor("cw", TensorProto.FLOAT, [4, 2, 3, 3], np.zeros(72))
    scale = helper.make_tensor("s", TensorProto.FLOAT, [5], np.ones(5))
    nodes = [helper.make_node("Conv", ["x", "cw"], ["c"], name="/conv1/Conv"),
             helper.make_node("LayerNormalization", ["c", "s"], ["y"], name="/ln/LayerNormalization", axis=-1)]
    path = save(tmp_path / "conv.onnx", nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 6, 6])],
                [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4, 4, 4])], [conv_weight, scale])
    with pytest.raises(OnnxImportError) as raised:
        import_onnx(path)
    message = str(raised.value)
    assert "node '/conv1/Conv' (Conv)" in message and "conv1.weight has shape (4, 2, 3, 3)" in message
    assert "needs (4, 3, 3, 3)" in message


def test_the_last_check_catches_weights_a_mapping_let_through(tmp_path, monkeypatch):
    """Every mapping checks its weights; were one not to, the import still refuses (an importer bug)."""
    monkeypatch.setattr(builder_module, "mismatches", lambda *args, **kwargs: [])
    with pytest.raises(OnnxImportError, match="do not fit the graph") as raised:
        import_onnx(gemm_model(tmp_path / "wide.onnx", 8))
    assert "node 'fc1' (Linear): fc1.weight has shape (3, 4), but a Linear reading (N, 8) needs (3, 8)" in str(
        raised.value)


def test_the_last_check_refuses_a_graph_that_does_not_validate(tmp_path, monkeypatch):
    monkeypatch.setattr(builder_module, "_size_problem", lambda dims: None)
    nodes = [helper.make_node("Relu", ["x"], ["y"])]
    path = save(tmp_path / "empty.onnx", nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 0])],
                [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 0])])
    with pytest.raises(OnnxImportError, match="the imported graph does not validate"):
        import_onnx(path)


# -- impossible Input sizes --------------------------------------------------------------------------

@pytest.mark.parametrize("size", [10**9, 2**62, 0, -3])
def test_an_impossible_declared_size_is_refused_naming_the_input(size, tmp_path):
    nodes = [helper.make_node("Relu", ["features"], ["y"], name="/act/Relu")]
    path = save(tmp_path / "huge.onnx", nodes, [helper.make_tensor_value_info("features", TensorProto.FLOAT,
                                                                              ["N", 2, size])],
                [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2, size])])
    with pytest.raises(OnnxImportError) as raised:
        import_onnx(path)
    message = str(raised.value)
    assert f"input 'features' has shape (N, 2, {size})" in message
    assert "does not validate" not in message and "Traceback" not in message


@pytest.mark.parametrize("size", [10**9, 2**62])
def test_an_impossible_input_before_a_weight_names_the_input(size, tmp_path, capsys):
    path = gemm_model(tmp_path / "huge.onnx", size)
    assert main(["import", str(path), "--out", str(tmp_path / "g.json")]) == 1
    err = capsys.readouterr().err
    assert f"input 'x' has shape (N, {size})" in err and "values per sample" in err
    assert not (tmp_path / "g.json").exists()


# -- the shapes, against torch ------------------------------------------------------------------------

CASES = [
    ("Linear", {"out_features": 5}, {"in": (None, 7)}),
    ("Linear", {"out_features": 2, "bias": False}, {"in": (None, 3, 4)}),
    ("Conv1d", {"out_channels": 6, "kernel_size": 3, "groups": 2}, {"in": (None, 4, 9)}),
    ("Conv2d", {"out_channels": 4, "kernel_shape": [3, 1], "bias": False}, {"in": (None, 3, 8, 8)}),
    ("Conv3d", {"out_channels": 2, "kernel_size": 2}, {"in": (None, 2, 4, 4, 4)}),
    ("ConvTranspose2d", {"out_channels": 3, "kernel_size": 4}, {"in": (None, 5, 4, 4)}),
    ("ConvTranspose2d", {"out_channels": 3, "bias": False}, {"in": (None, 2, 4, 4)}),
    ("BatchNorm1d", {}, {"in": (None, 6)}),
    ("BatchNorm2d", {}, {"in": (None, 3, 4, 4)}),
    ("BatchNorm3d", {}, {"in": (None, 2, 3, 3, 3)}),
    ("LayerNorm", {}, {"in": (None, 5, 7)}),
    ("GroupNorm", {"num_groups": 2}, {"in": (None, 4, 5)}),
    ("RMSNorm", {}, {"in": (None, 5, 6)}),
    ("Embedding", {"num_embeddings": 11, "embedding_dim": 4}, {"in": (None, 7)}),
    ("PositionalEncoding", {"kind": "learned", "max_len": 9}, {"in": (None, 6, 8)}),
    ("PositionalEncoding", {"kind": "sinusoidal", "max_len": 9}, {"in": (None, 6, 8)}),
    ("PReLU", {"num_parameters": 4}, {"in": (None, 4, 3)}),
    ("Parameter", {"shape": [1, 6]}, {"like": (None, 5, 6)}),
    ("Constant", {"shape": [3, 1, 1]}, {"like": (None, 3, 4, 4)}),
    ("MultiheadAttention", {"num_heads": 2}, {"in": (None, 5, 8)}),
    ("MultiheadAttention", {"num_heads": 4, "bias": False}, {"in": (None, 5, 8)}),
    ("RNN", {"hidden_size": 3}, {"in": (None, 5, 4)}),
    ("GRU", {"hidden_size": 3, "num_layers": 2, "bidirectional": True}, {"in": (None, 5, 4)}),
    ("LSTM", {"hidden_size": 6, "num_layers": 3, "bias": False}, {"in": (None, 5, 2)}),
    ("LSTM", {"hidden_size": 2, "bidirectional": True}, {"in": (None, 5, 7)}),
]


@pytest.mark.parametrize(("type_id", "params", "in_shapes"), CASES, ids=lambda v: v if isinstance(v, str) else "")
def test_expected_shapes_are_what_the_built_module_holds(type_id, params, in_shapes):
    spec = get_spec(type_id)
    resolved = spec.resolve(params)
    module = spec.build(resolved, in_shapes)
    assert expected_weights(type_id, resolved, in_shapes) == {k: tuple(v.shape) for k, v in module.state_dict().items()}


def test_every_type_with_shapes_is_checked_against_torch():
    assert {case[0] for case in CASES} == KNOWN_TYPES


# -- linear time --------------------------------------------------------------------------------------

def relu_chain(path, count):
    """Every other node named as torch names them (its id `act<i>`), the rest unnamed (`relu<k>`, counted out)."""
    names = ["x"] + [f"t{i}" for i in range(1, count)] + ["y"]
    nodes = [helper.make_node("Relu", [names[i]], [names[i + 1]], name=f"/act{i}/Relu" if i % 2 else None)
             for i in range(count)]
    return save(path, nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])])


def fastest_import(path, runs: int) -> float:
    """The least CPU time of `runs` imports: CPU, not wall-clock time, so that other work on the machine
    does not count."""
    times = []
    for _ in range(runs):
        start = time.process_time()
        import_onnx(path)
        times.append(time.process_time() - start)
    return min(times)


def test_import_time_grows_linearly_with_the_chain(tmp_path):
    """Ten times the nodes in well under twenty times the time: a rewrite rule whose matcher scanned the whole
    graph at every node, and ids counted from 1 for every unnamed node, made a 10,000-node chain take minutes."""
    small, large = relu_chain(tmp_path / "small.onnx", 300), relu_chain(tmp_path / "large.onnx", 3000)
    import_onnx(small)  # first-use costs (onnxscript's modules) are not the model's
    ratio = fastest_import(large, runs=2) / fastest_import(small, runs=3)
    assert ratio < 20, f"3,000 nodes took {ratio:.1f}× as long as 300"
    ids = import_onnx(small).document.nodes
    assert {"act1", "relu1", "relu150", "act299"} <= set(ids) and "relu151" not in ids


# -- the Slice pairs the optimizer no longer fuses ------------------------------------------------------

@pytest.mark.parametrize("index", [3, 4])
def test_a_split_exported_as_two_slices_imports_back_as_a_split(index, tmp_path):
    doc = GraphDocument("split")
    for type_id, params, node_id in [("Input", {"shape": [8]}, "x"), ("Split", {"dim": 1, "index": index}, "split1"),
                                     ("ReLU", {}, "act"), ("Output", {}, "ya"), ("Output", {}, "yb")]:
        doc.add_node(type_id, params, node_id=node_id)
    for edge in [("x", "out", "split1", "in"), ("split1", "a", "ya", "in"), ("split1", "b", "act", "in"),
                 ("act", "out", "yb", "in")]:
        doc.add_edge(Edge(*edge))
    assert export_onnx(doc, tmp_path / "split.onnx").passed
    nodes = import_onnx(tmp_path / "split.onnx").document.nodes
    assert (nodes["split1"].type_id, nodes["split1"].params) == ("Split", {"dim": 1, "index": index})
    assert [n.type_id for n in nodes.values()].count("Slice") == 0
