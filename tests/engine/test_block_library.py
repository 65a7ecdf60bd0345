"""The block library: built-in blocks that work when placed, the user's blocks saved, listed and placed again."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from engine import block_edit
from engine.block_library import BUILTIN_DIR, library_blocks, load_block, place_block, save_block
from engine.compile import compile_graph
from engine.document import Edge, GraphDocument
from engine.errors import DocumentError
from engine.fileformat import to_dict
from engine.validate import validate

# An input each built-in block accepts, and the output shape it gives for it.
BUILTIN_INPUTS = {
    "PreNormTransformer": ((5, 64), (5, 64)),
    "ResNetBasic": ((32, 6, 6), (32, 6, 6)),
    "ConvBNReLU": ((3, 8, 8), (32, 8, 8)),
}


def entry(name: str, user_dir=None):
    return next(e for e in library_blocks(user_dir) if e.name == name)


def around(doc: GraphDocument, instance: str, shape) -> GraphDocument:
    """Wire Input → the instance's only input, its only output → Output."""
    doc.add_node("Input", {"shape": list(shape)}, node_id="input1")
    doc.add_node("Output", node_id="output1")
    definition = doc.block(doc.nodes[instance].params["block"])
    (port_in,) = [n for n, s in definition.nodes.items() if s.type_id == "BlockInput"]
    (port_out,) = [n for n, s in definition.nodes.items() if s.type_id == "BlockOutput"]
    doc.add_edge(Edge("input1", "out", instance, port_in))
    doc.add_edge(Edge(instance, port_out, "output1", "in"))
    return doc


def mlp_with_nested_blocks() -> GraphDocument:
    """input1 (4) → [Outer: fc1 → relu1 → [Inner: fc2 → relu2]] → fc3 (3) → output1."""
    doc = GraphDocument("nested")
    doc.add_node("Input", {"shape": [4]}, node_id="input1")
    for node_id, type_id, params in [("fc1", "Linear", {"out_features": 8}), ("relu1", "ReLU", {}),
                                     ("fc2", "Linear", {"out_features": 6}), ("relu2", "ReLU", {}),
                                     ("fc3", "Linear", {"out_features": 3})]:
        doc.add_node(type_id, params, node_id=node_id)
    doc.add_node("Output", node_id="output1")
    chain = ["input1", "fc1", "relu1", "fc2", "relu2", "fc3", "output1"]
    for a, b in zip(chain, chain[1:], strict=False):
        doc.add_edge(Edge(a, "out", b, "in"))
    inner = block_edit.group(doc, ["fc2", "relu2"], "Inner")
    block_edit.group(doc, ["fc1", "relu1", inner], "Outer")
    return doc


def test_the_builtins_are_listed_first_with_their_descriptions():
    blocks = library_blocks()
    builtins = [e for e in blocks if e.builtin]
    assert blocks[:len(builtins)] == builtins and not blocks.problems
    assert {e.name for e in builtins} == set(BUILTIN_INPUTS)
    assert [e.name for e in builtins] == sorted(e.name for e in builtins)
    for e in builtins:
        assert e.path.parent == BUILTIN_DIR and e.description and "\n" not in e.description


@pytest.mark.parametrize("name", sorted(BUILTIN_INPUTS))
def test_each_builtin_validates_compiles_and_trains_when_placed(name):
    doc = GraphDocument("uses a built-in")
    instance = place_block(doc, entry(name), (100, 0))
    in_shape, out_shape = BUILTIN_INPUTS[name]
    around(doc, instance, in_shape)
    report = validate(doc)
    assert report.ok, [str(d) for d in report.errors]
    module = compile_graph(doc, with_loss=False).module
    x = torch.randn(2, *in_shape)
    y = module(x)
    assert y.shape == (2, *out_shape)
    y.square().mean().backward()
    assert all(p.grad is not None for p in module.parameters())
    assert all(key.startswith(f"{instance}.") for key in module.state_dict())


def test_the_transformer_block_is_causal_and_the_switch_is_its_attention_param():
    doc = GraphDocument("lm")
    instance = place_block(doc, entry("PreNormTransformer"))
    around(doc, instance, (6, 64))
    definition = doc.block("PreNormTransformer")
    assert [s.type_id for s in definition.nodes.values()] == [
        "BlockInput", "LayerNorm", "MultiheadAttention", "Add", "LayerNorm", "Linear", "GELU", "Linear", "Add",
        "BlockOutput"]
    x = torch.randn(1, 6, 64)
    changed = x.clone()
    changed[:, -1] += torch.randn(64)  # only the last step differs

    def steps_that_changed() -> list[bool]:
        module = compile_graph(doc, with_loss=False).module.eval()
        with torch.no_grad():
            return (module(x) - module(changed)).abs().amax(dim=-1)[0].gt(1e-6).tolist()

    assert steps_that_changed() == [False] * 5 + [True]
    definition.set_param("attn", "causal", False)
    assert all(steps_that_changed())


def test_a_saved_block_is_listed_and_placed_with_the_blocks_it_nests(tmp_path):
    source = mlp_with_nested_blocks()
    path = save_block(source, "Outer", tmp_path, description="two layers\n with   a nested block")
    assert path == tmp_path / "Outer.json" and [p.name for p in tmp_path.iterdir()] == ["Outer.json"]
    user = [e for e in library_blocks(tmp_path) if not e.builtin]
    assert [(e.name, e.description, e.path) for e in user] == [("Outer", "two layers with a nested block", path)]
    assert to_dict(load_block(user[0]))["nodes"] == to_dict(source.block("Outer"))["nodes"]

    doc = GraphDocument("next day")
    instance = place_block(doc, user[0], (50, 60))
    assert list(doc.blocks) == ["Inner", "Outer"] and doc.nodes[instance].position == (50.0, 60.0)
    assert to_dict(doc)["blocks"] == to_dict(source)["blocks"]
    around(doc, instance, (4,))
    assert validate(doc).ok
    keys = set(compile_graph(doc, with_loss=False).module.state_dict())
    assert keys == {f"{instance}.fc1.weight", f"{instance}.fc1.bias", f"{instance}.block1.fc2.weight",
                    f"{instance}.block1.fc2.bias"}


def test_placing_reuses_a_definition_that_is_the_same_and_renames_around_one_that_differs(tmp_path):
    save_block(mlp_with_nested_blocks(), "Outer", tmp_path)
    outer = entry("Outer", tmp_path)
    doc = GraphDocument("g")
    first, second = place_block(doc, outer), place_block(doc, outer)
    assert list(doc.blocks) == ["Inner", "Outer"] and first != second
    assert doc.nodes[second].params["block"] == "Outer"

    doc.block("Outer").move_node("fc1", (999, 999))  # positions do not make a definition different
    assert doc.nodes[place_block(doc, outer)].params["block"] == "Outer"

    doc.block("Inner").set_param("fc2", "out_features", 2)  # now the document's Inner is another block
    third = place_block(doc, outer)
    assert list(doc.blocks) == ["Inner", "Outer", "Inner1", "Outer1"]
    assert doc.nodes[third].params["block"] == "Outer1"
    assert doc.block("Outer1").nodes["block1"].params["block"] == "Inner1"
    assert doc.block("Inner1").nodes["fc2"].params["out_features"] == 6
    assert doc.block("Outer").nodes["block1"].params["block"] == "Inner"


def test_a_failed_placement_leaves_the_document_as_it_was(tmp_path):
    save_block(mlp_with_nested_blocks(), "Outer", tmp_path)
    doc = GraphDocument("g")
    doc.add_block("Outer", GraphDocument("Outer"))  # a different, empty Outer: the library's comes in renamed
    doc.block("Outer").add_node("ReLU", node_id="relu9")
    before = to_dict(doc)
    with pytest.raises(DocumentError, match="no block definition 'Elsewhere'"):
        place_block(doc, entry("Outer", tmp_path), inside="Elsewhere")
    assert to_dict(doc) == before
    doc.add_block("Host", GraphDocument("Host"))
    doc.place_block("Outer", inside="Host")
    save_block(doc, "Host", tmp_path)
    doc.remove_block("Host")
    before = to_dict(doc)
    with pytest.raises(DocumentError, match="contain itself"):  # Host comes in, then cannot go inside Outer
        place_block(doc, entry("Host", tmp_path), inside="Outer")
    assert to_dict(doc) == before


def test_a_block_named_like_a_builtin_is_not_saved(tmp_path):
    doc = mlp_with_nested_blocks()
    doc.add_block("ResNetBasic", GraphDocument("ResNetBasic"))
    with pytest.raises(DocumentError, match="'ResNetBasic' is the name of a built-in block — rename"):
        save_block(doc, "ResNetBasic", tmp_path)
    assert not list(tmp_path.iterdir())
    with pytest.raises(DocumentError, match="no block definition 'Missing'"):
        save_block(doc, "Missing", tmp_path)


def test_saving_again_replaces_the_users_block(tmp_path):
    doc = mlp_with_nested_blocks()
    save_block(doc, "Inner", tmp_path, "first")
    doc.block("Inner").set_param("fc2", "out_features", 11)
    save_block(doc, "Inner", tmp_path, "second")
    (inner,) = [e for e in library_blocks(tmp_path) if not e.builtin]
    assert inner.description == "second" and load_block(inner).nodes["fc2"].params["out_features"] == 11
    assert [p.name for p in tmp_path.iterdir()] == ["Inner.json"]  # no temp file left behind


def test_broken_user_files_are_left_out_and_reported_never_raised(tmp_path):
    good = save_block(mlp_with_nested_blocks(), "Inner", tmp_path)
    (tmp_path / "garbage.json").write_text("{not json")
    (tmp_path / "graph.json").write_text((BUILTIN_DIR.parents[0] / "examples" / "digits_mlp.json").read_text())
    data = json.loads(good.read_text())
    (tmp_path / "copy.json").write_text(json.dumps(data))  # a second block named Inner
    data["name"] = "ConvBNReLU"
    data["blocks"][0]["name"] = "ConvBNReLU"
    (tmp_path / "shadow.json").write_text(json.dumps(data))
    (tmp_path / "notes.txt").write_text("not a block")
    blocks = library_blocks(tmp_path)
    assert [(e.name, e.path.name) for e in blocks if not e.builtin] == [("Inner", "Inner.json")]
    problems = "\n".join(blocks.problems)
    assert len(blocks.problems) == 4, problems
    assert "garbage.json: line 1, column 2: not valid JSON" in problems
    assert "graph.json: name: the block's name 'Digits MLP' must start with a letter" in problems
    assert "copy.json: the block in Inner.json is also named 'Inner'" in problems
    assert "shadow.json: the built-in block is also named 'ConvBNReLU'" in problems

    listed = library_blocks(tmp_path)[-1]
    good.write_text('{"format": "layerloom-graph", "version": 2, "name": "Inner", "nodes": []}')
    with pytest.raises(DocumentError, match=r"Inner.json: blocks: holds no definition named 'Inner'"):
        load_block(listed)
    assert library_blocks(tmp_path / "missing").problems == []


def test_the_users_library_lives_in_the_user_data_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERLOOM_DATA_DIR", str(tmp_path))
    path = save_block(mlp_with_nested_blocks(), "Outer")
    assert path == tmp_path / "blocks" / "Outer.json"
    assert [e.name for e in library_blocks() if not e.builtin] == ["Outer"]


def test_the_library_loads_without_torch_for_the_palette():
    """The GUI lists the library at start-up, before torch is imported (it never imports torch itself)."""
    check = "import sys, engine.block_library; engine.block_library.library_blocks(); print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.stdout == "False\n", done.stdout + done.stderr
