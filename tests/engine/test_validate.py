"""Validation reports every problem at once, each on the node and port at fault."""

import pytest

from engine.document import Edge, GraphDocument
from engine.validate import validate


def mlp(input_shape=(784,)) -> GraphDocument:
    """input1 → fc1 → relu1 → fc2 → output1."""
    doc = GraphDocument()
    doc.add_node("Input", {"shape": list(input_shape)}, node_id="input1")
    doc.add_node("Linear", {"out_features": 32}, node_id="fc1")
    doc.add_node("ReLU", node_id="relu1")
    doc.add_node("Linear", {"out_features": 10}, node_id="fc2")
    doc.add_node("Output", node_id="output1")
    for a, b in [("input1", "fc1"), ("fc1", "relu1"), ("relu1", "fc2"), ("fc2", "output1")]:
        doc.add_edge(Edge(a, "out", b, "in"))
    return doc


def only_error(report):
    assert len(report.errors) == 1, [str(d) for d in report.diagnostics]
    return report.errors[0]


def test_valid_graph_has_no_diagnostics_and_a_shape_on_every_wire():
    doc = mlp()
    report = validate(doc)
    assert report.ok and report.diagnostics == []
    assert [report.edge_shape(e) for e in doc.edges] == [(None, 784), (None, 32), (None, 32), (None, 10)]
    assert report.order.index("fc1") < report.order.index("fc2")


def test_shape_mismatch_is_reported_where_it_happens_with_expected_and_actual():
    report = validate(mlp(input_shape=(1, 28, 28)))
    error = only_error(report)
    assert (error.node, error.port) == ("fc1", "in")
    assert str(error) == "fc1.in: expected (N, features) or (N, T, features), got (N, 1, 28, 28) — add Flatten"
    assert ("fc2", "out") not in report.shapes  # nothing downstream of the fault is guessed


def test_cycle_names_every_node_in_the_loop():
    doc = mlp()
    doc.remove_edge(Edge("input1", "out", "fc1", "in"))
    doc.add_edge(Edge("fc2", "out", "fc1", "in"))
    cycle = [d for d in validate(doc).errors if "cycle" in d.message]
    assert sorted(d.node for d in cycle) == ["fc1", "fc2", "relu1"]
    assert all("fc1 → relu1 → fc2 → fc1" in d.message for d in cycle)


def test_self_loop_is_a_cycle():
    doc = mlp()
    doc.add_node("ReLU", node_id="loop")
    doc.add_edge(Edge("loop", "out", "loop", "in"))
    assert any(d.node == "loop" and "cycle (loop → loop)" in d.message for d in validate(doc).errors)


def test_unknown_node_type_is_named():
    doc = mlp()
    doc.add_node("Wobble", node_id="w1")
    doc.add_edge(Edge("relu1", "out", "w1", "in"))
    error = only_error(validate(doc))
    assert error.node == "w1" and "unknown node type 'Wobble'" in error.message


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [("out_features", 0, "must be ≥ 1, got 0"), ("out_features", 2.5, "expected an integer"),
     ("bias", "yes", "expected true or false"), ("init", "orthogonal", "expected one of default, kaiming, xavier")],
)
def test_bad_param_is_named(name, value, fragment):
    doc = mlp()
    doc.set_param("fc1", name, value)
    error = only_error(validate(doc))
    assert (error.node, error.param) == ("fc1", name)
    assert fragment in error.message


def test_unknown_param_is_a_warning_not_an_error():
    doc = mlp()
    doc.set_param("relu1", "inplace", True)
    report = validate(doc)
    assert report.ok
    assert [(d.severity, d.node, d.param) for d in report.diagnostics] == [("warning", "relu1", "inplace")]


def test_unconnected_required_input_is_named():
    doc = mlp()
    doc.remove_edge(Edge("fc1", "out", "relu1", "in"))
    errors = validate(doc).errors
    assert any((d.node, d.port) == ("relu1", "in") and "not connected" in d.message for d in errors)


def test_two_wires_into_one_input_are_refused_on_that_port():
    doc = mlp()
    doc.add_edge(Edge("fc1", "out", "fc2", "in"))
    error = only_error(validate(doc))
    assert (error.node, error.port) == ("fc2", "in")
    assert "two wires into one input (from relu1 and fc1)" in error.message


def test_wire_to_a_port_the_node_does_not_have():
    doc = mlp()
    doc.add_node("ReLU", node_id="relu2")
    doc.add_edge(Edge("relu1", "bogus", "relu2", "in"))
    errors = validate(doc).errors
    assert any((d.node, d.port) == ("relu1", "bogus") and "no output port" in d.message for d in errors)
    assert any((d.node, d.port) == ("relu2", "in") and "not connected" in d.message for d in errors)


def test_part_not_reached_from_any_input():
    doc = mlp()
    doc.add_node("Linear", node_id="island")
    doc.add_node("ReLU", node_id="island2")
    doc.add_edge(Edge("island2", "out", "island", "in"))
    errors = validate(doc).errors
    unreached = {d.node for d in errors if "not connected to any Input" in d.message}
    assert unreached == {"island", "island2"}


def test_graph_without_output_or_loss():
    doc = mlp()
    doc.remove_node("output1")
    error = only_error(validate(doc))
    assert error.node is None and "no Output or loss" in error.message


def test_graph_without_input():
    doc = GraphDocument()
    doc.add_node("Output")
    messages = [d.message for d in validate(doc).errors]
    assert any("no Input node" in m for m in messages)


def test_many_problems_are_all_reported_at_once():
    doc = mlp(input_shape=(1, 28, 28))
    doc.set_param("fc2", "out_features", -1)
    doc.add_node("Wobble", node_id="w1")
    nodes = {d.node for d in validate(doc).errors}
    assert {"fc1", "fc2", "w1"} <= nodes


def test_source_dtype_must_suit_the_port_it_feeds():
    doc = GraphDocument()
    doc.add_node("Input", {"shape": [8], "dtype": "float32"}, node_id="tokens")
    doc.add_node("Embedding", {"num_embeddings": 10, "embedding_dim": 4}, node_id="embed1")
    doc.add_node("Output", node_id="output1")
    doc.add_edge(Edge("tokens", "out", "embed1", "in"))
    doc.add_edge(Edge("embed1", "out", "output1", "in"))
    error = only_error(validate(doc))
    assert (error.node, error.port) == ("embed1", "in")
    assert error.message == "expects int64 values, but tokens gives float32 — set the dtype of tokens to int64"
    doc.set_param("tokens", "dtype", "int64")
    assert validate(doc).ok
    doc.add_node("Linear", node_id="fc1")
    doc.add_node("Output", node_id="output2")
    doc.add_edge(Edge("tokens", "out", "fc1", "in"))
    doc.add_edge(Edge("fc1", "out", "output2", "in"))
    assert [(d.node, d.port) for d in validate(doc).errors] == [("fc1", "in")]


def test_element_types_follow_values_through_reshaping_and_merging_nodes():
    """int64 ids reshaped on their way into a Linear or GRU validated, then export died with a traceback
    (`mat1 and mat2 must have the same dtype`): a reshaping node passes its input's type on."""
    doc = GraphDocument()
    doc.add_node("Input", {"shape": [3, 4], "dtype": "int64"}, node_id="ids")
    doc.add_node("Reshape", {"shape": [12]}, node_id="reshape1")
    doc.add_node("Linear", {"out_features": 2}, node_id="fc1")
    doc.add_node("Output", node_id="output1")
    for a, b in [("ids", "reshape1"), ("reshape1", "fc1"), ("fc1", "output1")]:
        doc.add_edge(Edge(a, "out", b, "in"))
    report = validate(doc)
    error = only_error(report)
    assert (error.node, error.port) == ("fc1", "in")
    assert error.message == ("expects float32 values, but reshape1 gives int64 (passed on from ids) — set the dtype "
                             "of ids to float32")
    assert report.dtypes[("reshape1", "out")] == "int64" and report.dtypes[("fc1", "out")] == "float32"
    doc.set_param("ids", "dtype", "float32")
    assert validate(doc).ok

    doc.add_node("Input", {"shape": [12], "dtype": "int64"}, node_id="more")
    doc.add_node("Add", node_id="add1")
    doc.remove_edge(Edge("reshape1", "out", "fc1", "in"))
    for a, b, port in [("reshape1", "add1", "a"), ("more", "add1", "b"), ("add1", "fc1", "in")]:
        doc.add_edge(Edge(a, "out", b, port))
    report = validate(doc)
    assert report.ok and report.dtypes[("add1", "out")] == "float32"  # float + int64: torch promotes to float
    doc.set_param("ids", "dtype", "int64")
    assert "but add1 gives int64 (passed on from ids)" in only_error(validate(doc)).message


def test_an_index_port_fed_by_a_layer_says_where_indices_come_from():
    doc = sequence(5, ("fc1", "Linear", {"out_features": 3}), ("reduce1", "Reduce", {"dim": -1}),
                   ("embed2", "Embedding", {"num_embeddings": 9}))
    error = only_error(validate(doc))
    assert (error.node, error.port) == ("embed2", "in")
    assert error.message == ("expects int64 values, but reduce1 gives float32 — int64 values come from an Input or "
                             "Target of dtype int64")


def sequence(length: int, *layers) -> GraphDocument:
    """int64 tokens (N, length) → Embedding(50, 8) → layers… → output1."""
    doc = GraphDocument()
    doc.add_node("Input", {"shape": [length], "dtype": "int64"}, node_id="tokens")
    doc.add_node("Embedding", {"num_embeddings": 50, "embedding_dim": 8}, node_id="embed1")
    previous = "embed1"
    doc.add_edge(Edge("tokens", "out", "embed1", "in"))
    for node_id, type_id, params in layers:
        doc.add_node(type_id, params, node_id=node_id)
        doc.add_edge(Edge(previous, "out", node_id, "in"))
        previous = node_id
    doc.add_node("Output", node_id="output1")
    doc.add_edge(Edge(previous, "out", "output1", "in"))
    return doc


def test_a_sequence_longer_than_the_positional_table_names_the_node_and_both_lengths():
    error = only_error(validate(sequence(600, ("pos1", "PositionalEncoding", {"max_len": 512}),
                                         ("attn1", "MultiheadAttention", {}))))
    assert (error.node, error.port) == ("pos1", "in")
    assert "sequence length 600" in error.message and "max_len 512" in error.message
    assert validate(sequence(512, ("pos1", "PositionalEncoding", {"max_len": 512}))).ok


def test_group_norm_with_one_value_per_group_is_an_error_on_the_node():
    """It would normalise every value to 0 — and torch refuses a batch of one (inference, export checks)."""
    doc = sequence(6, ("flat1", "Flatten", {}), ("fc1", "Linear", {"out_features": 4}),
                   ("gn1", "GroupNorm", {"num_groups": 4}))
    error = only_error(validate(doc))
    assert (error.node, error.port) == ("gn1", "in") and "single value" in error.message
    doc.set_param("gn1", "num_groups", 2)
    assert validate(doc).ok



def test_a_loss_or_output_node_called_loss_is_refused_as_reserved_at_validation_not_at_train():
    """The trainer's module returns the summed loss under the key "loss": a node of that id validated, then
    train refused it as reserved."""
    import json
    from pathlib import Path

    from engine.fileformat import from_dict, load_document, to_dict

    doc = load_document(Path(__file__).parents[2] / "resources/examples/digits_mlp.json")
    (loss_id,) = [n for n, s in doc.nodes.items() if s.type_id == "CrossEntropyLoss"]
    assert validate(doc).ok
    text = json.dumps(to_dict(doc)).replace(f'"{loss_id}"', '"loss"').replace(f'"{loss_id}.', '"loss.')
    report = validate(from_dict(json.loads(text)))
    assert [(d.node, "reserved" in d.message) for d in report.errors] == [("loss", True)]
