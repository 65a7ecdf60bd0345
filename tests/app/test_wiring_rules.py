"""The canvas refuses a misfitting wire from the current validation, trying it on its target alone
(`engine.validate.trial_wire`); that must say exactly what validating a copy with the wire added says."""

import itertools
import random
from pathlib import Path

from app.wiring import _cycle, new_error, structural_refusal
from engine.blocks import has_blocks
from engine.document import Edge
from engine.fileformat import from_dict, load_document, to_dict
from engine.validate import trial_wire, validate
from nodes import get_spec

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "resources" / "examples").glob("*.json"))


def _copy_says(doc, report, edge):
    trial = from_dict(to_dict(doc))
    trial.add_edge(edge)
    return new_error(edge, set(report.for_node(edge.dst)), validate(trial))


def _candidate_wires(doc):
    outputs = [(n, p.name) for n, node in doc.nodes.items() if (spec := get_spec(node.type_id)) for p in spec.outputs]
    inputs = [(n, p.name) for n, node in doc.nodes.items() if (spec := get_spec(node.type_id)) for p in spec.inputs]
    return [Edge(s, sp, d, dp) for (s, sp), (d, dp) in itertools.product(outputs, inputs)]


def test_trying_a_wire_on_its_target_says_what_validating_a_copy_says():
    tried = refused = 0
    for path in EXAMPLES:
        doc = load_document(path)
        if has_blocks(doc):
            continue
        # free a few inputs, so that there are wires to try into nodes that already have some
        for edge in random.Random(path.stem).sample(doc.edges, 3):
            doc.remove_edge(edge)
        report = validate(doc)
        for edge in _candidate_wires(doc):
            if structural_refusal(doc, edge, True, True):
                continue
            trial = trial_wire(doc, report, edge)
            assert trial is not None
            said = new_error(edge, set(report.for_node(edge.dst)), trial)
            assert said == _copy_says(doc, report, edge), (path.stem, edge)
            tried, refused = tried + 1, refused + bool(said)
    assert tried > 50 and refused > 5  # some wires fit and some do not


def test_a_wire_into_a_node_added_since_the_last_validation_is_tried_as_on_a_copy():
    """Tab quick-add adds a node and wires it at once, before a big graph's validation has run again."""
    tried = refused = 0
    for path in EXAMPLES:
        doc = load_document(path)
        if has_blocks(doc):
            continue
        report = validate(doc)
        for type_id, params in (("Linear", {"out_features": 7}), ("Conv2d", {}), ("ReLU", {}), ("Embedding", {}),
                                  ("Linear", {"out_features": 0})):
            new = doc.add_node(type_id, params)
            for edge in _candidate_wires(doc):
                if edge.dst != new or edge.src == new:
                    continue
                trial = trial_wire(doc, report, edge)
                assert trial is not None
                said = new_error(edge, set(), trial)
                assert said == _copy_says(doc, validate(doc), edge), (path.stem, edge)
                tried, refused = tried + 1, refused + bool(said)
            doc.remove_node(new)
    assert tried > 50 and refused > 10


def test_a_cycle_is_named_by_its_shortest_way_round():
    doc = from_dict({"format": "layerloom-graph", "version": 2, "nodes": [
        {"id": n, "type": "ReLU", "params": {}, "position": [0, 0]} for n in "abcd"],
        "edges": [{"from": "a.out", "to": "b.in"}, {"from": "b.out", "to": "c.in"}, {"from": "c.out", "to": "d.in"},
                  {"from": "a.out", "to": "d.in"}]})
    assert _cycle(doc, Edge("d", "out", "a", "in")) == ["a", "d", "a"]
    assert _cycle(doc, Edge("c", "out", "b", "in")) == ["b", "c", "b"]
    assert _cycle(doc, Edge("a", "out", "a", "in")) == ["a", "a"]
    assert _cycle(doc, Edge("a", "out", "c", "in")) is None
