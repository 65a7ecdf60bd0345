"""Blocks: grouping, instances, repeat, nesting — validated, compiled, saved and exported through."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from engine import block_edit
from engine.block_expand import definition_view
from engine.cli import main
from engine.compile import compile_graph
from engine.document import MAX_BLOCK_DEPTH, Edge, GraphDocument
from engine.errors import DocumentError, GraphInvalid
from engine.fileformat import dumps, from_dict, load_document, loads, to_dict
from engine.stats import graph_stats
from engine.validate import validate

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "resources" / "examples").glob("*.json"))


def wire(doc, *pairs):
    for src, dst in pairs:
        doc.add_edge(Edge(*src.split("."), *dst.split(".")))


def mlp() -> GraphDocument:
    """input1 (4) → fc1 (8) → relu1 → fc2 (8) → relu2 → fc3 (3) → output1, with a loss on target1."""
    doc = GraphDocument("mlp")
    doc.add_node("Input", {"shape": [4]}, (0, 0), node_id="input1")
    doc.add_node("Linear", {"out_features": 8}, (100, 0), node_id="fc1")
    doc.add_node("ReLU", {}, (200, 10), node_id="relu1")
    doc.add_node("Linear", {"out_features": 8}, (300, 0), node_id="fc2")
    doc.add_node("ReLU", {}, (400, 10), node_id="relu2")
    doc.add_node("Linear", {"out_features": 3}, (500, 0), node_id="fc3")
    doc.add_node("Output", {}, (600, 0), node_id="output1")
    doc.add_node("Target", {"shape": [], "dtype": "int64"}, (500, 100), node_id="target1")
    doc.add_node("CrossEntropyLoss", {}, (600, 100), node_id="loss1")
    wire(doc, ("input1.out", "fc1.in"), ("fc1.out", "relu1.in"), ("relu1.out", "fc2.in"), ("fc2.out", "relu2.in"),
         ("relu2.out", "fc3.in"), ("fc3.out", "output1.in"), ("fc3.out", "loss1.pred"), ("target1.out", "loss1.target"))
    return doc


def outputs_with(compiled, state: dict, x: torch.Tensor) -> torch.Tensor:
    compiled.module.load_state_dict(state)
    with torch.no_grad():
        return compiled.module(x)


def test_grouping_compiles_to_the_same_function_with_the_weights_under_the_instance():
    doc = mlp()
    flat = compile_graph(doc, with_loss=False)
    block = block_edit.group(doc, ["fc1", "relu1", "fc2"], "Encoder")
    grouped = compile_graph(doc, with_loss=False)
    keys = {k.replace("block1.", "") for k in grouped.module.state_dict()}
    assert keys == set(flat.module.state_dict()) and "block1.fc1.weight" in grouped.module.state_dict()
    state = {k: torch.randn_like(v) for k, v in flat.module.state_dict().items()}
    x = torch.randn(5, 4)
    expected = outputs_with(flat, state, x)
    moved = {(f"{block}.{k}" if k.startswith(("fc1", "fc2")) else k): v for k, v in state.items()}
    torch.testing.assert_close(outputs_with(grouped, moved, x), expected)
    report = validate(doc)
    assert report.ok and report.shapes[(block, "fc2_out")] == (None, 8)
    assert report.input_shapes[block] == {"fc1_in": (None, 4)}


def test_group_makes_one_port_per_crossing_source_and_ungroup_restores_the_exact_document():
    doc = mlp()
    before = to_dict(doc)
    events = []
    doc.subscribe(lambda event, **payload: events.append(event))
    # fc3 feeds two nodes outside: one output port
    block = block_edit.group(doc, ["relu1", "fc2", "relu2", "fc3"], "Middle")
    definition = doc.block("Middle")
    assert [n for n, s in definition.nodes.items() if s.type_id == "BlockInput"] == ["relu1_in"]
    assert [n for n, s in definition.nodes.items() if s.type_id == "BlockOutput"] == ["fc3_out"]
    assert {str(e) for e in doc.edges_of(block)} == {"fc1.out → block1.relu1_in", "block1.fc3_out → output1.in",
                                                     "block1.fc3_out → loss1.pred"}
    assert "block_added" in events and "node_removed" in events and "node_added" in events
    block_edit.ungroup(doc, block)
    assert to_dict(doc) == before and not doc.blocks


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_grouping_any_run_of_layers_in_an_example_ungroups_exactly(example):
    doc = load_document(example)
    layers = [n for n, s in doc.nodes.items() if s.type_id not in ("Input", "Target", "Output")
              and "Loss" not in s.type_id]
    before = to_dict(doc)
    chosen = layers[1:4] + layers[-1:]  # not contiguous: the order must still come back
    block = block_edit.group(doc, chosen, "Part")
    report = validate(doc)
    assert report.ok, [str(d) for d in report.errors]
    text = dumps(doc)
    exposes = any(d.exposed for d in doc.blocks.values())  # a block with parameters needs version 3
    assert json.loads(text)["version"] == (3 if exposes else 2) and to_dict(loads(text)) == to_dict(doc)
    block_edit.ungroup(doc, block)
    assert to_dict(doc) == before


def test_editing_a_definition_changes_every_instance_and_make_unique_forks_one():
    doc = mlp()
    first = block_edit.group(doc, ["fc2", "relu2"], "Layer")
    doc.remove_edge(Edge(first, "relu2_out", "fc3", "in"))
    second = doc.place_block("Layer", (450, 0))
    wire(doc, (f"{first}.relu2_out", f"{second}.fc2_in"), (f"{second}.relu2_out", "fc3.in"))
    changes = []
    doc.subscribe(lambda event, **p: changes.append((event, p.get("block"), p.get("change"))))
    doc.block("Layer").set_param("fc2", "out_features", 16)
    assert ("block_changed", "Layer", "param_changed") in changes
    report = validate(doc)
    assert report.ok and report.shapes[(first, "relu2_out")] == report.shapes[(second, "relu2_out")] == (None, 16)
    fork = block_edit.make_unique(doc, second)
    assert fork == "Layer1" and doc.nodes[second].params["block"] == fork
    doc.block(fork).set_param("fc2", "out_features", 5)
    report = validate(doc)
    assert report.shapes[(first, "relu2_out")] == (None, 16) and report.shapes[(second, "relu2_out")] == (None, 5)
    with pytest.raises(DocumentError, match="still placed"):
        doc.remove_block("Layer")


def test_repeat_n_equals_n_chained_instances():
    repeated = mlp()
    block = block_edit.group(repeated, ["fc2", "relu2"], "Layer")
    repeated.set_param(block, "repeat", 3)
    chained = mlp()
    block_edit.group(chained, ["fc2", "relu2"], "Layer")
    chained.remove_edge(Edge("block1", "relu2_out", "fc3", "in"))
    previous = "block1"
    for _ in range(2):
        nxt = chained.place_block("Layer")
        wire(chained, (f"{previous}.relu2_out", f"{nxt}.fc2_in"))
        previous = nxt
    wire(chained, (f"{previous}.relu2_out", "fc3.in"))
    a, b = compile_graph(repeated, with_loss=False), compile_graph(chained, with_loss=False)
    state = {k: torch.randn_like(v) for k, v in a.module.state_dict().items()}
    assert {"block1.0.fc2.weight", "block1.2.fc2.weight"} <= state.keys()
    renamed = {k.replace("block1.0.", "block1.").replace("block1.1.", "block2.").replace("block1.2.", "block3."): v
               for k, v in state.items()}
    x = torch.randn(4, 4)
    torch.testing.assert_close(outputs_with(a, state, x), outputs_with(b, renamed, x))
    stats = graph_stats(repeated, validate(repeated))
    assert stats.nodes[block].params == 3 * (8 * 8 + 8)


def nested() -> tuple[GraphDocument, str, str]:
    doc = mlp()
    inner = block_edit.group(doc, ["fc2", "relu2"], "Inner")
    outer = block_edit.group(doc, ["fc1", "relu1", inner], "Outer")
    return doc, outer, inner


def test_nested_blocks_compile_as_nested_submodules_and_refuse_recursion():
    doc, outer, inner = nested()
    assert doc.block("Outer").nodes[inner].params["block"] == "Inner"
    compiled = compile_graph(doc)
    assert f"{outer}.{inner}.fc2.weight" in compiled.module.state_dict()
    assert f"{outer}.fc1.weight" in compiled.module.state_dict()
    result = compiled.module(torch.randn(3, 4), torch.tensor([0, 1, 2]))
    assert result["output1"].shape == (3, 3)
    with pytest.raises(DocumentError, match="contain itself"):
        doc.place_block("Outer", inside="Inner")
    data = to_dict(doc)
    inner_def = next(b for b in data["blocks"] if b["name"] == "Inner")
    inner_def["nodes"].append({"id": "loop", "type": "Block", "params": {"block": "Outer", "repeat": 1}})
    with pytest.raises(DocumentError, match=r"blocks\[\d\]: block '\w+' contains itself"):
        from_dict(data, "bad.json")


def test_an_error_inside_nested_blocks_names_the_path_to_the_inner_node():
    doc, outer, inner = nested()
    doc.block("Inner").set_param("fc2", "out_features", -3)
    doc.block("Inner").add_node("Conv2d", {}, node_id="conv1")
    wire(doc.block("Inner"), ("fc2_in.out", "conv1.in"))
    report = validate(doc)
    messages = [str(d) for d in report.errors]
    assert any(m.startswith(f"{outer}.{inner}/fc2.out_features: ") for m in messages), messages
    assert any(m.startswith(f"{outer}.{inner}/conv1.in: ") for m in messages), messages
    assert all(d.node == outer for d in report.errors if d.path), messages
    with pytest.raises(GraphInvalid, match=f"{outer}.{inner}/conv1.in"):
        compile_graph(doc)


def test_broken_instances_give_diagnostics_never_exceptions():
    doc = mlp()
    block = block_edit.group(doc, ["fc2", "relu2"], "Layer")
    doc.set_param(block, "repeat", 10**6)
    assert [str(d) for d in validate(doc).errors] == [f"{block}.repeat: expected a whole number from 1 to 1000, "
                                                       "got 1000000"]
    doc.set_param(block, "block", "Missing")
    assert "no block definition 'Missing'" in str(validate(doc).errors[0])
    doc.set_param(block, "block", "Layer")
    doc.set_param(block, "repeat", 2)
    doc.remove_edge(Edge("relu1", "out", block, "fc2_in"))
    assert f"{block}.fc2_in: input is not connected — wire an output into it" in [str(d) for d in validate(doc).errors]


def test_blocks_that_expand_past_the_limit_are_reported_not_built():
    doc = mlp()
    block_edit.group(doc, ["fc2", "relu2"], "L0")
    for level in (1, 2):  # each level repeats the one below 1000 times: 2 million layers
        block_edit.group(doc, ["block1"], f"L{level}")
        doc.block(f"L{level}").set_param("block1", "repeat", 1000)
    assert [str(d) for d in validate(doc).errors] == [
        "block1.repeat: the blocks expand to more than 100,000 layers — lower a repeat count or place fewer blocks"]


def test_a_definition_seen_from_an_instance_has_its_shapes():
    doc, outer, inner = nested()
    view = definition_view(doc, validate(doc), [outer, inner])
    assert view.shapes[("fc2_in", "out")] == (None, 8) and view.shapes[("fc2", "out")] == (None, 8)
    assert view.input_shapes["fc2"] == {"in": (None, 8)}
    outer_view = definition_view(doc, validate(doc), [outer])
    assert outer_view.shapes[(inner, "relu2_out")] == (None, 8)


def test_old_files_migrate_and_files_without_blocks_stay_version_1():
    for example in EXAMPLES:
        data = json.loads(example.read_text())
        exposes = any(b.get("params") for b in data.get("blocks", []))  # blocks with parameters: version 3
        assert data["version"] == (3 if exposes else 2 if data.get("blocks") else 1)
        assert to_dict(from_dict(data)) == to_dict(load_document(example))
        assert ("blocks" in to_dict(load_document(example))) == bool(data.get("blocks"))
    assert any(json.loads(example.read_text())["version"] == 1 for example in EXAMPLES)


def test_hostile_block_sections_give_clear_errors():
    doc, _, _ = nested()
    good = to_dict(doc)
    cases = [
        (lambda d: d.update(blocks={}), "blocks: expected a list"),
        (lambda d: d["blocks"][0].update(name="9x"), r"blocks\[0\].name: '9x' must start with a letter"),
        (lambda d: d["blocks"][1].update(name=d["blocks"][0]["name"]), r"blocks\[1\].name: duplicate block name"),
        (lambda d: d["blocks"][0]["edges"].append({"from": "nowhere.out", "to": "fc2.in"}),
         r"blocks\[0\].edges\[\d+\].from: refers to unknown node"),
    ]
    for mutate, message in cases:
        data = json.loads(json.dumps(good))
        mutate(data)
        with pytest.raises(DocumentError, match=message):
            from_dict(data, "f.json")


def chain(depth: int, back_to_first: bool = False) -> dict:
    """A graph file placing B0, where each B<k> places B<k+1> and the last holds a ReLU (or places B0 again)."""
    blocks = []
    for k in range(depth):
        last = k + 1 == depth
        inner = {"id": "inner", "type": "Block", "params": {"block": f"B{0 if last else k + 1}", "repeat": 1}}
        nodes = [{"id": "x", "type": "BlockInput"}, {"id": "y", "type": "BlockOutput"},
                 {"id": "inner", "type": "ReLU"} if last and not back_to_first else inner]
        edges = [{"from": "x.out", "to": "inner.x" if nodes[2] is inner else "inner.in"},
                 {"from": "inner.y" if nodes[2] is inner else "inner.out", "to": "y.in"}]
        blocks.append({"name": f"B{k}", "nodes": nodes, "edges": edges})
    return {"format": "layerloom-graph", "version": 2, "name": "deep", "blocks": blocks,
            "nodes": [{"id": "input1", "type": "Input", "params": {"shape": [4]}},
                      {"id": "b", "type": "Block", "params": {"block": "B0", "repeat": 1}},
                      {"id": "output1", "type": "Output"}],
            "edges": [{"from": "input1.out", "to": "b.x"}, {"from": "b.y", "to": "output1.in"}]}


def test_blocks_nested_past_the_limit_are_refused_at_load_naming_the_chain(tmp_path, capsys):
    assert MAX_BLOCK_DEPTH == 64
    deepest = from_dict(chain(64))
    assert validate(deepest).ok
    x = torch.randn(2, 4)
    assert torch.equal(compile_graph(deepest, with_loss=False).module(x), x.relu())
    with pytest.raises(DocumentError, match=re.escape(
            "f.json: blocks[0]: blocks nest more than 64 deep (B0 → B1 → B2 → … (64 more) → B67 → B68 → B69) — "
            "ungroup some of them")):
        from_dict(chain(70), "f.json")
    reversed_order = chain(70)
    reversed_order["blocks"].reverse()  # the first definition (in file order) nested too deep is named
    with pytest.raises(DocumentError, match=re.escape("blocks[64]: blocks nest more than 64 deep (B5 → B6 → B7 → …")):
        from_dict(reversed_order, "f.json")
    for data, message in [(chain(1000), "blocks[0]: blocks nest more than 64 deep (B0 → B1 → B2 → … (994 more) → "
                                        "B997 → B998 → B999)"),
                          (chain(1000, back_to_first=True), "blocks[0]: block 'B0' contains itself (B0 → B1 → B2 → "
                                                            "… (995 more) → B998 → B999 → B0)")]:
        (tmp_path / "deep.json").write_text(json.dumps(data))
        assert main(["validate", str(tmp_path / "deep.json")]) == 2  # refused at load: unreadable, like any cycle
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and "Recursion" not in err, err


def test_blocks_nested_past_the_limit_in_a_document_are_reported_not_expanded():
    """Adding and placing blocks checks the depth; an instance added inside a definition by other means (a
    paste into an open block edits the definition alone) is caught by validation and never expanded."""
    doc = from_dict(chain(MAX_BLOCK_DEPTH))
    doc.add_block("Top", GraphDocument())
    doc.blocks["Top"].add_node("Block", {"block": "B0", "repeat": 1}, node_id="inner")
    doc.place_block("Top", node_id="top")
    assert [str(d) for d in validate(doc).errors if "nest" in d.message] == [
        "top.block: blocks nest more than 64 deep (Top → B0 → B1 → … (59 more) → B61 → B62 → B63) — ungroup "
        "some of them"]
    with pytest.raises(GraphInvalid, match="nest more than 64 deep"):
        compile_graph(doc)


def test_editing_cannot_nest_blocks_past_the_limit_a_file_could_not_load():
    """The loader refuses definitions nested past MAX_BLOCK_DEPTH; adding or placing one that would go past
    it is refused too, so the app can never save a file that will not open again."""
    doc = from_dict(chain(MAX_BLOCK_DEPTH))  # B0 places B1 … B63 holds a ReLU: exactly the limit
    placing_b0 = GraphDocument()
    placing_b0.add_node("Block", {"block": "B0", "repeat": 1}, node_id="inner")
    with pytest.raises(DocumentError, match=f"nest more than {MAX_BLOCK_DEPTH} deep"):
        doc.add_block("Top", placing_b0)  # Top → B0 → … → B63: 65 levels
    assert "Top" not in doc.blocks
    doc.add_block("Top", GraphDocument())
    with pytest.raises(DocumentError, match=f"nest more than {MAX_BLOCK_DEPTH} deep"):
        doc.place_block("B0", inside="Top")
    assert doc.blocks["Top"].nodes == {}  # nothing was left placed
