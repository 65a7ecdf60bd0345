"""Per-node gradient norms on the device, checked against norms computed one parameter at a time."""

from pathlib import Path

import pytest
import torch

from engine.compile import compile_graph
from engine.document import Edge, GraphDocument
from engine.fileformat import load_document
from engine.gradnorms import GradNorms


def classifier() -> GraphDocument:
    """input1 (4) → fc1 (6) → norm1 (LayerNorm) → relu1 → fc2 (3) → CrossEntropyLoss with target1."""
    doc = GraphDocument()
    doc.add_node("Input", {"shape": [4]}, node_id="input1")
    doc.add_node("Linear", {"out_features": 6}, node_id="fc1")
    doc.add_node("LayerNorm", node_id="norm1")
    doc.add_node("ReLU", node_id="relu1")
    doc.add_node("Linear", {"out_features": 3}, node_id="fc2")
    doc.add_node("Output", node_id="output1")
    doc.add_node("Target", {"shape": [], "dtype": "int64"}, node_id="target1")
    doc.add_node("CrossEntropyLoss", node_id="loss1")
    for src, dst in (("input1", "fc1"), ("fc1", "norm1"), ("norm1", "relu1"), ("relu1", "fc2"), ("fc2", "output1")):
        doc.add_edge(Edge(src, "out", dst, "in"))
    doc.add_edge(Edge("fc2", "out", "loss1", "pred"))
    doc.add_edge(Edge("target1", "out", "loss1", "target"))
    return doc


def naive_norm(module: torch.nn.Module) -> float:
    return torch.cat([p.grad.flatten() for p in module.parameters()]).norm().item()


def test_per_node_and_global_norms_equal_the_naive_ones():
    module = compile_graph(classifier()).module
    norms = GradNorms(module)
    assert norms.node_ids == ["fc1", "norm1", "fc2"]  # parameterised nodes only, in graph order
    module(torch.randn(8, 4), torch.randint(0, 3, (8,)))["loss"].backward()

    per_node, total = norms()
    assert per_node.shape == (3,) and per_node.dtype == torch.float32
    expected = [naive_norm(getattr(module, n)) for n in norms.node_ids]
    torch.testing.assert_close(per_node, torch.tensor(expected))
    all_grads = torch.cat([p.grad.flatten() for p in module.parameters()])
    torch.testing.assert_close(total, all_grads.norm())
    torch.testing.assert_close(total, torch.nn.utils.clip_grad_norm_(module.parameters(), float("inf"), 2.0))


def test_missing_gradients_count_as_zero_and_later_steps_see_new_ones():
    module = compile_graph(classifier()).module
    norms = GradNorms(module)
    per_node, total = norms()
    assert per_node.tolist() == [0.0, 0.0, 0.0] and total.item() == 0.0

    module.fc2.weight.grad = torch.full_like(module.fc2.weight, 2.0)  # 3×6 elements of 2 → norm 2·√18
    per_node, _ = norms()
    torch.testing.assert_close(per_node, torch.tensor([0.0, 0.0, 2.0 * 18**0.5]))

    for p in module.parameters():
        p.grad = torch.ones_like(p)
    per_node, total = norms()
    sizes = [sum(p.numel() for p in getattr(module, n).parameters()) for n in norms.node_ids]
    torch.testing.assert_close(per_node, torch.tensor(sizes, dtype=torch.float32).sqrt())
    torch.testing.assert_close(total, torch.tensor(float(sum(sizes))).sqrt())


def test_a_chosen_subset_of_nodes_and_an_unknown_node():
    module = compile_graph(classifier()).module
    for p in module.parameters():
        p.grad = torch.ones_like(p)
    per_node, total = GradNorms(module, ["fc2"])()
    torch.testing.assert_close(per_node, torch.tensor([(3 * 6 + 3) ** 0.5]))
    torch.testing.assert_close(total, per_node[0])
    with pytest.raises(ValueError, match="relu1"):
        GradNorms(module, ["fc1", "relu1"])


def test_nodes_come_in_graph_order_a_block_instance_where_it_sits():
    """fx registers a block instance's scoped submodule after the plain layers; the heatmap reads in graph order."""
    doc = load_document(Path(__file__).resolve().parents[2] / "resources" / "examples" / "digits_vit.json")
    module = compile_graph(doc).module
    assert [name for name, _ in module.named_children()][-1] == "block1"  # why the order must come from the graph
    assert GradNorms(module).node_ids == ["patches", "pos1", "block1", "norm1", "fc1"]
