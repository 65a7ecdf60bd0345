"""ONNX import groups repeated structures into blocks: a ResNet-like stack opens as a few parametrised
residual blocks, a transformer-like encoder as one layer ×4 — and both still compute what the original did."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from grouping_models import SmallEncoder, SmallResNet, residual_chain
from safetensors.numpy import save_file
from test_onnx_coverage import export, run_imported

from engine.block_expand import expand
from engine.compile import compile_graph
from engine.document import BLOCK
from engine.export.onnx_export import export_onnx
from engine.export.python_code import export_python
from engine.onnx_import import import_onnx
from engine.onnx_import.grouping import MIN_NODES, group_repeats
from engine.validate import validate


def imported(network, shape, exporter, tmp_path):
    torch.manual_seed(0)
    module = network().eval()
    export(module, torch.randn(2, *shape), tmp_path / "model.onnx", exporter)
    return module, import_onnx(tmp_path / "model.onnx")


def same_outputs(module, result, shape) -> None:
    for batch in (1, 3):
        x = torch.randn(batch, *shape)
        with torch.no_grad():
            expected = module(x).numpy()
        np.testing.assert_allclose(run_imported(result, {"x": x.numpy()})["y"], expected, rtol=1e-4, atol=1e-5)


def instances(doc) -> dict[str, dict]:
    return {node_id: node.params for node_id, node in doc.nodes.items() if node.type_id == BLOCK}


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
def test_a_resnet_opens_as_parametrised_residual_blocks(exporter, tmp_path):
    module, result = imported(SmallResNet, (3, 8, 8), exporter, tmp_path)
    doc = result.document
    assert len(expand(doc).flat.nodes) >= MIN_NODES and len(doc.nodes) <= 14
    # one definition for the plain block, one for the downsampling one, whatever their widths
    assert len(doc.blocks) == 2
    plain, down = (name for name in doc.blocks)
    assert doc.block(plain).exposed == {"out_channels": ["conv1.out_channels", "conv2.out_channels"]}
    assert sorted(p.get("out_channels", 8) for p in instances(doc).values() if p["block"] == plain) == [8, 16, 32]
    assert [p["repeat"] for p in instances(doc).values() if p["block"] == plain] == [2, 1, 1]  # stage 1: ×2
    assert len([p for p in instances(doc).values() if p["block"] == down]) == 2
    assert validate(doc).ok, [str(d) for d in validate(doc).errors]
    # every imported tensor has its place under the instances' paths (the export folded BatchNorm into the convs)
    assert set(compile_graph(doc, with_loss=False).module.state_dict()) == set(result.weights)
    same_outputs(module, result, (3, 8, 8))
    save_file(result.weights, str(tmp_path / "w.safetensors"))
    assert export_onnx(doc, tmp_path / "again.onnx", weights=tmp_path / "w.safetensors").passed
    python = export_python(doc, tmp_path / "again.py", weights=tmp_path / "w.safetensors")
    code = python.code_path.read_text()
    assert code.count("(nn.Module):") == 3 and "(in_channels=16, out_channels=32)" in code  # a class per block
    spec = importlib.util.spec_from_file_location(f"grouped_{exporter}", python.code_path)
    written = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(written)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(written.load(python.weights_path)(x), module(x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
def test_a_transformer_encoder_opens_as_one_layer_repeated(exporter, tmp_path):
    module, result = imported(SmallEncoder, (6, 8), exporter, tmp_path)
    doc = result.document
    [(layer, params)] = instances(doc).items()
    assert params["repeat"] == 4 and len(doc.nodes) == 6
    definition = doc.block(params["block"])
    assert [n.type_id for n in definition.nodes.values()].count("MultiheadAttention") == 1
    assert f"{layer}.3.{next(n for n, s in definition.nodes.items() if s.type_id == 'Linear')}.weight" in \
        result.weights
    same_outputs(module, result, (6, 8))


def test_a_small_graph_stays_flat(tmp_path):
    module, result = imported(lambda: SmallEncoder(layers=2), (6, 8), "torchscript", tmp_path)
    assert not result.document.blocks and len(result.document.nodes) < MIN_NODES
    same_outputs(module, result, (6, 8))


def test_a_900_layer_graph_groups_into_one_block_repeated_or_one_definition_with_widths():
    doc = residual_chain(180)
    weights = {f"u{k}_fc1.weight": np.full((32, 16), k, np.float32) for k in range(180)}
    renamed = group_repeats(doc, weights)
    [(chain, params)] = instances(doc).items()
    assert params["repeat"] == 180 and len(doc.nodes) == 3 and validate(doc).ok
    assert renamed[f"{chain}.179.fc1.weight"][0, 0] == 179 and len(renamed) == 180

    doc = residual_chain(180, widths=(32, 40, 48))  # the widths differ: one definition, 180 instances
    group_repeats(doc, {})
    [definition] = doc.blocks.values()
    assert definition.exposed == {"out_features": ["fc1.out_features"]}
    assert len(instances(doc)) == 180 and validate(doc).ok
    assert [p.get("out_features", 32) for p in instances(doc).values()][:4] == [32, 40, 48, 32]
