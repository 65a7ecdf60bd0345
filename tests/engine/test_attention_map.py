"""Attention maps, recomputed from an attention node's qkv projection on its tapped input (inspect/attention.py)."""

from __future__ import annotations

import pytest
import torch
from train_harness import example

from engine.compile import compile_graph
from engine.document import Edge, GraphDocument
from engine.inspect.attention import attention_map, attention_nodes
from engine.inspect.feature_maps import layer_images, layer_view


def attention_graph(causal: bool) -> GraphDocument:
    doc = GraphDocument("attn")
    doc.add_node("Input", {"shape": [5, 8], "dtype": "float32"}, node_id="input1")
    doc.add_node("MultiheadAttention", {"num_heads": 2, "causal": causal}, node_id="attn1")
    doc.add_node("Output", node_id="output1")
    doc.add_edge(Edge("input1", "out", "attn1", "in"))
    doc.add_edge(Edge("attn1", "out", "output1", "in"))
    return doc


@pytest.mark.parametrize("causal", [False, True])
def test_the_recomputed_weights_give_back_the_nodes_own_output(causal):
    module = compile_graph(attention_graph(causal), with_loss=False).module.eval()
    x = torch.randn(3, 5, 8)
    weights = attention_map(module, (x,))  # (heads, T, S) of sample 0
    assert weights.shape == (2, 5, 5) and torch.allclose(weights.sum(-1), torch.ones(2, 5))
    assert (weights.triu(1) == 0).all() == causal  # a causal node never looks ahead
    attn = module.get_submodule(next(n.target for n in module.graph.nodes if n.meta.get("node_id") == "attn1"))
    v = attn.qkv(x[:1]).reshape(1, 5, 3, 2, 4)[:, :, 2].transpose(1, 2)  # (1, heads, T, d)
    rebuilt = attn.proj((weights[None] @ v).transpose(1, 2).flatten(2))
    out = module(x[:1])
    assert torch.allclose(rebuilt, out[0] if isinstance(out, tuple) else out, atol=1e-5)
    assert not torch.allclose(attention_map(module, (x[1:],)), weights)  # another sample, another map


def test_the_layer_dock_draws_the_heads_side_by_side_and_refuses_other_nodes():
    module = compile_graph(attention_graph(False), with_loss=False).module.eval()
    view = layer_view(module, torch.randn(1, 5, 8), "attn1")
    assert view["attention"].shape == (2, 5, 5)
    image = layer_images(view)["attention"]
    assert image.size[0] * 7 == image.size[1] * 13  # two 5 × 5 heads in a row with 1 px gaps (13 × 7), scaled up
    with pytest.raises(ValueError, match="input1 is not an attention node — choose one of attn1"):
        attention_map(module, (torch.randn(1, 5, 8),), "input1")


def test_a_language_models_last_block_is_found_through_its_transformer_blocks():
    doc = example("text_transformer")
    module = compile_graph(doc, with_loss=False).module.eval()
    nodes = attention_nodes(module)
    assert nodes
    tokens = torch.randint(0, 10, (1, 6))
    weights = attention_map(module, (tokens,))
    assert weights.shape[1:] == (6, 6) and torch.allclose(weights.sum(-1), torch.ones(weights.shape[:2]))
