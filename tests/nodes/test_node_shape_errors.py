"""Bad inputs raise ShapeError on the right port, with a message that says what was wrong and what to do."""

from __future__ import annotations

import pytest

import nodes
from nodes import ShapeError

N = None
CASES = [
    # type_id, params, in_shapes, port, fragments the message must contain
    ("Conv2d", {}, {"in": (N, 64)}, "in", ["expected (N, C, H, W)", "got (N, 64)", "Reshape"]),
    ("Conv1d", {}, {"in": (N, 3, 4, 4)}, "in", ["expected (N, C, L)", "Reshape"]),
    ("Conv2d", {"kernel_size": 5}, {"in": (N, 3, 4, 8)}, "in", ["window of 5", "size 4", "padding"]),
    ("Conv1d", {"kernel_size": 3, "dilation": 3}, {"in": (N, 3, 6)}, "in", ["window of 7", "dilation"]),
    ("ConvTranspose2d", {"stride": 2, "output_padding": 2}, {"in": (N, 3, 4, 4)}, "in", ["output_padding 2"]),
    ("ConvTranspose2d", {"stride": 1, "kernel_size": 1, "padding": 3}, {"in": (N, 3, 4, 4)}, "in",
     ["padding 3", "lower padding"]),
    ("Upsample", {}, {"in": (N, 3, 8)}, "in", ["expected (N, C, H, W)"]),
    ("Linear", {}, {"in": (N, 3, 4, 4)}, "in", ["add Flatten"]),
    ("MaxPool2d", {"kernel_size": 2, "padding": 2}, {"in": (N, 3, 8, 8)}, "in", ["more than half", "at most 1"]),
    ("AvgPool2d", {"strides": [2, 2, 2]}, {"in": (N, 3, 8, 8)}, "in", ["strides [2, 2, 2] gives 3 sizes", "needs 2"]),
    ("Parameter", {}, {"like": ()}, "like", ["expected (N, …)"]),
    ("Chunk", {"chunks": 4, "index": 3, "dim": 1}, {"in": (N, 5, 2)}, "in", ["3 pieces of 2", "no piece 3"]),
    ("Chunk", {"dim": 0}, {"in": (N, 5)}, "in", ["batch dimension"]),
    ("ChannelShuffle", {"groups": 4}, {"in": (N, 6, 3, 3)}, "in", ["6 channels", "divisor of 6"]),
    ("ChannelShuffle", {"groups": 6}, {"in": (N, 6, 3, 3)}, "in", ["leave every channel where it is"]),
    ("AvgPool1d", {"kernel_size": 4}, {"in": (N, 3, 2)}, "in", ["window of 4", "size 2"]),
    # torch's avg_pool3d (only it) wants each size ≥ the kernel without counting the padding
    ("AvgPool3d", {"kernel_size": 7, "padding": 2}, {"in": (N, 6, 5, 5, 5)}, "in", ["at least kernel_size 7"]),
    # torch takes output_padding below the dilation too; onnxruntime refuses the export
    ("ConvTranspose2d", {"stride": 1, "dilation": 5, "output_padding": 2}, {"in": (N, 3, 4, 4)}, "in",
     ["output_padding 2", "smaller than stride 1"]),
    ("Pad", {"padding": []}, {"in": (N, 3, 4)}, "in", ["pads nothing"]),
    ("AdaptiveAvgPool2d", {}, {"in": (N, 10)}, "in", ["expected (N, C, H, W)"]),
    ("GroupNorm", {"num_groups": 3}, {"in": (N, 8, 4)}, "in", ["8 channels", "3 groups", "1, 2, 4, 8"]),
    ("GroupNorm", {"num_groups": 4}, {"in": (N, 4)}, "in", ["4 groups of (N, 4)", "single value", "below 4"]),
    ("GroupNorm", {"num_groups": 6}, {"in": (N, 6, 1, 1)}, "in", ["single value"]),
    ("BatchNorm2d", {}, {"in": (N, 8)}, "in", ["expected (N, C, H, W)"]),
    ("BatchNorm1d", {}, {"in": (N, 8, 4, 4)}, "in", ["(N, C) or (N, C, L)", "got (N, 8, 4, 4)", "Reshape"]),
    ("LayerNorm", {}, {"in": (N,)}, "in", ["(N, …, features)"]),
    ("Reshape", {"shape": [5, 5]}, {"in": (N, 3, 8)}, "in", ["24 values", "25 values", "(N, 5, 5)"]),
    ("Reshape", {"shape": [-1, 5]}, {"in": (N, 24)}, "in", ["24 values"]),
    ("Reshape", {"shape": [-1, -1]}, {"in": (N, 24)}, "in", ["one -1"]),
    ("Reshape", {"batch": "merge"}, {"in": (N,)}, "in", ["batch merge", "no axis after the batch", "keep"]),
    ("Reshape", {"batch": "merge", "shape": [5]}, {"in": (N, 3, 4)}, "in",
     ["4 values per row of the merged batch", "(N, 5)"]),
    ("Reshape", {"batch": "split", "batch_split": 3, "shape": [5]}, {"in": (N, 4)}, "in", ["4 values", "(N, 3, 5)"]),
    ("Permute", {"dims": [1, 1]}, {"in": (N, 3, 4)}, "in", ["1..2", "batch stays first"]),
    ("Flatten", {"start_dim": 3}, {"in": (N, 3, 4)}, "in", ["start_dim 3", "at most 2"]),
    ("Slice", {"dim": 0}, {"in": (N, 3, 4)}, "in", ["batch dimension"]),
    ("Slice", {"dim": 3}, {"in": (N, 3, 4)}, "in", ["out of range"]),
    ("Slice", {"dim": 1, "start": 3}, {"in": (N, 3, 4)}, "in", ["[3:]", "size 3", "empty"]),
    ("Split", {"dim": -1, "index": 4}, {"in": (N, 3, 4)}, "in", ["[4:]", "empty"]),
    ("Concat", {"dim": 1}, {"a": (N, 3, 4), "b": (N, 2, 5)}, "b", ["(N, 2, 5)", "(N, 3, 4)", "must match"]),
    ("Concat", {"dim": 1}, {"a": (N, 3, 4), "b": (N, 2, 4), "c": (N, 2)}, "c", ["cannot concatenate"]),
    ("Add", {}, {"a": (N, 3, 4), "b": (N, 4, 3)}, "b", ["(N, 3, 4)", "(N, 4, 3)", "dim 1 is 4 against 3"]),
    # torch would run it, lining the batch of a up with dim 1 of b
    ("Multiply", {}, {"a": (N, 3), "b": (N, 3, 1)}, "b", ["(N, 3, 1)", "a (N, 3)", "ranks differ", "add Reshape"]),
    ("Multiply", {}, {"a": (N, 8, 4, 4), "b": (N, 8)}, "b", ["ranks differ", "e.g. (N, 8, 1, 1)"]),
    ("Multiply", {}, {"a": (N, 8, 4, 4), "b": (N, 8, 2, 1)}, "b",
     ["(N, 8, 2, 1)", "(N, 8, 4, 4)", "dim 2 is 2 against 4", "equal, or 1"]),
    ("Subtract", {}, {"a": (N, 5, 1), "b": (N, 4, 6)}, "b", ["(N, 4, 6)", "a (N, 5, 1)", "dim 1 is 4 against 5"]),
    ("Divide", {}, {"a": (N, 3, 2), "b": (N, 1, 4)}, "b", ["dim 2 is 4 against 2"]),
    ("Pow", {"exponent": 1.0}, {"in": (N, 3)}, "in", ["exponent 1.0", "leaves every value"]),
    ("Pow", {"exponent": 0.0}, {"in": (N, 3)}, "in", ["every value to 1"]),
    ("Clamp", {"use_min": False, "use_max": False}, {"in": (N, 3)}, "in", ["turn on one"]),
    ("Clamp", {"min": 2.0, "max": 2.0}, {"in": (N, 3)}, "in", ["min 2.0", "max 2.0", "smaller"]),
    ("Hardtanh", {"min_val": 1.0, "max_val": -1.0}, {"in": (N, 3)}, "in", ["above max_val", "swap"]),
    ("Hardtanh", {"min_val": 0.5, "max_val": 0.5}, {"in": (N, 3)}, "in", ["both 0.5"]),
    ("Embedding", {}, {"in": (N, 3, 4)}, "in", ["token ids"]),
    ("PositionalEncoding", {"max_len": 8}, {"in": (N, 9, 4)}, "in", ["length 9", "max_len 8", "raise max_len"]),
    ("LSTM", {}, {"in": (N, 8)}, "in", ["expected (N, T, features)", "Reshape"]),
    ("MultiheadAttention", {"num_heads": 3}, {"in": (N, 5, 8)}, "in", ["8", "3 heads", "divisor"]),
    ("TransformerBlock", {}, {"in": (N, 8)}, "in", ["(N, T, E)"]),
    ("CrossEntropyLoss", {}, {"pred": (N, 10), "target": (N, 10)}, "target",
     ["expected class indices (N)", "got (N, 10)", "[]"]),
    ("CrossEntropyLoss", {}, {"pred": (N, 5, 10), "target": (N, 4)}, "target", ["(N, 5)", "step"]),
    ("CrossEntropyLoss", {}, {"pred": (N, 2, 3, 4), "target": (N,)}, "pred", ["(N, C) or (N, T, C)"]),
    ("MSELoss", {}, {"pred": (N, 1), "target": (N,)}, "target", ["(N, 1)", "got (N)", "[1]"]),
    ("BCEWithLogitsLoss", {}, {"pred": (N, 3), "target": (N, 4)}, "target", ["(N, 3)"]),
]


@pytest.mark.parametrize(("type_id", "params", "in_shapes", "port", "fragments"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_bad_input_raises_shape_error(type_id, params, in_shapes, port, fragments):
    spec = nodes.get_spec(type_id)
    assert all(spec.param(k).problem(v) is None for k, v in params.items())
    with pytest.raises(ShapeError) as info:
        spec.infer(spec.resolve(params), in_shapes)
    assert info.value.port == port
    for fragment in fragments:
        assert fragment in info.value.message


def test_every_layer_family_has_an_error_case():
    covered = {nodes.get_spec(c[0]).category for c in CASES}
    families = {s.category for s in nodes.all_specs() if s.build is not None} - {"Activation", "Regularization"}
    assert families <= covered  # activations and dropout accept any shape


@pytest.mark.parametrize(("a", "b", "out"), [
    ((N, 4, 1, 1), (N, 4, 5, 6), (N, 4, 5, 6)),  # squeeze-and-excitation
    ((N, 3), (N, 1), (N, 3)),
    ((N, 1, 6), (N, 4, 1), (N, 4, 6)),  # both repeat
    ((N, N, 1), (N, 1, 5), (N, N, 5)),
    ((N, N), (N, 1), (N, N)),  # unknown stays unknown against 1
    ((N, N), (N, 5), (N, 5)),  # unknown is 1 or 5: 5 either way
])
@pytest.mark.parametrize("type_id", ["Add", "Multiply", "Subtract", "Divide"])
def test_element_wise_inputs_broadcast(type_id, a, b, out):
    spec = nodes.get_spec(type_id)
    assert spec.infer({}, {"a": a, "b": b}) == {"out": out}
    assert spec.infer({}, {"a": b, "b": a}) == {"out": out}


def test_broadcast_refusals_name_their_rule():
    """A size that does not broadcast torch refuses too; inputs of different ranks torch would run."""
    spec = nodes.get_spec("Add")
    with pytest.raises(ShapeError) as sizes:
        spec.infer({}, {"a": (N, 3), "b": (N, 2)})
    with pytest.raises(ShapeError) as ranks:
        spec.infer({}, {"a": (N, 3), "b": (N, 2, 3)})
    assert (sizes.value.stricter, ranks.value.stricter) == ("", "layout")


def test_unknown_sizes_are_not_errors():
    """A dim that is unknown (None) beyond the batch passes the checks and stays unknown."""
    conv = nodes.get_spec("Conv2d")
    assert conv.infer(conv.resolve({}), {"in": (N, 3, N, 8)})["out"] == (N, 16, N, 6)
    reshape = nodes.get_spec("Reshape")
    assert reshape.infer(reshape.resolve({"shape": [2, -1]}), {"in": (N, N, 4)})["out"] == (N, 2, N)
