"""The graph document: ids, mutations and the events views mirror."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.document import (
    MAX_COORDINATE,
    MAX_NESTING,
    RESERVED_IDS,
    Edge,
    GraphDocument,
    make_node_id,
    node_id_problem,
)
from engine.errors import DocumentError


@pytest.fixture
def events():
    return []


@pytest.fixture
def doc(events):
    doc = GraphDocument()
    doc.subscribe(lambda event, **payload: events.append((event, payload)))
    return doc


def test_ids_are_readable_prefix_plus_first_free_number(doc):
    assert doc.add_node("Linear") == "fc1"
    assert doc.add_node("Linear") == "fc2"
    doc.remove_node("fc1")
    assert doc.add_node("Linear") == "fc1"
    assert doc.add_node("NoSuchType") == "nosuchtype1"


def test_add_node_fills_spec_defaults_under_given_params(doc):
    node_id = doc.add_node("Linear", {"out_features": 10}, (5, 7))
    node = doc.nodes[node_id]
    assert node.params == {"out_features": 10, "bias": True, "init": "default", "tie": ""}
    assert node.position == (5.0, 7.0)


@pytest.mark.parametrize("bad_id", ["1conv", "conv.1", "", "a b", "ü"])
def test_node_ids_must_be_identifiers(doc, bad_id):
    with pytest.raises(DocumentError, match="must start with a letter"):
        doc.add_node("Linear", node_id=bad_id)


def test_duplicate_node_id_is_refused(doc):
    doc.add_node("Linear", node_id="fc")
    with pytest.raises(DocumentError, match="already exists"):
        doc.add_node("ReLU", node_id="fc")


def test_mutations_emit_events_in_order(doc, events):
    a = doc.add_node("Input")
    b = doc.add_node("Linear")
    edge = Edge(a, "out", b, "in")
    doc.add_edge(edge)
    doc.set_param(b, "out_features", 3)
    doc.move_node(b, (10, 20))
    doc.set_training("epochs", 4)
    doc.remove_node(a)
    assert [e for e, _ in events] == [
        "node_added", "node_added", "edge_added", "param_changed", "node_moved", "training_changed",
        "edge_removed", "node_removed",
    ]
    assert events[3][1] == {"node_id": b, "name": "out_features", "value": 3}
    assert events[6][1] == {"edge": edge}
    assert doc.edges == [] and list(doc.nodes) == [b]


def test_edges_need_existing_nodes_and_are_unique(doc):
    a, b = doc.add_node("Input"), doc.add_node("Linear")
    with pytest.raises(DocumentError, match="no node 'ghost'"):
        doc.add_edge(Edge(a, "out", "ghost", "in"))
    doc.add_edge(Edge(a, "out", b, "in"))
    with pytest.raises(DocumentError, match="already exists"):
        doc.add_edge(Edge(a, "out", b, "in"))
    with pytest.raises(DocumentError, match="no wire"):
        doc.remove_edge(Edge(b, "out", a, "in"))


def test_unsubscribed_listener_hears_nothing(doc, events):
    listener = doc._listeners[0]
    doc.unsubscribe(listener)
    doc.add_node("Input")
    assert events == []


def test_replace_with_keeps_listeners_and_announces_reset(doc, events):
    other = GraphDocument("other")
    other.add_node("Input")
    doc.replace_with(other)
    assert events[-1] == ("reset", {})
    assert doc.name == "other" and list(doc.nodes) == ["input1"]


def test_nodes_and_wires_can_be_put_back_in_their_place(doc):
    a, b, c = doc.add_node("Input"), doc.add_node("Linear"), doc.add_node("Output")
    e1, e2 = Edge(a, "out", b, "in"), Edge(b, "out", c, "in")
    doc.add_edge(e1)
    doc.add_edge(e2)
    doc.remove_node(b)
    doc.add_node("Linear", node_id=b, index=1)
    doc.add_edge(e1, 0)
    doc.add_edge(e2, 1)
    assert list(doc.nodes) == [a, b, c] and doc.edges == [e1, e2]


# -- the id rule and what a document may hold ---------------------------------------------------------


@pytest.mark.parametrize("bad_id", ["class", "None", "True", "fc1\n", "__x", "__init__", "_", "_x", "forward",
                                    "training", "to", "cuda", "state_dict", "type", "self", "torch"])
def test_ids_that_would_break_compiled_or_exported_code_are_refused(doc, bad_id):
    assert node_id_problem(bad_id)
    with pytest.raises(DocumentError, match="node id"):
        doc.add_node("Linear", node_id=bad_id)


@pytest.mark.parametrize("good_id", ["fc1", "match", "case", "input", "load", "nn", "Conv_2", "x" * 200])
def test_soft_keywords_and_builtins_are_fine_ids(good_id):
    assert node_id_problem(good_id) is None


def test_reserved_ids_cover_every_attribute_of_torchs_modules():
    """A torch upgrade that adds a Module attribute fails here: add it to RESERVED_IDS."""
    torch, fx = pytest.importorskip("torch"), pytest.importorskip("torch.fx")
    attributes = set(dir(fx.GraphModule(torch.nn.Module(), fx.Graph())))
    assert {name for name in attributes if not name.startswith("_")} <= RESERVED_IDS


@pytest.mark.parametrize(("text", "taken", "expected"), [
    ("/class/Gemm", set(), "class_Gemm"),
    ("class", set(), "class_1"),
    ("7x7", set(), "n_7x7"),
    ("", set(), "node"),
    ("fc1", {"fc1", "fc1_1"}, "fc1_2"),
    ("__init__", set(), "init"),
    ("to", set(), "to_1"),
    ("conv.1 (3×3)", set(), "conv_1_3_3"),
])
def test_make_node_id_turns_any_text_into_a_free_valid_id(text, taken, expected):
    assert make_node_id(text, taken) == expected


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=20), st.sets(st.from_regex(r"[a-z_]{1,6}(_[0-9])?", fullmatch=True), max_size=20))
def test_make_node_id_always_gives_an_id_the_document_takes(text, taken):
    node_id = make_node_id(text, taken)
    assert node_id_problem(node_id) is None and node_id not in taken


@pytest.mark.parametrize("type_id", ["Not A Type", "__x", "123", "class", "to", "ü"])
def test_new_ids_for_unknown_types_are_valid(doc, type_id):
    assert node_id_problem(doc.add_node(type_id)) is None


def _nested(depth: int) -> list:
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_params_nest_at_most_max_nesting_levels_at_any_depth_without_recursion_errors(doc):
    doc.add_node("Linear", {"init": _nested(MAX_NESTING)}, node_id="fc1")
    for depth in (MAX_NESTING + 1, 100_000):
        with pytest.raises(DocumentError, match=r"fc1\.init\[0\]\[0\].*nest too deeply"):
            doc.set_param("fc1", "init", _nested(depth))
        with pytest.raises(DocumentError, match="nest too deeply"):
            doc.add_node("Linear", {"init": _nested(depth)})


@pytest.mark.parametrize(("value", "message"), [
    (10**400, "integer of about 400 digits is too large"),
    ([1, float("inf")], r"fc1\.p\[1\]: inf is not a finite number"),
    ("a\udce9", "lone surrogate"),
    ({"k\x00": 1}, "control characters"),
])
def test_values_no_file_could_hold_are_refused(doc, value, message):
    doc.add_node("Dropout", node_id="fc1")
    with pytest.raises(DocumentError, match=message):
        doc.set_param("fc1", "p", value)


@pytest.mark.parametrize("position", [(1e9 + 1, 0), (0, -(10**400)), (float("nan"), 0), (True, 0), (1,)])
def test_positions_are_two_numbers_within_the_canvas(doc, position):
    with pytest.raises(DocumentError, match="position"):
        doc.add_node("Linear", position=position)
    node_id = doc.add_node("Linear", position=(MAX_COORDINATE, -MAX_COORDINATE))
    with pytest.raises(DocumentError, match="position"):
        doc.move_node(node_id, position)


@pytest.mark.parametrize("name", ["a\x00b", "x\x1b[2J", "\udce9", "  "])
def test_a_graph_name_holds_no_control_characters_or_invalid_text(doc, name):
    with pytest.raises(DocumentError, match="name"):
        doc.set_name(name)
    doc.set_name("tabs\tand\nnewlines are fine")


def test_moving_many_nodes_is_one_event_and_all_or_nothing():
    doc = GraphDocument()
    a, b = doc.add_node("Linear", {"out_features": 4}), doc.add_node("ReLU")
    events = []
    doc.subscribe(lambda event, **payload: events.append((event, payload)))
    doc.move_nodes({a: (10, 20), b: (30.5, -4)})
    assert events == [("nodes_moved", {"positions": {a: (10.0, 20.0), b: (30.5, -4.0)}})]
    with pytest.raises(DocumentError, match=f"{b}: position"):
        doc.move_nodes({a: (1, 1), b: (float("nan"), 0)})
    with pytest.raises(DocumentError, match="no node 'ghost'"):
        doc.move_nodes({a: (1, 1), "ghost": (0, 0)})
    assert doc.nodes[a].position == (10.0, 20.0) and len(events) == 1  # nothing moved, nothing announced
