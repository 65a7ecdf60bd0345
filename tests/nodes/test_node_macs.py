"""Every spec's closed-form `macs` rule against torch's FlopCounterMode running the real module (on meta tensors)."""

from __future__ import annotations

import pytest
import torch
from node_harness import BATCH, buildable_specs
from torch.utils.flop_counter import FlopCounterMode

import nodes

N = None
VARIANTS = [  # params and input shapes beyond the defaults, where a rule has a case of its own
    ("Linear", {"out_features": 7}, {"in": (N, 5, 4)}),
    ("Conv1d", {"out_channels": 5, "kernel_size": 4, "stride": 2, "padding": 1, "dilation": 2}, {"in": (N, 3, 17)}),
    ("Conv2d", {"out_channels": 5, "stride": 2, "padding": 1}, {"in": (N, 4, 7, 9)}),
    ("ConvTranspose2d", {"out_channels": 3, "kernel_size": 4, "output_padding": 1}, {"in": (N, 5, 3, 4)}),
    *((kind, {"hidden_size": 6, "num_layers": layers, "bidirectional": both, "output": "all"}, {"in": (N, 7, 4)})
      for kind in ("RNN", "LSTM", "GRU") for layers in (1, 3) for both in (False, True)),
    ("MultiheadAttention", {"num_heads": 4, "causal": True, "bias": False}, {"in": (N, 9, 12)}),
    ("TransformerBlock", {"num_heads": 1, "causal": True}, {"in": (N, 3, 10)}),
    ("Op", {"op": "bmm"}, {"a": (N, 3, 4), "b": (N, 4, 5)}),  # a generic matrix product counts its multiply-adds
]
CASES = [(spec.type_id, {}, dict(spec.example_inputs)) for spec in buildable_specs()] + VARIANTS


def measured_macs(spec: nodes.NodeSpec, params, in_shapes) -> int:
    """What FlopCounterMode counts for one forward pass (its FLOPs are 2 per multiply-add)."""
    with torch.device("meta"):
        module = spec.build(params, in_shapes)
    args = []
    for port in spec.inputs:
        if port.name in in_shapes:
            size = [BATCH if dim is None else dim for dim in in_shapes[port.name]]
            dtype = "float32" if port.dtype == "any" else port.dtype  # a Parameter's like port reads any wire
            args.append(torch.empty(size, dtype=getattr(torch, dtype), device="meta"))
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(*args)
    return counter.get_total_flops() // 2


@pytest.mark.parametrize(("type_id", "params", "in_shapes"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_closed_form_macs_equal_torchs_count(type_id, params, in_shapes):
    spec = nodes.get_spec(type_id)
    params = spec.resolve(params)
    outs = spec.infer(params, in_shapes)
    concrete = {port: tuple(BATCH if d is None else d for d in shape) for port, shape in in_shapes.items()}
    out_concrete = {port: tuple(BATCH if d is None else d for d in shape) for port, shape in outs.items()}
    predicted = 0 if spec.macs is None else spec.macs(params, concrete, out_concrete)
    assert predicted == measured_macs(spec, params, in_shapes)


def test_recurrent_and_attention_macs_grow_with_the_sequence_as_their_maths_says():
    lstm, attention = nodes.get_spec("LSTM"), nodes.get_spec("MultiheadAttention")

    def macs(spec, steps):
        params = spec.resolve({})
        shape = (2, steps, 8)
        return spec.macs(params, {"in": shape}, {"out": (2, 64)})

    assert macs(lstm, 100_000) == 1000 * macs(lstm, 100)  # linear in T
    quadratic = macs(attention, 2000) - 2 * macs(attention, 1000)  # the T² part: scores and their mix of v
    assert quadratic == 2 * 2 * (2000**2 - 2 * 1000**2) * 8
