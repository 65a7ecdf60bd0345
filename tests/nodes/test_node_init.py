"""The init param: nodes.common.apply_init re-draws weights by the chosen scheme and zeroes biases."""

from __future__ import annotations

import math

import pytest
import torch
from node_harness import build

import nodes


def _weight(type_id, params, in_shapes, name="weight"):
    torch.manual_seed(0)
    spec = nodes.get_spec(type_id)
    module = build(spec, spec.resolve(params), in_shapes)
    return dict(module.named_parameters())[name], module


@pytest.mark.parametrize(("type_id", "in_shapes", "fan_in", "fan_out"), [
    ("Linear", {"in": (None, 800)}, 800, 400),
    ("Conv2d", {"in": (None, 32, 8, 8)}, 32 * 9, 400 * 9),
])
def test_schemes_follow_their_formulas(type_id, in_shapes, fan_in, fan_out):
    width = {"Linear": {"out_features": 400}, "Conv2d": {"out_channels": 400}}[type_id]
    default, _ = _weight(type_id, width, in_shapes)
    kaiming, module = _weight(type_id, width | {"init": "kaiming"}, in_shapes)
    xavier, _ = _weight(type_id, width | {"init": "xavier"}, in_shapes)
    he_std = math.sqrt(2 / fan_in)
    assert kaiming.std().item() == pytest.approx(he_std, rel=0.05)
    assert default.std().item() < 0.5 * he_std  # torch's default is U(±1/√fan_in): std √(1/3·fan_in)
    glorot = math.sqrt(6 / (fan_in + fan_out))
    assert xavier.abs().max().item() <= glorot
    assert xavier.std().item() == pytest.approx(glorot / math.sqrt(3), rel=0.05)
    assert torch.count_nonzero(module.bias) == 0


def test_init_reaches_weights_inside_composite_layers():
    _, block = _weight("TransformerBlock", {"init": "kaiming"}, {"in": (None, 4, 64)}, name="attn.qkv.weight")
    qkv = block.attn.qkv.weight
    assert qkv.std().item() == pytest.approx(math.sqrt(2 / 64), rel=0.1)
    assert torch.equal(block.ln1.weight, torch.ones(64))  # norms keep their scale of one
    _, lstm = _weight("LSTM", {"init": "xavier", "hidden_size": 16}, {"in": (None, 3, 1024)}, name="rnn.weight_ih_l0")
    bound = math.sqrt(6 / (1024 + 64))  # weight_ih_l0 is (4·hidden, in); torch's default is U(±1/√hidden) = ±0.25
    assert lstm.rnn.weight_ih_l0.abs().max().item() <= bound
    assert lstm.rnn.weight_ih_l0.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.05)
    assert torch.count_nonzero(lstm.rnn.bias_ih_l0) == 0
