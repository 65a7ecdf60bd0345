"""Hand-picked non-default params per family: `infer` must agree with the real torch module."""

from __future__ import annotations

import pytest
from node_harness import check_against_torch

import nodes

N = None
CASES = [
    ("Linear", {"out_features": 5}, {"in": (N, 4, 7)}),
    ("Conv1d", {"stride": 2, "padding": 1, "dilation": 2}, {"in": (N, 3, 11)}),
    ("Conv2d", {"out_channels": 4, "kernel_size": 5, "stride": 2, "padding": 2, "bias": False}, {"in": (N, 2, 9, 7)}),
    ("Conv2d", {"kernel_size": 1, "init": "kaiming"}, {"in": (N, 3, 4, 4)}),
    ("ConvTranspose2d", {"kernel_size": 3, "stride": 2, "padding": 1, "output_padding": 1}, {"in": (N, 4, 7, 5)}),
    ("ConvTranspose2d", {"stride": 1, "dilation": 2, "init": "xavier"}, {"in": (N, 2, 3, 3)}),
    ("Upsample", {"scale_factor": 3, "mode": "bilinear"}, {"in": (N, 2, 3, 5)}),
    ("MaxPool2d", {"kernel_size": 3, "stride": 2, "padding": 1}, {"in": (N, 3, 9, 8)}),
    ("AvgPool2d", {"kernel_size": 2, "stride": 1}, {"in": (N, 3, 5, 5)}),
    ("AvgPool1d", {"kernel_size": 3}, {"in": (N, 2, 10)}),
    ("MaxPool1d", {"kernel_size": 4, "stride": 1, "padding": 2}, {"in": (N, 2, 6)}),
    ("MaxPool2d", {"kernel_size": 3, "stride": 2, "ceil_mode": True}, {"in": (N, 3, 8, 8)}),  # SqueezeNet: 4×4
    ("MaxPool1d", {"kernel_size": 2, "stride": 1, "dilation": 3, "ceil_mode": True}, {"in": (N, 2, 9)}),
    ("AvgPool2d", {"kernel_size": 2, "ceil_mode": True, "count_include_pad": False}, {"in": (N, 3, 5, 7)}),
    ("AvgPool2d", {"kernel_shape": [1, 3], "strides": [1, 2], "padding": 0}, {"in": (N, 3, 4, 9)}),
    ("Parameter", {"shape": [1, 8], "init": "zeros"}, {"like": (N, 5, 8)}),  # ViT's class token
    ("Constant", {"shape": [4, 1, 1], "value": 0.5}, {"like": (N, 4, 3, 3)}),
    ("Chunk", {"chunks": 4, "index": 2, "dim": 1}, {"in": (N, 5, 3)}),  # torch.chunk: pieces of 2, 2, 1
    ("Chunk", {"chunks": 2, "index": 1, "dim": -1}, {"in": (N, 3, 7)}),
    ("ChannelShuffle", {"groups": 3}, {"in": (N, 6, 2, 2)}),
    ("Op", {"op": "cumsum", "args": '{"dim": 1}'}, {"a": (N, 4, 2)}),
    ("AdaptiveAvgPool2d", {"output_size": 3}, {"in": (N, 2, 7, 5)}),
    ("BatchNorm1d", {"momentum": 0.5}, {"in": (N, 4, 7)}),
    ("BatchNorm1d", {}, {"in": (N, 5)}),
    ("LayerNorm", {"eps": 1e-3}, {"in": (N, 2, 3, 5)}),
    ("RMSNorm", {}, {"in": (N, 6)}),
    ("GroupNorm", {"num_groups": 4}, {"in": (N, 8, 3)}),
    ("Dropout", {"p": 0.3}, {"in": (N, 2, 3)}),
    ("Flatten", {"start_dim": 2}, {"in": (N, 2, 3, 4)}),
    ("Reshape", {"shape": [2, -1]}, {"in": (N, 3, 4)}),
    ("Reshape", {"shape": [4, 1, 3]}, {"in": (N, 12)}),
    ("Reshape", {"batch": "merge", "shape": [2, 2]}, {"in": (N, 3, 4)}),  # (N, 3, 4) → (N·3, 2, 2)
    ("Reshape", {"batch": "merge", "shape": [-1]}, {"in": (N, 5, 2, 3)}),
    ("Reshape", {"batch": "split", "batch_split": 4, "shape": [3, -1]}, {"in": (N, 6)}),  # (N·4, 6) → (N, 4, 3, 2)
    ("Permute", {"dims": [3, 1, 2]}, {"in": (N, 2, 3, 4)}),
    ("Slice", {"dim": 1, "start": 1, "end": 3}, {"in": (N, 5, 4)}),
    ("Slice", {"start": -2}, {"in": (N, 5, 4)}),
    ("Split", {"dim": 1, "index": 2}, {"in": (N, 5, 3)}),
    ("Split", {"index": -1}, {"in": (N, 2, 4)}),
    ("Concat", {"dim": -1}, {"a": (N, 2, 3), "b": (N, 2, 1), "c": (N, 2, 4)}),
    ("Concat", {}, {"a": (N, 1, 3), "b": (N, 2, 3), "c": (N, 3, 3), "d": (N, 4, 3)}),
    ("Multiply", {}, {"a": (N, 2, 3, 4), "b": (N, 2, 3, 4)}),
    ("Multiply", {}, {"a": (N, 2, 1, 1), "b": (N, 2, 3, 4)}),
    ("Add", {}, {"a": (N, 1, 3), "b": (N, 4, 1)}),
    ("Subtract", {}, {"a": (N, 5, 1), "b": (N, 5, 3)}),
    ("Divide", {}, {"a": (N, 2, 3), "b": (N, 1, 3)}),
    ("Pow", {"exponent": 3.0}, {"in": (N, 2, 3)}),
    ("Clamp", {"use_min": False, "max": 0.5}, {"in": (N, 4)}),
    ("Clamp", {"use_max": False, "min": -0.5}, {"in": (N, 4)}),
    ("Hardtanh", {"min_val": -2.0, "max_val": 3.0}, {"in": (N, 4, 2)}),
    ("Embedding", {"num_embeddings": 5, "embedding_dim": 3}, {"in": (N,)}),
    ("PositionalEncoding", {"kind": "learned", "max_len": 6}, {"in": (N, 6, 5)}),
    ("PositionalEncoding", {}, {"in": (N, 4, 7)}),  # odd D
    ("RNN", {"hidden_size": 3, "num_layers": 2, "dropout": 0.2, "output": "all", "bidirectional": True,
             "nonlinearity": "relu"}, {"in": (N, 4, 2)}),
    ("LSTM", {"hidden_size": 5, "bidirectional": True}, {"in": (N, 4, 2)}),
    ("GRU", {"hidden_size": 3, "num_layers": 2, "output": "all", "bias": False}, {"in": (N, 6, 2)}),
    ("MultiheadAttention", {"num_heads": 4, "causal": True, "bias": False}, {"in": (N, 5, 8)}),
    ("TransformerBlock", {"num_heads": 1, "dropout": 0.1, "causal": True}, {"in": (N, 3, 6)}),
    ("CrossEntropyLoss", {"label_smoothing": 0.1}, {"pred": (N, 4, 6), "target": (N, 4)}),
    ("BCEWithLogitsLoss", {}, {"pred": (N, 3, 2), "target": (N, 3, 2)}),
    ("L1Loss", {}, {"pred": (N,), "target": (N,)}),
    ("LeakyReLU", {"negative_slope": 0.2}, {"in": (N, 3)}),
    ("Softmax", {"dim": 1}, {"in": (N, 3, 2)}),
]


@pytest.mark.parametrize(("type_id", "params", "in_shapes"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_infer_matches_torch(type_id, params, in_shapes):
    spec = nodes.get_spec(type_id)
    assert all(spec.param(k).problem(v) is None for k, v in params.items())
    check_against_torch(spec, params, in_shapes)
    check_against_torch(spec, params, in_shapes, train=False)


def test_every_family_has_a_hand_picked_case():
    covered = {nodes.get_spec(type_id).category for type_id, _, _ in CASES}
    assert covered == {spec.category for spec in nodes.all_specs() if spec.build is not None}
