"""Versioned JSON: round trips, strict reading that names the field, atomic writes."""

import json
import os

import pytest

from engine import fileformat
from engine.document import MAX_NESTING, Edge, GraphDocument
from engine.errors import DocumentError
from engine.fileformat import dumps, from_dict, load_document, loads, save_document, to_dict


def make_doc() -> GraphDocument:
    doc = GraphDocument("demo", "a tiny net")
    a = doc.add_node("Input", {"shape": [4]}, (0, 0))
    b = doc.add_node("Linear", {"out_features": 3}, (220, 10.5))
    c = doc.add_node("Output", position=(440, 0))
    doc.add_edge(Edge(a, "out", b, "in"))
    doc.add_edge(Edge(b, "out", c, "in"))
    doc.training = {"epochs": 3, "optimizer": {"name": "adam", "lr": 0.001}}
    return doc


def test_round_trip_through_a_file(tmp_path):
    doc = make_doc()
    path = tmp_path / "g.json"
    save_document(doc, path)
    again = load_document(path)
    assert to_dict(again) == to_dict(doc)
    data = json.loads(path.read_text())
    assert data["format"] == "layerloom-graph" and data["version"] == 1
    assert data["edges"][0] == {"from": "input1.out", "to": "fc1.in"}


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path, monkeypatch):
    path = tmp_path / "g.json"
    save_document(make_doc(), path)
    before = path.read_text()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(fileformat.os, "replace", crash)
    doc = make_doc()
    doc.add_node("ReLU")
    with pytest.raises(OSError, match="disk full"):
        save_document(doc, path)
    assert path.read_text() == before
    assert os.listdir(tmp_path) == ["g.json"]


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.update(format="something-else"), "format"),
        (lambda d: d.update(version="1"), "version"),
        (lambda d: d.update(nodes={}), "nodes"),
        (lambda d: d["nodes"][1].pop("type"), "nodes[1].type"),
        (lambda d: d["nodes"][1].update(params=[1]), "nodes[1].params"),
        (lambda d: d["nodes"][2].update(position=[1]), "nodes[2].position"),
        (lambda d: d["nodes"][2].update(position=[1, float("nan")]), "nodes[2].position[1]"),
        (lambda d: d["nodes"][2].update(id="fc1"), "nodes[2].id"),
        (lambda d: d["nodes"][2].update(id="2bad"), "nodes[2].id"),
        (lambda d: d["edges"][0].update({"from": "input1"}), "edges[0].from"),
        (lambda d: d["edges"][1].update(to="ghost.in"), "edges[1].to"),
        (lambda d: d["edges"].append(dict(d["edges"][0])), "edges[2]"),
        (lambda d: d.update(training=[]), "training"),
        (lambda d: d.update(name=3), "name"),
    ],
)
def test_malformed_fields_are_named(mutate, field):
    data = json.loads(json.dumps(to_dict(make_doc())))
    mutate(data)
    with pytest.raises(DocumentError) as info:
        from_dict(data, "g.json")
    assert str(info.value).startswith(f"g.json: {field}: ")


def test_newer_version_asks_for_an_upgrade():
    data = to_dict(make_doc()) | {"version": 99}
    with pytest.raises(DocumentError, match="version 99.*upgrade Layerloom"):
        from_dict(data, "g.json")


def test_invalid_json_names_line_and_column():
    with pytest.raises(DocumentError, match=r"g.json: line 3, column \d+: not valid JSON"):
        loads('{\n  "format": "layerloom-graph",\n  oops\n}', "g.json")


def test_unreadable_file_is_a_document_error(tmp_path):
    with pytest.raises(DocumentError, match="cannot read"):
        load_document(tmp_path / "missing.json")
    binary = tmp_path / "b.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DocumentError, match="cannot read"):
        load_document(binary)


def test_dumps_writes_one_line_per_node_and_is_valid_json():
    text = dumps(make_doc())
    lines = text.splitlines()
    assert sum('"type":' in line for line in lines) == 3
    assert json.loads(text) == json.loads(json.dumps(to_dict(make_doc())))


def test_unknown_node_types_still_load_so_validation_can_report_them():
    data = to_dict(make_doc())
    data["nodes"][1]["type"] = "FancyLayer"
    doc = from_dict(data)
    assert doc.nodes["fc1"].type_id == "FancyLayer"


def test_nan_in_a_file_is_refused():
    text = dumps(make_doc()).replace('"out_features": 3', '"out_features": NaN')
    with pytest.raises(DocumentError, match="NaN is not allowed"):
        loads(text, "g.json")


def test_values_that_cannot_be_saved_are_refused_at_the_edit():
    doc = make_doc()
    with pytest.raises(DocumentError, match="fc1.out_features: nan is not a finite number"):
        doc.set_param("fc1", "out_features", float("nan"))
    with pytest.raises(DocumentError, match="set values cannot be saved"):
        doc.set_param("fc1", "out_features", {1, 2})
    assert to_dict(doc) == to_dict(make_doc())


def _nested_text(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


@pytest.mark.parametrize(("mutate", "field", "message"), [
    (lambda d: d["nodes"][1]["params"].update(out_features="@DEEP@"), "nodes[1].params.out_features[0][0]…",
     "nest too deeply"),
    (lambda d: d["nodes"][1]["params"].update(out_features="@BIG@"), "nodes[1].params.out_features",
     "integer of about 400 digits is too large"),
    (lambda d: d["nodes"][1].update(position=[0, "@BIG@"]), "nodes[1].position[1]", "too large"),
    (lambda d: d["nodes"][1].update(position=[0, 1e10]), "nodes[1].position", r"within ±1e\+09"),
    (lambda d: d["nodes"][1]["params"].update(out_features="@INF@"), "nodes[1].params.out_features",
     "inf is not a finite number"),
    (lambda d: d["training"].update(epochs="@DEEP@"), "training.epochs[0][0][0][0]…", "nest too deeply"),
    (lambda d: d["nodes"][1].update(type="Lin\udce9"), "nodes[1].type", "lone surrogate"),
    (lambda d: d.update(name="a\x00b"), "name", "control character"),
    (lambda d: d.update(name=" "), "name", "cannot be empty"),
    (lambda d: d.update(description="\x1b[2J"), "description", "control character"),
    (lambda d: d["edges"][0].update(to="fc1.in\x1b[2J"), "edges[0].to", "expected 'node.port'"),
    (lambda d: d["nodes"][1].update(id="class"), "nodes[1].id", "Python keyword"),
    (lambda d: d["nodes"][1].update(id="fc1\n"), "nodes[1].id", "must start with a letter"),
    (lambda d: d["nodes"][1].update(id="__fc"), "nodes[1].id", "must start with a letter"),
    (lambda d: d["nodes"][1].update(id="forward"), "nodes[1].id", "torch module attribute"),
    (lambda d: d.update(format=[[[[[["deep"]]]]]]), "format", "not a Layerloom graph"),
])
def test_values_no_document_can_hold_are_refused_naming_the_field(mutate, field, message):
    data = json.loads(json.dumps(to_dict(make_doc())))
    mutate(data)
    text = json.dumps(data).replace('"@DEEP@"', _nested_text(40)).replace('"@BIG@"', "9" * 400)
    text = text.replace('"@INF@"', "1e400")
    with pytest.raises(DocumentError, match=message) as info:
        loads(text, "g.json")
    assert str(info.value).startswith(f"g.json: {field}: ")


def test_a_param_nested_max_nesting_levels_round_trips():
    doc = make_doc()
    doc.set_param("fc1", "init", json.loads(_nested_text(MAX_NESTING)))
    assert to_dict(loads(dumps(doc))) == to_dict(doc)


@pytest.mark.parametrize("depth", [1000, 100_000])
def test_json_nested_past_pythons_recursion_limit_is_unreadable(depth):
    with pytest.raises(DocumentError, match="g.json: not valid JSON"):
        loads(_nested_text(depth), "g.json")


def test_integers_json_will_not_parse_are_unreadable():
    text = dumps(make_doc()).replace('"out_features": 3', f'"out_features": {"9" * 5000}')
    with pytest.raises(DocumentError, match="g.json: not valid JSON"):
        loads(text, "g.json")
