"""What the custom modules compute, with torch's own modules and ops as the oracle."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import nodes

N = None


def _build(type_id, params, in_shapes):
    spec = nodes.get_spec(type_id)
    return spec.build(spec.resolve(params), in_shapes)


@pytest.mark.parametrize("causal", [False, True])
def test_self_attention_equals_torch_multihead_attention(causal):
    torch.manual_seed(0)
    attn = _build("MultiheadAttention", {"num_heads": 4, "causal": causal}, {"in": (N, 5, 8)}).eval()
    oracle = nn.MultiheadAttention(8, 4, batch_first=True).eval()
    with torch.no_grad():
        oracle.in_proj_weight.copy_(attn.qkv.weight)
        oracle.in_proj_bias.copy_(attn.qkv.bias)
        oracle.out_proj.weight.copy_(attn.proj.weight)
        oracle.out_proj.bias.copy_(attn.proj.bias)
    x = torch.randn(3, 5, 8)
    mask = torch.triu(torch.ones(5, 5, dtype=torch.bool), diagonal=1) if causal else None
    expected = oracle(x, x, x, attn_mask=mask, need_weights=False)[0]
    torch.testing.assert_close(attn(x), expected)


@pytest.mark.parametrize("type_id", ["MultiheadAttention", "TransformerBlock"])
def test_causal_steps_do_not_see_the_future(type_id):
    torch.manual_seed(0)
    x = torch.randn(2, 6, 8)
    later_changed = x.clone()
    later_changed[:, 4:] = torch.randn(2, 2, 8)
    causal = _build(type_id, {"causal": True}, {"in": (N, 6, 8)}).eval()
    torch.testing.assert_close(causal(later_changed)[:, :4], causal(x)[:, :4])
    assert not torch.allclose(causal(later_changed)[:, 4:], causal(x)[:, 4:])
    full = _build(type_id, {"causal": False}, {"in": (N, 6, 8)}).eval()
    assert not torch.allclose(full(later_changed)[:, :4], full(x)[:, :4])


def test_transformer_block_is_pre_norm_attention_then_mlp():
    torch.manual_seed(0)
    block = _build("TransformerBlock", {"num_heads": 2}, {"in": (N, 4, 8)}).eval()
    x = torch.randn(3, 4, 8)
    h = x + block.attn(F.layer_norm(x, (8,), block.ln1.weight, block.ln1.bias))
    mlp = block.ffn
    assert [type(m) for m in mlp] == [nn.Linear, nn.GELU, nn.Linear] and mlp[0].out_features == 32
    expected = h + mlp[2](F.gelu(mlp[0](F.layer_norm(h, (8,), block.ln2.weight, block.ln2.bias))))
    torch.testing.assert_close(block(x), expected)


def test_rmsnorm_equals_torch_rmsnorm():
    torch.manual_seed(0)
    norm = _build("RMSNorm", {"eps": 1e-3}, {"in": (N, 3, 6)})
    with torch.no_grad():
        norm.weight.uniform_(0.5, 2.0)
    oracle = nn.RMSNorm(6, eps=1e-3)
    oracle.load_state_dict(norm.state_dict())
    x = torch.randn(4, 3, 6)
    torch.testing.assert_close(norm(x), oracle(x))


@pytest.mark.parametrize("dim", [8, 7])
def test_sinusoidal_encoding_follows_the_formula(dim):
    pe = _build("PositionalEncoding", {"max_len": 10}, {"in": (N, 5, dim)})
    x = torch.randn(2, 5, dim)
    added = pe(x) - x
    torch.testing.assert_close(added[0], added[1])  # the same for every sample
    for pos, i in [(0, 0), (3, 2), (4, 5), (2, dim - 1)]:
        angle = pos / 10000 ** ((i - i % 2) / dim)
        expected = math.sin(angle) if i % 2 == 0 else math.cos(angle)
        assert added[0, pos, i].item() == pytest.approx(expected, abs=1e-5)
    assert "pe" not in pe.state_dict()  # fixed, so not saved with the weights


def test_learned_encoding_is_a_trained_weight():
    pe = _build("PositionalEncoding", {"kind": "learned", "max_len": 10}, {"in": (N, 5, 4)})
    pe(torch.randn(2, 5, 4)).pow(2).sum().backward()
    assert pe.pe.grad[:5].abs().sum() > 0 and pe.pe.grad[5:].abs().sum() == 0  # only the used positions
    assert "pe" in pe.state_dict()


def test_bidirectional_last_is_both_directions_at_the_final_step():
    torch.manual_seed(0)
    node = _build("LSTM", {"hidden_size": 3, "bidirectional": True, "num_layers": 2}, {"in": (N, 5, 2)}).eval()
    x = torch.randn(4, 5, 2)
    every_step, (h_n, _) = node.rnn(x)
    last = node(x)
    torch.testing.assert_close(last[:, :3], h_n[-2])  # forward direction: its final state
    torch.testing.assert_close(last[:, 3:], every_step[:, -1, 3:])  # backward: after reading only the last step
    node.last = False
    torch.testing.assert_close(node(x), every_step)


def test_cross_entropy_per_step_equals_torch():
    torch.manual_seed(0)
    loss = _build("CrossEntropyLoss", {"label_smoothing": 0.1}, {"pred": (N, 4, 6), "target": (N, 4)})
    pred, target = torch.randn(3, 4, 6), torch.randint(0, 6, (3, 4))
    expected = F.cross_entropy(pred.transpose(1, 2), target, label_smoothing=0.1)  # torch's (N, C, T) form
    torch.testing.assert_close(loss(pred, target), expected)
    flat = _build("CrossEntropyLoss", {}, {"pred": (N, 6), "target": (N,)})
    torch.testing.assert_close(flat(pred[:, 0], target[:, 0]), F.cross_entropy(pred[:, 0], target[:, 0]))


def test_shape_nodes_move_values_like_torch():
    x = torch.randn(2, 3, 4, 5)
    torch.testing.assert_close(_build("Reshape", {"shape": [4, -1]}, {"in": (N, 3, 4, 5)})(x), x.reshape(2, 4, 15))
    torch.testing.assert_close(_build("Permute", {"dims": [3, 1, 2]}, {"in": (N, 3, 4, 5)})(x), x.permute(0, 3, 1, 2))
    torch.testing.assert_close(_build("Slice", {"dim": 2, "start": 1, "end": -1}, {"in": (N, 3, 4, 5)})(x),
                               x[:, :, 1:-1])
    a, b = _build("Split", {"dim": -1, "index": 2}, {"in": (N, 3, 4, 5)})(x)
    torch.testing.assert_close(a, x[..., :2])
    torch.testing.assert_close(b, x[..., 2:])
    y = torch.randn(2, 3, 4, 1)
    torch.testing.assert_close(_build("Concat", {"dim": -1}, {"a": (N, 3, 4, 5), "b": (N, 3, 4, 1)})(x, y),
                               torch.cat([x, y], -1))
    torch.testing.assert_close(_build("Add", {}, {"a": (N, 3), "b": (N, 3)})(x, x), 2 * x)
    torch.testing.assert_close(_build("Multiply", {}, {"a": (N, 3), "b": (N, 3)})(x, x), x * x)
