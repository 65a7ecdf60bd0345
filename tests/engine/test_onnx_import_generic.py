"""ONNX ops with no node of their own come in as the generic Op node (engine/onnx_import/ops_generic.py): a network
full of them, from both exporters, imports, trains and exports again; hand-written files check each attribute
translation against onnx's reference evaluator, and the refusals name the node and the reason."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from onnx import TensorProto, helper
from test_import_families import EXPORTERS, assert_family_imports
from test_onnx_import import assert_same_as_onnx, features, save_model
from torch import nn

from engine.onnx_import import OnnxImportError, import_onnx


class GenericOps(nn.Module):
    """Masks, rounding, running sums and casts — the ops models use between their layers."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 8)

    def forward(self, x):
        h = self.fc(x)
        g = torch.where(h < 0.1, torch.erf(h), torch.floor(h * 3) / 3) + torch.ceil(h).clamp(-2, 2)
        g = torch.cumsum(g, dim=1) + torch.maximum(h, g) + torch.sin(h) * torch.cos(h)
        g = g + (h > 0).float() + torch.log(torch.abs(h) + 1) + torch.reciprocal(h.abs() + 1) + torch.sign(h)
        return g + h.argmax(dim=1, keepdim=True).float()


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_ops_without_nodes_import_as_generic_ops_and_export_again(exporter, tmp_path):
    types = assert_family_imports(GenericOps, (6,), tmp_path, exporter)
    assert types.count("Op") >= 12 and "Linear" in types


def _imported_ops(path) -> dict[str, dict]:
    imported = import_onnx(path)
    return {node.params["op"]: node.params for node in imported.document.nodes.values() if node.type_id == "Op"}


def _ints(name: str, values: list[int]):
    return helper.make_tensor(name, TensorProto.INT64, [len(values)], values)


def _axis(value: int):
    return helper.make_tensor("axis", TensorProto.INT64, [], [value])


def _batched(name: str, rank: int = 3):
    """A float tensor (batch, …) whose sizes after the batch shape inference works out."""
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", 3, 5] if name == "x" else
                                         ["batch", *[None] * (rank - 1)])


RNG = np.random.default_rng(0)
X = RNG.standard_normal((4, 3, 5), dtype=np.float32)


@pytest.mark.parametrize(("node", "initializers", "op"), [
    (helper.make_node("ReduceL2", ["x", "axes"], ["y"], keepdims=0), [_ints("axes", [2])], "linalg_vector_norm"),
    (helper.make_node("ReduceLogSumExp", ["x", "axes"], ["y"]), [_ints("axes", [-1, 1])], "logsumexp"),
    (helper.make_node("ReduceProd", ["x", "axes"], ["y"]), [_ints("axes", [1])], "prod"),
    (helper.make_node("CumSum", ["x", "axis"], ["y"]), [_axis(-1)], "cumsum"),
    (helper.make_node("Mod", ["x", "two"], ["y"], fmod=1), [helper.make_tensor("two", TensorProto.FLOAT, [], [0.7])],
     "fmod"),
    (helper.make_node("Shrink", ["x"], ["y"], lambd=0.5, bias=0.5), [], "softshrink"),
    (helper.make_node("Celu", ["x"], ["y"], alpha=2.0), [], "celu"),
])
def test_attributes_translate_into_the_aten_call(node, initializers, op, tmp_path):
    path = save_model(tmp_path / "op.onnx", [node], [_batched("x")], [_batched("y", 2 if op == "linalg_vector_norm"
                                                                                    else 3)], initializers)
    assert op in _imported_ops(path)
    assert_same_as_onnx(path, x=X)


def test_a_cast_and_a_comparison_carry_their_element_types(tmp_path):
    nodes = [helper.make_node("Greater", ["x", "zero"], ["mask"]), helper.make_node("Not", ["mask"], ["neg"]),
             helper.make_node("Cast", ["neg"], ["y"], to=TensorProto.FLOAT)]
    path = save_model(tmp_path / "cast.onnx", nodes, [features("x")], [features("y")],
                      [helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])])
    ops = _imported_ops(path)
    assert ops["gt"]["args"] == "[0.0]" and ops["to"]["args"] == '{"dtype": "torch.float32"}'
    assert_same_as_onnx(path, x=RNG.standard_normal((4, 3), dtype=np.float32))


def test_a_computed_exponent_is_a_generic_power(tmp_path):
    path = save_model(tmp_path / "pow.onnx", [helper.make_node("Pow", ["x", "e"], ["y"])],
                      [features("x"), features("e")], [features("y")])
    assert "pow" in _imported_ops(path)
    assert_same_as_onnx(path, x=RNG.uniform(0.5, 2, (4, 3)).astype(np.float32),
                        e=RNG.standard_normal((4, 3), dtype=np.float32))


@pytest.mark.parametrize(("node", "initializers", "message"), [
    (helper.make_node("CumSum", ["x", "axis"], ["y"], name="run"), [_axis(0)],
     r"node 'run' \(CumSum\): sums along the batch axis"),
    (helper.make_node("CumSum", ["x", "axis"], ["y"], name="run", reverse=1), [_axis(1)],
     r"node 'run' \(CumSum\): sums exclusively or in reverse"),
    (helper.make_node("ArgMax", ["x"], ["y"], name="pick", axis=1, select_last_index=1), [],
     r"node 'pick' \(ArgMax\): picks the last of equal values"),
    (helper.make_node("Cast", ["x"], ["y"], name="str", to=TensorProto.STRING), [],
     r"node 'str' \(Cast\): casts to ONNX element type 8"),
    (helper.make_node("ReduceProd", ["x", "axes"], ["y"], name="prod"), [_ints("axes", [1, 2])],
     r"node 'prod' \(ReduceProd\): multiplies over axes \[1, 2\] at once"),
])
def test_what_no_aten_call_reproduces_is_refused_naming_the_node(node, initializers, message, tmp_path):
    path = save_model(tmp_path / "bad.onnx", [node], [_batched("x")], [_batched("y")], initializers)
    with pytest.raises(OnnxImportError, match=message):
        import_onnx(path)


def test_instance_normalization_is_a_group_norm_of_one_channel_per_group(tmp_path):
    scale = helper.make_tensor("scale", TensorProto.FLOAT, [3], [0.5, 1.0, 2.0])
    bias = helper.make_tensor("bias", TensorProto.FLOAT, [3], [0.0, -1.0, 1.0])
    path = save_model(tmp_path / "in.onnx", [helper.make_node("InstanceNormalization", ["x", "scale", "bias"], ["y"])],
                      [_batched("x")], [_batched("y")], [scale, bias])
    (norm,) = [n for n in import_onnx(path).document.nodes.values() if n.type_id == "GroupNorm"]
    assert norm.params["num_groups"] == 3
    assert_same_as_onnx(path, x=X)
