"""Tied weights: a Linear whose `tie` names an Embedding uses that table as its weight — one tensor, trained
once, saved once, written once to ONNX and to Python code."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from engine.compile import compile_graph
from engine.document import Edge, GraphDocument
from engine.errors import CompileError
from engine.export.python_code import export_python


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


@pytest.mark.parametrize("tie, message", [("nothing", "'nothing', which is no layer"),
                                          ("ids", "'ids', which is no layer")])
def test_a_tie_to_no_layer_is_refused_naming_the_node(tie, message):
    with pytest.raises(CompileError, match=f"head \\(Linear\\): its tie names {message}"):
        compile_graph(tied_lm(tie), with_loss=False)


def test_a_tie_to_a_weight_of_another_shape_is_refused():
    doc = tied_lm()
    doc.set_param("head", "out_features", 31)
    with pytest.raises(CompileError, match=r"head \(Linear\): cannot share the weight of 'emb': needs a weight of "
                                           r"shape \(31, 8\)"):
        compile_graph(doc, with_loss=False)


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
