"""Exports of graphs with blocks: one Python class per definition that runs without Layerloom, ONNX with
scoped names, and the issue's whole story — a Transformer block stacked ×6, trained, exported, kept."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap

import onnx
import pytest
import torch
from safetensors.torch import load_file, save_file
from train_harness import iris_mlp, run

from engine import block_edit
from engine.block_library import library_blocks, place_block, save_block
from engine.compile import compile_graph
from engine.document import Edge, GraphDocument
from engine.errors import ExportError
from engine.export.onnx_export import export_onnx
from engine.export.python_code import export_python
from engine.export.weights import load_weights
from engine.validate import validate


def wire(d: GraphDocument, *pairs: str) -> None:
    for pair in pairs:
        src, dst = pair.split(" -> ")
        d.add_edge(Edge(*src.split("."), *dst.split(".")))


def definition(name: str, nodes: list[tuple[str, str, dict]], *wires: str) -> GraphDocument:
    d = GraphDocument(name)
    for node_id, type_id, params in nodes:
        d.add_node(type_id, params, node_id=node_id)
    wire(d, *wires)
    return d


def blocks_graph() -> GraphDocument:
    """Nested blocks, repeats, and one block placed at two input sizes:

    input1 (4) → first: Layer → enc: Encoder [block3: Layer → deep: Layer ×3] → pair: Pair ×2 (a) → head (3)
    input1 → side (8) → pair (b); Pair has two ports each way, and its last copy's `d` feeds nothing.
    """
    doc = GraphDocument("blocks")
    doc.add_block("Layer", definition("Layer", [("x", "BlockInput", {}), ("fc1", "Linear", {"out_features": 8}),
                                                ("relu", "ReLU", {}), ("y", "BlockOutput", {})],
                                      "x.out -> fc1.in", "fc1.out -> relu.in", "relu.out -> y.in"))
    encoder = definition("Encoder", [("x", "BlockInput", {}), ("y", "BlockOutput", {})])
    doc.add_block("Encoder", encoder)
    doc.place_block("Layer", inside="Encoder", node_id="block3")
    doc.place_block("Layer", inside="Encoder", node_id="deep", repeat=3)
    wire(encoder, "x.out -> block3.x", "block3.y -> deep.x", "deep.y -> y.in")
    doc.add_block("Pair", definition("Pair", [
        ("a", "BlockInput", {}), ("b", "BlockInput", {}), ("fa", "Linear", {"out_features": 8}), ("add", "Add", {}),
        ("relu", "ReLU", {}), ("c", "BlockOutput", {}), ("d", "BlockOutput", {})],
        "a.out -> fa.in", "fa.out -> add.a", "b.out -> add.b", "add.out -> c.in", "b.out -> relu.in",
        "relu.out -> d.in"))
    doc.add_node("Input", {"shape": [4]}, node_id="input1")
    doc.place_block("Layer", node_id="first")
    doc.place_block("Encoder", node_id="enc")
    doc.add_node("Linear", {"out_features": 8}, node_id="side")
    doc.place_block("Pair", node_id="pair", repeat=2)
    doc.add_node("Linear", {"out_features": 3}, node_id="head")
    doc.add_node("Output", node_id="output1")
    wire(doc, "input1.out -> first.x", "first.y -> enc.x", "enc.y -> pair.a", "input1.out -> side.in",
         "side.out -> pair.b", "pair.c -> head.in", "head.out -> output1.in")
    return doc


# Run in a fresh interpreter that cannot import Layerloom at all: the code must need torch and safetensors only.
STANDALONE = textwrap.dedent("""
    import importlib.abc, importlib.util, sys
    class NoLayerloom(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("engine", "nodes", "app"):
                raise ImportError(f"the exported code imported {name}")
    sys.meta_path.insert(0, NoLayerloom())
    import torch
    from safetensors.torch import load_file
    spec = importlib.util.spec_from_file_location("model", sys.argv[1])
    code = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(code)
    model = code.load()
    io = load_file(sys.argv[2])
    with torch.no_grad():
        torch.testing.assert_close(model(io["x"]), io["y"])
    print("ok")
""")


def test_python_export_writes_a_class_per_definition_that_runs_without_layerloom(tmp_path):
    doc = blocks_graph()
    assert validate(doc).ok, [str(d) for d in validate(doc).errors]
    result = export_python(doc, tmp_path / "model.py")
    code = result.code_path.read_text()
    # `first` takes 4 features, the other Layers 8: one class taking the width; Pair's last copy computes
    # no `d`, so its forward differs: a class of its own
    for line in ("class Layer(nn.Module):", "def __init__(self, *, in_features):",
                 "self.fc1 = nn.Linear(in_features=in_features, out_features=8, bias=True)",
                 "class Encoder(nn.Module):", "class Pair(nn.Module):", "class Pair_2(nn.Module):",
                 "class Blocks(nn.Module):", "class Repeat(nn.ModuleList):", "self.first = Layer(in_features=4)",
                 "self.enc = Encoder()", "self.block3 = Layer(in_features=8)",
                 "self.deep = nn.Sequential(*(Layer(in_features=8) for _ in range(3)))",
                 "self.pair = Repeat([Pair(), Pair_2()])", "return (add, relu)", "return (add, None)"):
        assert line in code, line
    assert "Layer_2" not in code
    assert code.index("class Layer(") < code.index("class Encoder(") < code.index("class Blocks(")

    compiled = compile_graph(doc, with_loss=False)
    state = load_file(str(result.weights_path))
    assert set(state) == set(compiled.module.state_dict())
    assert {"enc.block3.fc1.weight", "enc.deep.2.fc1.weight", "pair.1.fa.weight", "first.fc1.bias"} <= set(state)
    load_weights(compiled.module, result.weights_path)
    x = torch.randn(5, 4)
    with torch.no_grad():
        save_file({"x": x, "y": compiled.module.eval()(x)}, str(tmp_path / "io.safetensors"))
    done = subprocess.run([sys.executable, "-c", STANDALONE, str(result.code_path), str(tmp_path / "io.safetensors")],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0 and done.stdout == "ok\n", done.stdout + done.stderr


def test_a_block_named_like_a_python_builtin_gets_a_class_name_of_its_own(tmp_path):
    doc = GraphDocument("g")
    doc.add_block("super", definition("super", [("x", "BlockInput", {}), ("fc1", "Linear", {"out_features": 2}),
                                                ("y", "BlockOutput", {})], "x.out -> fc1.in", "fc1.out -> y.in"))
    doc.add_node("Input", {"shape": [3]}, node_id="input1")
    doc.place_block("super", node_id="blk")
    doc.add_node("Output", node_id="output1")
    wire(doc, "input1.out -> blk.x", "blk.y -> output1.in")
    result = export_python(doc, tmp_path / "m.py")
    code = result.code_path.read_text()
    assert "class super_2(nn.Module):" in code and "self.blk = super_2()" in code
    spec = importlib.util.spec_from_file_location("m_super", result.code_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    compiled = compile_graph(doc, with_loss=False)
    load_weights(compiled.module, result.weights_path)
    x = torch.randn(2, 3)
    torch.testing.assert_close(module.load()(x), compiled.module.eval()(x))


def test_onnx_export_names_nodes_and_weights_by_the_instance_path(tmp_path):
    doc = blocks_graph()
    result = export_onnx(doc, tmp_path / "m.onnx")
    assert result.passed, result.summary()
    model = onnx.load(str(tmp_path / "m.onnx"))
    nodes = [node.name for node in model.graph.node]
    weights = {init.name for init in model.graph.initializer}
    assert {"/enc/block3/fc1/Gemm", "/enc/deep/deep.2/fc1/Gemm", "/pair/pair.1/fa/Gemm"} <= set(nodes), nodes
    assert {name.split("/")[1] for name in nodes} <= set(doc.nodes), nodes  # each under the node drawn
    assert {"enc.block3.fc1.weight", "enc.block3.fc1.bias", "pair.1.fa.weight"} <= weights, sorted(weights)


TALE = ("the loom sang to the weaver and the weaver sang back; each thread knew the next, and the cloth grew "
        "long in the lamp light. ") * 6


@pytest.mark.slow
def test_a_transformer_block_stacked_six_times_trains_exports_and_stays_in_the_library(tmp_path):
    """The issue's "done when": the block once, ×6 as one node, trained, exported, found again the next day."""
    (tmp_path / "tale.txt").write_text(TALE)
    vocab = len(set(TALE))
    doc = GraphDocument("tiny lm")
    doc.add_node("Input", {"shape": [8], "dtype": "int64"}, node_id="input1")
    doc.add_node("Embedding", {"num_embeddings": vocab, "embedding_dim": 64}, node_id="emb1")
    doc.add_node("PositionalEncoding", {"kind": "learned", "max_len": 8}, node_id="pos1")
    builtin = next(e for e in library_blocks() if e.name == "PreNormTransformer")
    stack = place_block(doc, builtin, (500, 0))
    doc.set_param(stack, "repeat", 6)
    doc.add_node("LayerNorm", node_id="norm1")
    doc.add_node("Linear", {"out_features": vocab}, node_id="fc1")
    doc.add_node("Output", node_id="output1")
    doc.add_node("Target", {"shape": [8], "dtype": "int64"}, node_id="target1")
    doc.add_node("CrossEntropyLoss", node_id="loss1")
    wire(doc, "input1.out -> emb1.in", "emb1.out -> pos1.in", f"pos1.out -> {stack}.x", f"{stack}.y -> norm1.in",
         "norm1.out -> fc1.in", "fc1.out -> output1.in", "fc1.out -> loss1.pred", "target1.out -> loss1.target")
    doc.training = {"dataset": {"name": "text", "path": str(tmp_path / "tale.txt"), "block_size": 8, "stride": 8},
                    "optimizer": {"name": "adamw", "lr": 0.003}, "epochs": 1, "batch_size": 32, "device": "cpu"}
    assert len([n for n in doc.nodes.values() if n.type_id == "Block"]) == 1

    result, events = run(doc, tmp_path / "run")
    assert result.state == "finished" and result.step >= 2, result.message
    trained = load_file(str(tmp_path / "run" / "last.safetensors"))
    assert {f"{stack}.0.attn.qkv.weight", f"{stack}.5.fc2.weight"} <= set(trained)

    exported = export_onnx(doc, tmp_path / "lm.onnx", weights=tmp_path / "run", softmax=True)
    assert exported.passed and exported.output_names == ["output1", "probabilities"], exported.summary()
    names = [node.name for node in onnx.load(str(tmp_path / "lm.onnx")).graph.node]
    assert any(name.startswith(f"/{stack}/{stack}.5/attn/") for name in names), names

    block_edit.make_unique(doc, stack, "MyTransformer")  # the user's own version, kept in their library
    save_block(doc, "MyTransformer", tmp_path / "library", "my six-layer block")
    next_day = GraphDocument("next day")
    mine = next(e for e in library_blocks(tmp_path / "library") if e.name == "MyTransformer")
    placed = place_block(next_day, mine)
    assert mine.description == "my six-layer block" and next_day.nodes[placed].params["block"] == "MyTransformer"


def test_a_trained_grouped_model_exports_with_its_preprocessing_and_softmax_built_in(tmp_path):
    doc = iris_mlp(epochs=1)
    block = block_edit.group(doc, ["fc1", "relu1"], "Hidden")
    result, _ = run(doc, tmp_path / "run")
    assert result.state == "finished", result.message
    exported = export_onnx(doc, tmp_path / "m.onnx", weights=tmp_path / "run", softmax=True)
    assert exported.passed and exported.preprocessing == "built into the graph", exported.summary()
    assert exported.output_names == ["output1", "probabilities"]
    names = [node.name for node in onnx.load(str(tmp_path / "m.onnx")).graph.node]
    assert f"/{block}/fc1/Gemm" in names and any(name.startswith("/input1/") for name in names), names


def test_an_instance_whose_outputs_feed_its_own_inputs_cannot_be_exported_as_one_call(tmp_path):
    """Flat, the graph has no cycle (b's path does not depend on a's); as one module call it would."""
    doc = GraphDocument("loop")
    doc.add_block("Two", definition("Two", [
        ("a", "BlockInput", {}), ("b", "BlockInput", {}), ("fa", "Linear", {"out_features": 4}),
        ("fb", "Linear", {"out_features": 4}), ("c", "BlockOutput", {}), ("d", "BlockOutput", {})],
        "a.out -> fa.in", "fa.out -> c.in", "b.out -> fb.in", "fb.out -> d.in"))
    doc.add_node("Input", {"shape": [4]}, node_id="input1")
    doc.place_block("Two", node_id="two")
    doc.add_node("ReLU", node_id="relu1")
    doc.add_node("Output", node_id="output1")
    wire(doc, "input1.out -> two.a", "two.c -> relu1.in", "relu1.out -> two.b", "two.d -> output1.in")
    assert validate(doc).ok
    with pytest.raises(ExportError, match="cannot export the graph: an instance in it feeds its own inputs"):
        export_python(doc, tmp_path / "m.py")
    with pytest.raises(ExportError, match="cannot export the graph: an instance in it feeds its own inputs"):
        export_onnx(doc, tmp_path / "m.onnx")
    assert not (tmp_path / "m.py").exists() and not (tmp_path / "m.onnx").exists()
