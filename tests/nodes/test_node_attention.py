"""MultiheadAttention's optional ports: cross-attention (`kv`) and the key-padding mask, against torch's
own nn.MultiheadAttention, through shape inference, validation, compile and ONNX export."""

from __future__ import annotations

import importlib.util
import io
import warnings

import numpy as np
import onnxruntime as ort
import pytest
import torch
from node_harness import check_against_torch
from torch import nn

import nodes
from engine.compile import compile_graph
from engine.document import Edge, GraphDocument
from engine.export.bundle import export_all
from engine.export.weights import load_weights
from engine.validate import validate
from nodes import ShapeError

N = None
SPEC = nodes.get_spec("MultiheadAttention")


def _attention(in_shapes, **params):
    torch.manual_seed(0)
    return SPEC.build(SPEC.resolve(params), in_shapes).eval()


def _oracle(attn) -> nn.MultiheadAttention:
    """torch's attention holding the same weights."""
    embed = attn.proj.in_features
    oracle = nn.MultiheadAttention(embed, attn.num_heads, batch_first=True).eval()
    with torch.no_grad():
        oracle.in_proj_weight.copy_(attn.qkv.weight)
        oracle.in_proj_bias.copy_(attn.qkv.bias)
        oracle.out_proj.weight.copy_(attn.proj.weight)
        oracle.out_proj.bias.copy_(attn.proj.bias)
    return oracle


def _padding(n: int, lengths: list[int], steps: int) -> torch.Tensor:
    """(n, steps) float mask: 1 after each sequence's length."""
    return (torch.arange(steps)[None, :] >= torch.tensor(lengths)[:, None]).float()


@pytest.mark.parametrize("causal", [False, True])
def test_cross_attention_with_a_padding_mask_equals_torch(causal):
    attn = _attention({"in": (N, 4, 8), "kv": (N, 6, 8), "key_padding_mask": (N, 6)}, num_heads=2, causal=causal)
    x, kv, mask = torch.randn(3, 4, 8), torch.randn(3, 6, 8), _padding(3, [6, 4, 5], 6)
    causal_mask = torch.triu(torch.ones(4, 6, dtype=torch.bool), diagonal=1) if causal else None
    expected = _oracle(attn)(x, kv, kv, key_padding_mask=mask.bool(), attn_mask=causal_mask, need_weights=False)[0]
    torch.testing.assert_close(attn(x, kv, mask), expected)
    torch.testing.assert_close(attn(x, kv, mask.bool()), expected)  # a bool mask means the same


def test_a_padded_key_changes_nothing_and_self_attention_is_cross_attention_on_itself():
    attn = _attention({"in": (N, 5, 8), "key_padding_mask": (N, 5)}, num_heads=4)
    x, mask = torch.randn(2, 5, 8), _padding(2, [3, 5], 5)
    changed = x.clone()
    changed[0, 3:] = torch.randn(2, 8)  # only padded keys of sample 0 (the queries there change, so compare 0..2)
    torch.testing.assert_close(attn(changed, mask)[0, :3], attn(x, mask)[0, :3])
    cross = _attention({"in": (N, 5, 8), "kv": (N, 5, 8)}, num_heads=4)
    plain = _attention({"in": (N, 5, 8)}, num_heads=4)
    assert cross.state_dict().keys() == plain.state_dict().keys()  # one weights layout for both modes
    torch.testing.assert_close(cross(x, x), plain(x))


@pytest.mark.parametrize("in_shapes", [
    {"in": (N, 4, 8), "kv": (N, 7, 8)},
    {"in": (N, 4, 8), "key_padding_mask": (N, 4)},
    {"in": (N, 4, 8), "kv": (N, 7, 8), "key_padding_mask": (N, 7)},
])
def test_infer_matches_torch_with_optional_ports(in_shapes):
    check_against_torch(SPEC, {"num_heads": 2, "causal": True}, in_shapes)


@pytest.mark.parametrize(("in_shapes", "port", "words"), [
    ({"in": (N, 4, 8), "kv": (N, 7, 6)}, "kv", ["embedding size 6", "Linear"]),
    ({"in": (N, 4, 8), "kv": (N, 7)}, "kv", ["(N, S, E)"]),
    ({"in": (N, 4, 8), "kv": (N, 7, 8), "key_padding_mask": (N, 4)}, "key_padding_mask", ["(N, 7)"]),
    ({"in": (N, 4, 8), "key_padding_mask": (N, 4, 1)}, "key_padding_mask", ["(N, 4)", "(N, 4, 1)"]),
])
def test_optional_ports_with_wrong_shapes_are_named(in_shapes, port, words):
    with pytest.raises(ShapeError) as info:
        SPEC.infer(SPEC.resolve({}), in_shapes)
    assert info.value.port == port and all(w in info.value.message for w in words), info.value.message


def _decoder_doc(*, kv: bool, mask: bool) -> GraphDocument:
    """queries (5, 8) attending to memory (7, 8), with a padding mask (7,) as a third Input."""
    doc = GraphDocument("cross")
    doc.add_node("Input", {"shape": [5, 8]}, node_id="queries")
    doc.add_node("MultiheadAttention", {"num_heads": 2, "causal": True}, node_id="attn1")
    doc.add_node("Output", node_id="output1")
    doc.add_edge(Edge("queries", "out", "attn1", "in"))
    doc.add_edge(Edge("attn1", "out", "output1", "in"))
    if kv:
        doc.add_node("Input", {"shape": [7, 8]}, node_id="memory")
        doc.add_edge(Edge("memory", "out", "attn1", "kv"))
    if mask:
        doc.add_node("Input", {"shape": [7 if kv else 5]}, node_id="padding")
        doc.add_edge(Edge("padding", "out", "attn1", "key_padding_mask"))
    return doc


@pytest.mark.parametrize(("kv", "mask"), [(False, False), (True, False), (False, True), (True, True)])
def test_a_graph_wiring_any_of_the_optional_ports_validates_compiles_and_runs(kv, mask):
    doc = _decoder_doc(kv=kv, mask=mask)
    report = validate(doc)
    assert not report.errors, report.errors
    assert report.shapes[("attn1", "out")] == (None, 5, 8)
    compiled = compile_graph(doc, with_loss=False)
    assert compiled.module.attn1.cross == kv and compiled.module.attn1.masked == mask
    keys = 7 if kv else 5
    values = {"queries": torch.randn(3, 5, 8), "memory": torch.randn(3, 7, 8),
              "padding": _padding(3, [keys, 2, 4], keys)}
    assert compiled.module(*(values[name] for name in compiled.input_names)).shape == (3, 5, 8)


def test_cross_attention_with_a_mask_exports_to_onnx_with_dynamic_lengths():
    attn = _attention({"in": (N, 4, 8), "kv": (N, 6, 8), "key_padding_mask": (N, 6)}, num_heads=2, causal=True)
    names = ["in", "kv", "key_padding_mask"]
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(attn, (torch.randn(2, 4, 8), torch.randn(2, 6, 8), _padding(2, [6, 3], 6)), buffer,
                          dynamo=False, opset_version=17, input_names=names, output_names=["out"],
                          dynamic_axes={"in": {0: "n", 1: "t"}, "kv": {0: "n", 1: "s"},
                                        "key_padding_mask": {0: "n", 1: "s"}, "out": {0: "n", 1: "t"}})
    session = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    args = (torch.randn(3, 5, 8), torch.randn(3, 9, 8), _padding(3, [9, 2, 6], 9))  # other batch and lengths
    (got,) = session.run(["out"], {name: a.numpy() for name, a in zip(names, args, strict=True)})
    with torch.no_grad():
        np.testing.assert_allclose(got, attn(*args).numpy(), atol=1e-5, rtol=1e-4)


def test_a_cross_attention_graph_exports_to_verified_onnx_and_to_python_code(tmp_path):
    doc = _decoder_doc(kv=True, mask=True)
    result = export_all(doc, onnx=tmp_path / "cross.onnx", python=tmp_path / "cross.py")
    assert result.onnx.passed, result.onnx.summary()
    spec = importlib.util.spec_from_file_location("cross", result.python.code_path)
    code = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(code)  # the code Layerloom just wrote, not data read from a file
    standalone = code.load(result.python.weights_path).eval()
    compiled = compile_graph(doc, with_loss=False)
    load_weights(compiled.module, result.python.weights_path)
    values = {"queries": torch.randn(2, 5, 8), "memory": torch.randn(2, 7, 8), "padding": _padding(2, [7, 3], 7)}
    args = [values[name] for name in compiled.input_names]
    with torch.no_grad():
        torch.testing.assert_close(standalone(*args), compiled.module.eval()(*args))
