"""ONNX import of the vocabulary of modern networks: MobileNet blocks (ReLU6, Hardswish, a squeeze-and-excitation
gate broadcast over the feature map), Mish, clipping and element-wise math — written in plain PyTorch and
exported by both of torch's exporters, or written by hand where an exporter never writes the form."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper
from test_onnx_coverage import assert_round_trip
from test_onnx_import import assert_same_as_onnx, features, save_model
from torch import nn

from engine.onnx_import import OnnxImportError, import_onnx
from engine.validate import validate

EXPORTERS = ["torchscript", "dynamo"]


class InvertedResidual(nn.Module):
    """MobileNetV2's block: expand (1×1), depthwise 3×3, project (1×1), ReLU6 between, a residual sum."""

    def __init__(self, channels: int = 8, expand: int = 3):
        super().__init__()
        hidden = channels * expand
        self.expand = nn.Sequential(nn.Conv2d(channels, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6())
        self.depthwise = nn.Sequential(nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden, bias=False),
                                       nn.BatchNorm2d(hidden), nn.ReLU6())
        self.project = nn.Sequential(nn.Conv2d(hidden, channels, 1, bias=False), nn.BatchNorm2d(channels))

    def forward(self, x):
        return x + self.project(self.depthwise(self.expand(x)))


class SqueezeExcite(nn.Module):
    """MobileNetV3's gate: average each channel, two 1×1 convs, Hardsigmoid, scale the map by it."""

    def __init__(self, channels: int, squeezed: int):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce, self.restore = nn.Conv2d(channels, squeezed, 1), nn.Conv2d(squeezed, channels, 1)

    def forward(self, x):
        scale = F.hardsigmoid(self.restore(F.relu(self.reduce(self.pool(x)))))
        return x * scale  # (N, C, H, W) · (N, C, 1, 1)


class MobileNetV3Block(nn.Module):
    def __init__(self, channels: int = 8, hidden: int = 16):
        super().__init__()
        self.expand = nn.Sequential(nn.Conv2d(channels, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.Hardswish())
        self.depthwise = nn.Sequential(nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden, bias=False),
                                       nn.BatchNorm2d(hidden), nn.Hardswish())
        self.se = SqueezeExcite(hidden, 4)
        self.project = nn.Sequential(nn.Conv2d(hidden, channels, 1, bias=False), nn.BatchNorm2d(channels))

    def forward(self, x):
        return x + self.project(self.se(self.depthwise(self.expand(x))))


class ElementwiseMath(nn.Module):
    """Every element-wise op of the vocabulary on two computed tensors, and a (N, 1) gate over (N, 8)."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.gate = nn.Linear(6, 8), nn.Linear(6, 8), nn.Linear(6, 1)

    def forward(self, x):
        a, b = self.fc1(x), self.fc2(x)
        ratio = (a - b) / torch.exp(b)
        root = -torch.sqrt(torch.abs(b))
        clipped = torch.clamp(a, min=-1.0) + torch.clamp(b, max=0.5) + F.hardtanh(a, -2.0, 3.0) + F.relu6(b)
        mixed = ratio + torch.pow(a, 3.0) + root + clipped + F.mish(a)
        return mixed * torch.sigmoid(self.gate(x))  # (N, 8) · (N, 1)


def _types(imported) -> list[str]:
    return [node.type_id for node in imported.document.nodes.values()]


def _round_trip(network: type[nn.Module], shape: tuple, path, exporter: str):
    """The network (seeded) exported, imported and checked against itself; the import and its node types."""
    torch.manual_seed(0)
    imported = assert_round_trip(network(), shape, path, exporter)
    return imported, _types(imported)


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_a_mobilenet_v2_block_imports_with_relu6(exporter, tmp_path):
    _, types = _round_trip(InvertedResidual, (8, 6, 6), tmp_path / "v2.onnx", exporter)
    assert types.count("ReLU6") == 2 and {"Conv2d", "Add"} <= set(types)


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_a_mobilenet_v3_block_imports_with_its_squeeze_and_excitation_gate(exporter, tmp_path):
    imported, types = _round_trip(MobileNetV3Block, (8, 6, 6), tmp_path / "v3.onnx", exporter)
    assert types.count("Hardswish") == 2 and {"Hardsigmoid", "Multiply"} <= set(types)
    assert {"AdaptiveAvgPool2d", "Reduce"} & set(types)  # the dynamo exporter writes the pool as a ReduceMean
    doc = imported.document
    gate = next(node_id for node_id, node in doc.nodes.items() if node.type_id == "Multiply")
    shapes = validate(doc).input_shapes[gate]
    assert sorted(shapes.values(), key=lambda s: s[2]) == [(None, 16, 1, 1), (None, 16, 6, 6)]


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_element_wise_math_imports_onto_its_nodes(exporter, tmp_path):
    """Opset 17 has no Mish: the TorchScript exporter writes Softplus, Tanh, Mul, which fuse back into one."""
    imported, types = _round_trip(ElementwiseMath, (6,), tmp_path / "math.onnx", exporter)
    assert {"Subtract", "Divide", "Exp", "Sqrt", "Abs", "Neg", "Pow", "Clamp", "Hardtanh", "ReLU6", "Mish",
            "Multiply"} <= set(types)
    assert "Softplus" not in types and types.count("Clamp") == 2
    clamps = [node.params for node in imported.document.nodes.values() if node.type_id == "Clamp"]
    assert {(p["use_min"], p["use_max"]) for p in clamps} == {(True, False), (False, True)}
    hardtanh = next(node.params for node in imported.document.nodes.values() if node.type_id == "Hardtanh")
    assert (hardtanh["min_val"], hardtanh["max_val"]) == (-2.0, 3.0)


# -- hand-written ONNX: the forms an exporter may write ---------------------------------------------------

def _scalar(name: str, value: float):
    return helper.make_tensor(name, TensorProto.FLOAT, [], [value])


@pytest.mark.parametrize(("bounds", "type_id"), [
    ((0.0, 6.0), "ReLU6"), ((0.0, None), "ReLU"), ((-0.5, 0.25), "Hardtanh"), ((None, 0.3), "Clamp"),
    ((-0.2, None), "Clamp"), ((None, None), None)])
def test_clip_maps_by_its_bounds(bounds, type_id, tmp_path):
    constants = [_scalar(name, value) for name, value in zip(("lo", "hi"), bounds, strict=True) if value is not None]
    inputs = ["x", "lo" if bounds[0] is not None else "", "hi" if bounds[1] is not None else ""]
    nodes = [helper.make_node("Relu", ["x"], ["r"]) if type_id is None else helper.make_node("Identity", ["x"], ["r"]),
             helper.make_node("Clip", ["r", *inputs[1:]], ["y"])]
    path = save_model(tmp_path / "clip.onnx", nodes, [features("x")], [features("y")], constants)
    types = _types(import_onnx(path))
    assert (types.count(type_id) == 1) if type_id else (types == ["Input", "ReLU", "Output"])
    assert_same_as_onnx(path, x=np.linspace(-8, 8, 12, dtype=np.float32).reshape(4, 3))


def test_a_hard_sigmoid_of_other_constants_is_refused_naming_them(tmp_path):
    """ONNX's default alpha is 0.2 (Keras'); torch's Hardsigmoid fixes 1/6."""
    nodes = [helper.make_node("HardSigmoid", ["x"], ["y"], name="gate")]
    path = save_model(tmp_path / "hs.onnx", nodes, [features("x")], [features("y")])
    with pytest.raises(OnnxImportError, match=r"node 'gate' \(HardSigmoid\): alpha 0.2 and beta 0.5 are not torch's "
                                              r"0.1666667 and 0.5"):
        import_onnx(path)


def test_a_broadcast_that_lines_the_batch_up_with_a_size_is_refused(tmp_path):
    """A (N, 3) against a (N, 2, 3) (a power computed at run time is a generic Op: test_onnx_import_generic.py)."""
    nodes = [helper.make_node("Mul", ["x", "z"], ["m"], name="mul")]
    path = save_model(tmp_path / "odd.onnx", nodes, [features("x"), helper.make_tensor_value_info(
        "z", TensorProto.FLOAT, ["batch", 2, 3])], [helper.make_tensor_value_info("m", TensorProto.FLOAT,
                                                                                   ["batch", 2, 3])])
    with pytest.raises(OnnxImportError) as raised:
        import_onnx(path)
    assert "node 'mul' (Mul): as a Multiply it would not fit its input: cannot broadcast (N, 2, 3)" in str(raised.value)


def test_pow_takes_a_stored_exponent_and_a_difference_of_two_inputs_broadcasts(tmp_path):
    nodes = [helper.make_node("Pow", ["x", "e"], ["p"]), helper.make_node("Sub", ["p", "z"], ["d"]),
             helper.make_node("Div", ["d", "w"], ["y"])]
    path = save_model(tmp_path / "pow.onnx", nodes, [features("x"), features("z", 1), features("w", 1)],
                      [features("y")], [_scalar("e", 2.0)])
    assert {"Pow", "Subtract", "Divide"} <= set(_types(import_onnx(path)))
    rng = np.random.default_rng(0)
    assert_same_as_onnx(path, x=rng.standard_normal((4, 3), dtype=np.float32),
                        z=rng.standard_normal((4, 1), dtype=np.float32),
                        w=rng.uniform(1, 2, (4, 1)).astype(np.float32))


def _ints(name: str, values: list[int]):
    return helper.make_tensor(name, TensorProto.INT64, [len(values)], values)


def test_stored_operands_become_parameters_and_constants_one_node_each(tmp_path):
    """A per-feature scale used twice stays one Parameter; a literal (x / 2) is a Constant, not trained."""
    nodes = [helper.make_node("Mul", ["x", "gamma"], ["a"]), helper.make_node("Mul", ["a", "gamma"], ["b"]),
             helper.make_node("Div", ["b", "two"], ["y"])]
    gamma = helper.make_tensor("gamma", TensorProto.FLOAT, [3], [0.5, -1.0, 2.0])
    path = save_model(tmp_path / "scale.onnx", nodes, [features("x")], [features("y")], [gamma, _scalar("two", 2.0)])
    imported = import_onnx(path)
    types = _types(imported)
    assert types.count("Parameter") == 1 and types.count("Constant") == 1 and types.count("Multiply") == 2
    constant = next(node for node in imported.document.nodes.values() if node.type_id == "Constant")
    assert constant.params["shape"] == [1] and constant.params["value"] == 2.0
    assert_same_as_onnx(path, x=np.random.default_rng(0).standard_normal((4, 3), dtype=np.float32))


def test_slice_bounds_read_off_the_batch_are_refused(tmp_path):
    """`x[:, :N]` with N the batch size: a size computed at run time that no fixed Slice can hold."""
    nodes = [helper.make_node("Shape", ["x"], ["s"], start=0, end=1),
             helper.make_node("Slice", ["x", "zero", "s", "one"], ["y"], name="cut")]
    path = save_model(tmp_path / "cut.onnx", nodes, [features("x", 8)],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", None])],
                      [_ints("zero", [0]), _ints("one", [1])])
    with pytest.raises(OnnxImportError, match=r"node 'cut' \(Slice\): its ends \[2\] change with the batch size"):
        import_onnx(path)
