"""Blocks with parameters: a definition exposes inner params, each instance sets its own values, and
expansion, validation, compile, ONNX and Python export all build what the instance asked for."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from engine import block_edit
from engine.block_expand import expand
from engine.block_library import library_blocks, place_block, save_block
from engine.blocks import exposed_param, instance_values
from engine.compile import compile_graph
from engine.document import Edge, GraphDocument
from engine.errors import DocumentError
from engine.export.onnx_export import export_onnx
from engine.export.python_code import export_python
from engine.export.weights import load_weights
from engine.fileformat import dumps, from_dict, load_document, loads, to_dict
from engine.validate import validate

ROOT = Path(__file__).resolve().parents[2]
RESNET = ROOT / "resources" / "examples" / "digits_resnet.json"


def wire(d: GraphDocument, *pairs: str) -> None:
    for pair in pairs:
        src, dst = pair.split(" -> ")
        d.add_edge(Edge(*src.split("."), *dst.split(".")))


def widths() -> GraphDocument:
    """input1 (4) → a: Layer → b: Layer (width 16) → output1; Layer is fc1 (8) → relu, fc1's width exposed."""
    doc = GraphDocument("widths")
    layer = GraphDocument("Layer")
    layer.add_node("BlockInput", node_id="x")
    layer.add_node("Linear", {"out_features": 8}, node_id="fc1")
    layer.add_node("ReLU", node_id="relu")
    layer.add_node("BlockOutput", node_id="y")
    wire(layer, "x.out -> fc1.in", "fc1.out -> relu.in", "relu.out -> y.in")
    doc.add_block("Layer", layer)
    block_edit.expose(doc, "Layer", "fc1", "out_features", "width")
    doc.add_node("Input", {"shape": [4]}, node_id="input1")
    doc.place_block("Layer", node_id="a")
    doc.place_block("Layer", node_id="b")
    doc.set_param("b", "width", 16)
    doc.add_node("Output", node_id="output1")
    wire(doc, "input1.out -> a.x", "a.y -> b.x", "b.y -> output1.in")
    return doc


def test_an_instance_sets_its_exposed_params_and_takes_the_definition_default_for_the_rest():
    doc = widths()
    flat = expand(doc).flat
    assert flat.nodes["a.fc1"].params["out_features"] == 8 and flat.nodes["b.fc1"].params["out_features"] == 16
    assert doc.block("Layer").nodes["fc1"].params["out_features"] == 8  # the definition is untouched
    report = validate(doc)
    assert report.ok, [str(d) for d in report.errors]
    assert report.shapes[("a", "y")] == (None, 8) and report.shapes[("b", "y")] == (None, 16)
    doc.block("Layer").set_param("fc1", "out_features", 12)  # the default follows the definition
    assert validate(doc).shapes[("a", "y")] == (None, 12)
    doc.set_param("b", "width", None)  # unset (what undo of a first edit leaves): the default again
    assert instance_values(doc.blocks, doc.nodes["b"]) == {"width": 12}
    param = exposed_param(doc.blocks, doc.block("Layer"), "width")
    assert (param.name, param.kind, param.default, param.min) == ("width", "int", 12, 1)


def test_one_name_drives_several_inner_params_even_through_an_inner_block():
    doc = load_document(RESNET)
    assert [n.type_id for n in doc.nodes.values()].count("Block") == 2 and len(doc.blocks) == 3
    flat = expand(doc).flat
    for k, channels, stride in (("block1", 32, 1), ("block2", 64, 2)):
        assert flat.nodes[f"{k}.conv1"].params["out_channels"] == flat.nodes[f"{k}.conv2"].params["out_channels"] \
            == channels
        assert flat.nodes[f"{k}.conv1"].params["stride"] == stride
    # block2 chooses the Downsample shortcut and hands it its width and stride; block1 keeps the identity
    assert (flat.nodes["block2.shortcut.conv"].params["out_channels"], flat.nodes["block2.shortcut.conv"].params[
        "stride"]) == (64, 2)
    assert not any(node_id.startswith("block1.shortcut.conv") for node_id in flat.nodes)
    report = validate(doc)
    assert report.ok, [str(d) for d in report.errors]
    assert report.shapes[("block2", "y")] == (None, 64, 4, 4)


def test_a_bad_value_is_reported_on_the_instance_naming_the_inner_node():
    doc = load_document(RESNET)
    doc.set_param("block2", "channels", 0)
    errors = validate(doc).errors
    found = [d for d in errors if d.node == "block2" and d.path == "block2/conv1"]
    assert found and found[0].param == "out_channels" and "block2/conv1.out_channels" in str(found[0]), \
        [str(d) for d in errors]
    doc.set_param("block2", "channels", 64)
    doc.set_param("block2", "shortcut", "Nowhere")
    assert any("there is no block definition 'Nowhere'" in str(d) for d in validate(doc).errors)


def test_a_stale_exposure_is_an_error_and_an_unknown_value_a_warning_on_the_instance():
    doc = widths()
    doc.set_param("a", "depth", 3)
    warnings = [d for d in validate(doc).diagnostics if d.node == "a" and d.severity == "warning"]
    assert warnings and warnings[0].param == "depth" and "exposes no parameter 'depth'" in warnings[0].message
    layer = doc.block("Layer")
    layer.set_exposed("width", ["fc9.out_features"])
    errors = [d for d in validate(doc).errors if d.node in ("a", "b")]
    assert errors and errors[0].param == "width" and "exposes width as fc9.out_features, but it has no layer 'fc9'" \
        in errors[0].message
    layer.set_exposed("width", ["fc1.colour"])
    assert any("fc1 (Linear) has no parameter 'colour'" in d.message for d in validate(doc).errors)


def test_expose_and_unexpose_are_checked_edits_announced_as_block_changes():
    doc = widths()
    changes = []
    doc.subscribe(lambda event, **p: changes.append((event, p.get("change"), p.get("payload"))))
    with pytest.raises(DocumentError, match="fc1.out_features is already exposed as 'width'"):
        block_edit.expose(doc, "Layer", "fc1", "out_features", "size")
    with pytest.raises(DocumentError, match="has no parameter 'nope'"):
        block_edit.expose(doc, "Layer", "fc1", "nope", "nope")
    with pytest.raises(DocumentError, match="is one of an instance's own parameters"):
        block_edit.expose(doc, "Layer", "fc1", "bias", "repeat")
    block_edit.expose(doc, "Layer", "fc1", "bias", "bias")
    assert doc.block("Layer").exposed == {"width": ["fc1.out_features"], "bias": ["fc1.bias"]}
    assert changes[-1] == ("block_changed", "exposed_changed", {"name": "bias", "targets": ["fc1.bias"]})
    block_edit.unexpose(doc, "Layer", "width")
    assert doc.block("Layer").exposed == {"bias": ["fc1.bias"]}
    assert expand(doc).flat.nodes["b.fc1"].params["out_features"] == 8  # b's 16 is kept but no longer used


def test_ungroup_writes_the_instance_values_and_make_unique_copies_the_exposure():
    doc = widths()
    fork = block_edit.make_unique(doc, "b", "Wide")
    assert doc.block(fork).exposed == {"width": ["fc1.out_features"]} and doc.block(fork).exposed is not \
        doc.block("Layer").exposed
    ids = block_edit.ungroup(doc, "b")
    assert [doc.nodes[n].params.get("out_features") for n in ids] == [16, None]


def test_files_with_exposed_params_are_version_3_and_older_files_still_open():
    doc = widths()
    data = json.loads(dumps(doc))
    assert data["version"] == 3 and data["blocks"][0]["params"] == {"width": ["fc1.out_features"]}
    assert to_dict(loads(dumps(doc))) == to_dict(doc)
    block_edit.unexpose(doc, "Layer", "width")
    doc.set_param("b", "width", None)
    assert json.loads(dumps(doc))["version"] == 2 and "params" not in json.loads(dumps(doc))["blocks"][0]
    old = from_dict(json.loads(dumps(doc)))  # a version 2 file, as an older Layerloom wrote it
    assert not old.block("Layer").exposed and validate(old).ok
    # the digits ResNet as it shipped before (version 1, every layer drawn out) still opens and builds
    before = ROOT / "tests" / "engine" / "graphs" / "digits_resnet_v1.json"
    assert json.loads(before.read_text())["version"] == 1
    flat_resnet = load_document(before)
    count = lambda d: sum(p.numel() for p in compile_graph(d, with_loss=False).module.parameters())  # noqa: E731
    assert count(flat_resnet) == count(load_document(RESNET))


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda b: b.update(params=[]), r"blocks\[0\].params: expected an object"),
    (lambda b: b.update(params={"repeat": ["fc1.bias"]}), r"blocks\[0\].params.repeat: 'repeat' is one of"),
    (lambda b: b.update(params={"width": "fc1.out_features"}), r"blocks\[0\].params.width: expected a list"),
    (lambda b: b.update(params={"width": ["fc1"]}), r"blocks\[0\].params.width\[0\]: expected 'node.param'"),
    (lambda b: b.update(params={"width": []}), r"blocks\[0\].params.width: expected at least one"),
])
def test_a_hostile_params_section_names_the_field(mutate, message):
    data = json.loads(dumps(widths()))
    mutate(data["blocks"][0])
    with pytest.raises(DocumentError, match=message):
        from_dict(data, "m.json")


def test_the_resnet_with_one_block_definition_trains_and_exports_with_parity(tmp_path):
    doc = load_document(RESNET)
    compiled = compile_graph(doc, with_loss=False)
    torch.manual_seed(0)
    x, y = torch.randn(16, 1, 8, 8), torch.randint(0, 10, (16,))
    model = compiled.module.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(4):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0], losses
    assert {"block2.shortcut.conv.weight", "block1.conv1.weight"} <= set(model.state_dict())
    assert "block1.shortcut.conv.weight" not in model.state_dict()

    exported = export_onnx(doc, tmp_path / "resnet.onnx")
    assert exported.passed, exported.summary()

    result = export_python(doc, tmp_path / "resnet.py")
    code = result.code_path.read_text()
    assert code.count("class ResNetBasic(") == 1 and "class ResNetBasic_2" not in code
    for line in ("def __init__(self, *, shortcut, channels=32, stride=1):",
                 "self.bn1 = nn.BatchNorm2d(channels,", "stride=(stride, stride)",
                 "self.block1 = ResNetBasic(shortcut=IdentityShortcut())",
                 "self.block2 = ResNetBasic(shortcut=Downsample(), channels=64, stride=2)"):
        assert line in code, line
    spec = importlib.util.spec_from_file_location("resnet_export", result.code_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    reference = compile_graph(doc, with_loss=False).module
    load_weights(reference, result.weights_path)
    with torch.no_grad():
        torch.testing.assert_close(module.load()(x), reference.eval()(x))
        wide = module.ResNetBasic(shortcut=torch.nn.Conv2d(32, 128, 1, stride=2), channels=128, stride=2)
        assert wide(torch.randn(2, 32, 8, 8)).shape == (2, 128, 4, 4)  # the class builds other widths too


def test_the_library_block_comes_with_its_shortcuts_and_a_saved_block_keeps_the_one_chosen(tmp_path):
    doc = GraphDocument("lib")
    builtin = next(e for e in library_blocks() if e.name == "ResNetBasic")
    instance = place_block(doc, builtin)
    assert {"ResNetBasic", "IdentityShortcut", "Downsample"} <= set(doc.blocks)
    doc.nodes[instance].params.update({"channels": 64, "stride": 2, "shortcut": "Downsample"})
    doc.add_node("Input", {"shape": [32, 6, 6]}, node_id="input1")
    doc.add_node("Output", node_id="output1")
    wire(doc, f"input1.out -> {instance}.x", f"{instance}.y -> output1.in")
    report = validate(doc)
    assert report.ok and report.shapes[(instance, "y")] == (None, 64, 3, 3), [str(d) for d in report.errors]
    block_edit.make_unique(doc, instance, "MyBasic")
    save_block(doc, "MyBasic", tmp_path)
    saved = json.loads((tmp_path / "MyBasic.json").read_text())
    assert {b["name"] for b in saved["blocks"]} == {"MyBasic", "IdentityShortcut", "Downsample"}


def test_grouping_exposed_layers_inside_a_block_keeps_them_exposed_through_the_new_block():
    doc = load_document(RESNET)
    basic = doc.block("ResNetBasic")
    before = {name: set(targets) for name, targets in basic.exposed.items()}
    inner = block_edit.group(doc, ["conv1", "bn1"], "Front", inside="ResNetBasic")
    assert doc.block("Front").exposed == {"channels": ["conv1.out_channels"], "stride": ["conv1.stride"]}
    assert f"{inner}.channels" in basic.exposed["channels"] and f"{inner}.stride" in basic.exposed["stride"]
    report = validate(doc)
    assert report.ok and report.shapes[("block2", "y")] == (None, 64, 4, 4), [str(d) for d in report.errors]
    block_edit.ungroup(doc, inner, inside="ResNetBasic")
    assert {name: set(targets) for name, targets in basic.exposed.items()} == before and validate(doc).ok
