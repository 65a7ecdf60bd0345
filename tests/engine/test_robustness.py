"""Random edits and corrupted files only ever raise the project's own errors; the CLI never shows a traceback."""

import ast
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fuzz_files import check_python_export, json_paths, run_cli

import nodes
from engine.document import Edge, GraphDocument
from engine.errors import DocumentError, ExportError
from engine.export import python_code
from engine.export.python_code import export_python
from engine.fileformat import dumps, loads, to_dict
from engine.validate import validate

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "resources" / "examples").glob("*.json"))
TYPE_IDS = [spec.type_id for spec in nodes.all_specs()] + ["NotAType"]
PORT_NAMES = sorted({p.name for s in nodes.all_specs() for p in (*s.inputs, *s.outputs)} | {"bogus"})
PARAM_NAMES = sorted({p.name for s in nodes.all_specs() for p in s.params} | {"unknown"})

json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 300), st.floats(-10, 10, allow_nan=False),
    st.sampled_from(["", "relu", "kaiming", "last", "all", "float32", "int64", "nearest"]),
)
param_value = st.one_of(json_leaf, st.lists(st.integers(-3, 40), max_size=5), st.lists(json_leaf, max_size=3))

edit = st.one_of(
    st.tuples(st.just("add"), st.sampled_from(TYPE_IDS)),
    st.tuples(st.just("remove"), st.integers(0, 50)),
    st.tuples(st.just("wire"), st.integers(0, 50), st.sampled_from(PORT_NAMES), st.integers(0, 50),
              st.sampled_from(PORT_NAMES)),
    st.tuples(st.just("unwire"), st.integers(0, 50)),
    st.tuples(st.just("param"), st.integers(0, 50), st.sampled_from(PARAM_NAMES), param_value),
)


def apply(doc: GraphDocument, op: tuple) -> None:
    ids = list(doc.nodes)
    kind = op[0]
    if kind == "add":
        doc.add_node(op[1])
    elif not ids:
        return
    elif kind == "remove":
        doc.remove_node(ids[op[1] % len(ids)])
    elif kind == "wire":
        doc.add_edge(Edge(ids[op[1] % len(ids)], op[2], ids[op[3] % len(ids)], op[4]))
    elif kind == "unwire" and doc.edges:
        doc.remove_edge(doc.edges[op[1] % len(doc.edges)])
    elif kind == "param":
        doc.set_param(ids[op[1] % len(ids)], op[2], op[3])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(EXAMPLES), st.lists(edit, max_size=25))
def test_random_edits_only_raise_document_errors_and_always_validate(example, ops):
    doc = loads(example.read_text(), str(example))
    for op in ops:
        try:
            apply(doc, op)
        except DocumentError:
            pass
        report = validate(doc)  # must never raise
        assert all(d.severity in ("error", "warning") and d.message for d in report.diagnostics)
    assert to_dict(loads(dumps(doc))) == to_dict(doc)


def _corrupt(text: str, data) -> str:
    how = data.draw(st.sampled_from(["truncate", "byte", "splice", "value"]))
    if how == "truncate":
        return text[: data.draw(st.integers(0, len(text)))]
    if how == "byte":
        i = data.draw(st.integers(0, len(text) - 1))
        return text[:i] + data.draw(st.characters()) + text[i + 1:]
    if how == "splice":
        i, j = sorted(data.draw(st.tuples(st.integers(0, len(text)), st.integers(0, len(text)))))
        return text[:i] + text[j:]
    # replace one JSON value somewhere in the tree with something of another type
    tree = json.loads(text)
    paths = list(json_paths(tree))
    path = data.draw(st.sampled_from(paths))
    replacement = data.draw(st.one_of(param_value, st.dictionaries(st.text(max_size=3), json_leaf, max_size=2)))
    if not path:
        return json.dumps(replacement)
    target = tree
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = replacement
    return json.dumps(tree)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(EXAMPLES), st.data())
def test_corrupted_files_only_raise_document_errors(example, data):
    text = _corrupt(example.read_text(), data)
    try:
        doc = loads(text, "broken.json")
    except DocumentError as exc:
        assert str(exc).startswith("broken.json")
        return
    validate(doc)


# -- the CLI: one rule for what any file can hold ----------------------------------------------------

DEEP_PARAM = json.dumps(json.loads(EXAMPLES[0].read_text())).replace('"float32"', "[" * 40 + "1" + "]" * 40, 1)


@pytest.mark.parametrize("argv", [["validate"], ["runs"], ["train"], ["export", "--python", "out.py"]])
@pytest.mark.parametrize("text", ["[" * 100_000, DEEP_PARAM, '{"format": "layerloom-graph", "name": "\\udce9"}'])
def test_every_command_calls_a_file_no_document_can_hold_unreadable(tmp_path, monkeypatch, argv, text):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "g.json").write_text(text)
    status, out, err = run_cli([argv[0], "g.json", *argv[1:]])
    assert status == 2 and err.startswith("error: g.json: ") and err.count("\n") == 1, err


def test_text_that_cannot_be_encoded_prints_escaped(tmp_path):
    """A file name that is not valid UTF-8 reaches Python as lone surrogates; printing it must not fail."""
    status, _, err = run_cli(["validate", str(tmp_path / "caf\udce9.json")])
    assert status == 2 and "caf\\udce9.json" in err


def test_a_failed_training_run_is_reported_once(tmp_path):
    data = json.loads(EXAMPLES[0].read_text())
    data["training"]["epochs"] = "many"
    (tmp_path / "g.json").write_text(json.dumps(data))
    status, _, err = run_cli(["train", str(tmp_path / "g.json"), "--out", str(tmp_path / "run")])
    assert status == 1 and err.count("expected a whole number") == 1 and err.startswith("error: "), err


# -- Python export: whatever the graph is called, the .py parses and runs ----------------------------

@pytest.mark.parametrize("name", ['a """ b', "back\\slash", "nul\x00", "lone \udce9", "line\nbreak", "'\"'", "None"])
def test_python_export_survives_any_graph_name(tmp_path, name):
    doc = loads(EXAMPLES[0].read_text())
    doc.name, doc.description = name, name  # the API's constructor path: no name check on the way
    result = export_python(doc, tmp_path / "m.py")
    code = result.code_path.read_text(encoding="utf-8")
    assert ast.get_docstring(ast.parse(code)).startswith(f"{result.class_name}: generated by Layerloom from the "
                                                         f"graph {f'{name}: {name}'!r}")


def test_python_export_that_would_not_parse_is_an_error_not_a_file(tmp_path, monkeypatch):
    monkeypatch.setattr(python_code, "_render", lambda *args: "def broken(:\n")
    with pytest.raises(ExportError, match="does not parse"):
        export_python(loads(EXAMPLES[0].read_text()), tmp_path / "m.py")
    assert not (tmp_path / "m.py").exists()


def test_settings_torchs_repr_leaves_out_still_reach_the_exported_code(tmp_path):
    """`repr(nn.RNN(…, nonlinearity="relu"))` does not say relu: an export rebuilt from it alone was tanh."""
    doc = GraphDocument("relu rnn")
    doc.add_node("Input", {"shape": [5, 3]}, node_id="input1")
    doc.add_node("RNN", {"hidden_size": 4, "nonlinearity": "relu"}, node_id="rnn1")
    doc.add_node("Output", node_id="output1")
    doc.add_edge(Edge("input1", "out", "rnn1", "in"))
    doc.add_edge(Edge("rnn1", "out", "output1", "in"))
    check_python_export(doc, tmp_path)
    assert "nonlinearity='relu'" in (tmp_path / "model.py").read_text()
