"""The graph document: ids, mutations and the events views mirror."""

import pytest

from engine.document import Edge, GraphDocument
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
    assert node.params == {"out_features": 10, "bias": True, "init": "default"}
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
