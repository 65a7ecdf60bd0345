"""Tied weights: a Linear whose `tie` names an Embedding uses that table as its weight — one tensor, trained
once, saved once, written once to ONNX and to Python code."""

from __future__ import annotations

import importlib.util
import re

import pytest
import torch

from engine.compile import compile_graph
from engine.document import Edge, GraphDocument
from engine.errors import GraphInvalid
from engine.export.python_code import export_python
from engine.validate import revalidate, validate


def tied_lm(tie: str = "emb") -> GraphDocument:
    doc = GraphDocument("tied")
    doc.add_node("Input", {"shape": [5], "dtype": "int64"}, node_id="ids")
    doc.add_node("Embedding", {"num_embeddings": 30, "embedding_dim": 8}, node_id="emb")
    doc.add_node("Linear", {"out_features": 30, "tie": tie}, node_id="head")
    doc.add_node("Output", node_id="logits")
    for edge in (("ids", "out", "emb", "in"), ("emb", "out", "head", "in"), ("head", "out", "logits", "in")):
        doc.add_edge(Edge(*edge))
    return doc


def test_a_tied_linear_uses_the_embedding_table_itself():
    module = compile_graph(tied_lm(), with_loss=False).module
    assert set(module.state_dict()) == {"emb.weight", "head.bias"}
    assert sum(p.numel() for p in module.parameters()) == 30 * 8 + 30
    ids = torch.randint(0, 30, (2, 5))
    expected = module.emb(ids) @ module.emb.weight.T + module.head.bias
    torch.testing.assert_close(module(ids), expected)
    module(ids).sum().backward()  # both uses reach the one table
    with torch.no_grad():
        module.emb.weight.add_(1.0)
    torch.testing.assert_close(module(ids), module.emb(ids) @ module.emb.weight.T + module.head.bias)


@pytest.mark.parametrize("tie, message", [
    ("nothing", "tie names 'nothing', which is no node of the graph — name the Embedding or Linear"),
    ("ids", "tie names 'ids' (Input), which has no weight matrix to share")])
def test_a_tie_to_no_layer_is_reported_on_the_tie_param(tie, message):
    errors = validate(tied_lm(tie)).errors
    assert [(d.node, d.param) for d in errors] == [("head", "tie")] and message in errors[0].message
    with pytest.raises(GraphInvalid, match=re.escape(f"head.tie: {message}")):
        compile_graph(tied_lm(tie), with_loss=False)


def test_a_tie_to_a_weight_of_another_shape_is_reported_and_follows_edits_of_the_owner():
    doc = tied_lm()
    report = validate(doc)
    assert report.ok
    doc.set_param("emb", "num_embeddings", 31)  # the owner changes; the tied layer's own params do not
    errors = revalidate(doc, report, {"emb"}).errors
    assert [(d.node, d.param) for d in errors] == [("head", "tie")]
    assert "tie names 'emb', whose weight is 31 × 8, but this layer multiplies 8 features into 30, which needs " \
           "30 × 8 — set out_features to 31" in errors[0].message
    assert validate(doc).errors == errors


def test_a_tie_to_a_layer_that_shares_its_weight_names_the_holder():
    doc = tied_lm()
    doc.add_node("Linear", {"out_features": 30, "tie": "head"}, node_id="head2")
    doc.add_edge(Edge("emb", "out", "head2", "in"))
    (error,) = validate(doc).errors
    assert (error.node, error.param) == ("head2", "tie") and "name the node that holds it ('emb')" in error.message


def test_the_python_export_writes_the_table_once(tmp_path):
    doc = tied_lm()
    export_python(doc, tmp_path / "model.py")
    code = (tmp_path / "model.py").read_text()
    assert "self.emb.weight" in code and "self.head.weight" not in code
    spec = importlib.util.spec_from_file_location("tied_model", tmp_path / "model.py")
    generated = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generated)
    model = generated.load()
    ids = torch.randint(0, 30, (2, 5))
    torch.testing.assert_close(model(ids), model.emb(ids) @ model.emb.weight.T + model.head.bias)
