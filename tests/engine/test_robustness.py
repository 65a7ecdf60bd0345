"""Property tests: random edits and corrupted files only ever raise the project's own errors."""

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nodes
from engine.document import Edge, GraphDocument
from engine.errors import DocumentError
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
    paths = list(_paths(tree))
    path = data.draw(st.sampled_from(paths))
    replacement = data.draw(st.one_of(param_value, st.dictionaries(st.text(max_size=3), json_leaf, max_size=2)))
    if not path:
        return json.dumps(replacement)
    target = tree
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = replacement
    return json.dumps(tree)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _paths(item, (*prefix, i))


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
