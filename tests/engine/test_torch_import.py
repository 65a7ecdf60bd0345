"""PyTorch models into graphs: an nn.Module (a factory's) or a saved ExportedProgram (.pt2) becomes a
graph whose nodes follow the module paths, holding the module's weights, computing what it computes."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import onnxruntime as ort
import pytest
import torch
from safetensors.numpy import save_file
from torch import nn
from torch_models import GPT, BasicBlock, ConvNeXt, MobileNetV3, ResNet, ViT

from engine.block_expand import expand
from engine.cli import main
from engine.compile import compile_graph
from engine.document import Edge
from engine.export.onnx_export import export_onnx
from engine.export.python_code import export_python
from engine.fileformat import load_document
from engine.torch_import import PytorchImportError, PytorchUnreadable, import_module, import_pt2
from engine.train.loop import train
from engine.weights_map import graph_shapes, match_state


def outputs_equal(imported, module, shape, batch):
    torch.manual_seed(batch)
    x = torch.randn(batch, *shape)
    compiled = compile_graph(imported.document, with_loss=False)
    compiled.module.load_state_dict({k: torch.as_tensor(v) for k, v in imported.weights.items()}, strict=False)
    with torch.no_grad():
        return torch.allclose(compiled.module.eval()(x), module.eval()(x), atol=1e-4)


FAMILIES = {  # what each family's import must show, in the graph with its blocks expanded: node id → its type
    ResNet: {"layer1.0.conv1": "Conv2d", "layer1.1.relu_1": "ReLU",  # the block's ReLU module, called a second time
             "layer2_0_downsample_0": "Conv2d", "fc": "Linear"},
    MobileNetV3: {"blocks_0.depthwise_0": "Conv2d", "blocks_1.se_mul": "Multiply",  # squeeze-and-excitation's gate
                  "stem_2": "Hardswish"},
    ViT: {"class_token": "Parameter", "cat": "Concat", "pos_embedding": "PositionalEncoding",
          "layers_0_self_attention": "MultiheadAttention", "select": "Reshape"},
    ConvNeXt: {"stages.0.dwconv": "Conv2d", "stages.1.gamma": "Parameter", "stages.0.mul": "Multiply",
               "stages.0.pwconv1": "Linear"},
}


@pytest.mark.parametrize("model", FAMILIES, ids=lambda model: model.__name__)
def test_a_module_becomes_a_graph_named_after_its_modules_computing_the_same(model):
    torch.manual_seed(0)
    module = model().eval()
    imported = import_module(module, [(3, 16, 16)], model.__name__)
    nodes = expand(imported.document).flat.nodes
    assert {node_id: nodes[node_id].type_id for node_id in FAMILIES[model]} == FAMILIES[model]
    head = "classifier.3" if model is MobileNetV3 else "head" if model in (ViT, ConvNeXt) else "fc"
    assert torch.equal(torch.as_tensor(imported.weights[head.replace(".", "_") + ".weight"]),
                       module.state_dict()[head + ".weight"])
    for batch in (1, 5):
        assert outputs_equal(imported, module, (3, 16, 16), batch)


def test_an_imported_resnet_trains_from_its_weights(tmp_path):
    imported = import_module(ResNet(in_channels=1), [(1, 8, 8)], "resnet")
    doc = imported.document
    doc.add_node("Target", {"shape": [], "dtype": "int64"}, node_id="target")
    doc.add_node("CrossEntropyLoss", {}, node_id="loss1")
    doc.add_edge(Edge("fc", "out", "loss1", "pred"))
    doc.add_edge(Edge("target", "out", "loss1", "target"))
    from engine.train.checkpoint_files import save_arrays

    save_arrays(imported.weights, tmp_path / "resnet.safetensors")
    for key, value in {"epochs": 2, "batch_size": 64, "init_weights": "resnet.safetensors",
                       "dataset": {"name": "digits", "val_split": 0.2}}.items():
        doc.set_training(key, value)
    result = train(doc, tmp_path / "run", base_dir=tmp_path)
    assert result.state == "finished", result.message
    losses = [json.loads(line) for line in (tmp_path / "run" / "events.jsonl").read_text().splitlines()]
    epochs = [event["train_loss"] for event in losses if event.get("type") == "epoch"]
    assert epochs[-1] < epochs[0]


def test_a_saved_exported_program_imports_and_a_damaged_one_is_unreadable(tmp_path):
    module = MobileNetV3().eval()
    program = torch.export.export(module, (torch.randn(2, 3, 16, 16),),
                                  dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=64)},))
    torch.export.save(program, tmp_path / "mobilenet.pt2")
    imported = import_pt2(tmp_path / "mobilenet.pt2")
    assert imported.document.name == "mobilenet" and outputs_equal(imported, module, (3, 16, 16), 3)
    (tmp_path / "broken.pt2").write_bytes((tmp_path / "mobilenet.pt2").read_bytes()[:2000])
    with pytest.raises(PytorchUnreadable, match="broken.pt2"):
        import_pt2(tmp_path / "broken.pt2")


def test_what_has_no_node_is_listed_by_module_path():
    class Same(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding="same")

        def forward(self, x):
            return self.conv(x)

    with pytest.raises(PytorchImportError, match=r"conv \(Conv2d\): padding='same'"):
        import_module(Same(), [(3, 8, 8)], "same")


def test_cli_imports_a_factory_and_says_what_is_wrong(tmp_path, capsys):
    out = tmp_path / "linear.json"
    assert main(["import", "--factory", "torch.nn:Linear", "--kwargs", '{"in_features": 4, "out_features": 2}',
                 "--input-shape", "4", "--out", str(out)]) == 0
    doc = load_document(out)
    assert [node.type_id for node in doc.nodes.values()] == ["Input", "Linear", "Output"]
    assert doc.training["init_weights"] == "linear.safetensors" and (tmp_path / "linear.safetensors").is_file()
    tokens = tmp_path / "tokens.json"
    assert main(["import", "--factory", "torch.nn:Embedding", "--kwargs", '{"num_embeddings": 10, "embedding_dim": 4}',
                 "--input-shape", "5:int64", "--out", str(tokens)]) == 0
    nodes = load_document(tokens).nodes
    assert nodes["input"].params == {"shape": [5], "dtype": "int64", "source": "data"}
    assert nodes["embedding"].type_id == "Embedding"  # the model is one layer: named after its class
    assert main(["import", "--factory", "torch.nn:Embedding", "--input-shape", "5:int8"]) == 2
    assert "8:int64 for token ids" in capsys.readouterr().err
    assert main(["import", "--factory", "no_such_package:model"]) == 2
    assert "cannot import no_such_package" in capsys.readouterr().err
    assert main(["import", "--factory", "torch.nn:Linear", "--kwargs", "{oops"]) == 2
    with pytest.raises(SystemExit):  # neither a file nor --factory: argparse's usage error (exit 2)
        main(["import"])


def test_a_gpt_keeps_its_attention_whole_table_and_tied_head_and_re_exports(tmp_path):
    torch.manual_seed(0)
    module = GPT().eval()
    imported = import_module(module, [(8,)], "gpt", ["int64"])
    nodes = imported.document.nodes
    assert nodes["blocks_0_attn"].type_id == "MultiheadAttention" and nodes["blocks_0_attn"].params["causal"]
    assert nodes["pos"].params == {"kind": "learned", "max_len": 64}  # every row, though traced at T = 8
    assert nodes["head"].params["tie"] == "tok" and "head.weight" not in imported.weights
    compiled = compile_graph(imported.document, with_loss=False)
    assert sum(p.numel() for p in compiled.module.parameters()) == sum(p.numel() for p in module.parameters())
    save_file(imported.weights, str(tmp_path / "w.safetensors"))
    assert export_onnx(imported.document, tmp_path / "gpt.onnx", weights=tmp_path / "w.safetensors").passed
    ids = torch.randint(0, 32, (3, 24))  # longer than the import's sequence
    with torch.no_grad():
        expected = module(ids).numpy()
    session = ort.InferenceSession(str(tmp_path / "gpt.onnx"))
    (got,) = session.run(None, {session.get_inputs()[0].name: ids.numpy()})
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-4)
    python = export_python(imported.document, tmp_path / "gpt.py", weights=tmp_path / "w.safetensors")
    spec = importlib.util.spec_from_file_location("gpt_export", python.code_path)
    code = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(code)
    with torch.no_grad():
        np.testing.assert_allclose(code.load(python.weights_path)(ids).numpy(), expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("model, block, instances", [
    (ResNet, "BasicBlock", {"layer1": 2, "layer2_1": 1}),  # layer2.0 downsamples: another structure, left flat
    (GPT, "GPTBlock", {"blocks": 4}),
])
def test_repeated_modules_become_one_block_named_after_their_class_and_keep_the_modules_names(
        model, block, instances, tmp_path):
    torch.manual_seed(0)
    module = (GPT(layers=4) if model is GPT else model()).eval()  # 30 layers or more are grouped
    shape, dtypes = ((8,), ["int64"]) if model is GPT else ((3, 16, 16), None)
    imported = import_module(module, [shape], model.__name__, dtypes)
    doc = imported.document
    assert list(doc.blocks) == [block]
    assert {n: node.params["repeat"] for n, node in doc.nodes.items() if node.type_id == "Block"} == instances
    match = match_state(module.state_dict(), graph_shapes(doc))  # a state_dict of the module maps by name
    assert not match.missing and not match.wrong_shape
    assert match.unused == (["head.weight"] if model is GPT else [])  # GPT's head: the token table, tied
    save_file(imported.weights, str(tmp_path / "w.safetensors"))
    python = export_python(doc, tmp_path / "m.py", weights=tmp_path / "w.safetensors")
    assert f"class {block}(" in python.code_path.read_text()  # the export reads like the module: one class per block
    spec = importlib.util.spec_from_file_location(f"grouped_{block}", python.code_path)
    code = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(code)
    x = torch.randint(0, 32, (2, 8)) if model is GPT else torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        np.testing.assert_allclose(code.load(python.weights_path)(x).numpy(), module(x).numpy(), atol=1e-4, rtol=1e-4)


def test_functional_ops_without_a_node_of_their_own_become_generic_op_nodes(tmp_path):
    class Mixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(6, 6)

        def forward(self, x):
            return torch.cumsum(torch.erf(self.fc(x)), dim=1) * 0.5 + torch.floor(x)

    module = Mixed().eval()
    imported = import_module(module, [(6,)], "mixed")
    ops = {n: node.params for n, node in imported.document.nodes.items() if node.type_id == "Op"}
    assert ops == {"erf": {"op": "erf", "args": "[]"}, "cumsum": {"op": "cumsum", "args": "[1]"},
                   "mul": {"op": "mul", "args": "[0.5]"}, "floor": {"op": "floor", "args": "[]"}}
    save_file(imported.weights, str(tmp_path / "w.safetensors"))
    assert export_onnx(imported.document, tmp_path / "mixed.onnx", weights=tmp_path / "w.safetensors").passed


def test_a_module_class_with_two_structures_names_the_second_after_what_it_has_more():
    """torchvision's BasicBlock with and without its `downsample`: two definitions, the second named for it."""
    class ThreeStages(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 8, 3, 1, 1)
            self.layer1 = nn.Sequential(BasicBlock(8, 8, 1), BasicBlock(8, 8, 1))
            self.layer2 = nn.Sequential(BasicBlock(8, 16, 2), BasicBlock(16, 16, 1))
            self.layer3 = nn.Sequential(BasicBlock(16, 32, 2), BasicBlock(32, 32, 1))

        def forward(self, x):
            return self.layer3(self.layer2(self.layer1(self.conv1(x))))

    doc = import_module(ThreeStages().eval(), [(3, 16, 16)], "three_stages").document
    assert set(doc.blocks) == {"BasicBlock", "BasicBlockDownsample"}
    assert "downsample_0" in doc.block("BasicBlockDownsample").nodes
    assert sorted(n for n, node in doc.nodes.items() if node.params.get("block") == "BasicBlockDownsample") == [
        "layer2_0", "layer3_0"]
