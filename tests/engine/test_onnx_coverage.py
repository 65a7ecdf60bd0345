"""How much real ONNX the importer takes: the onnx package's backend test models, and networks
written in plain PyTorch exported by both of torch's exporters.

A backend model counts when it imports into a valid graph that, compiled with the imported weights,
reproduces the reference outputs shipped beside it. The floor only ever goes up: raise it when a
change imports more. Every model either counts or is refused with an OnnxImportError — none imports
into a graph that computes something else.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F
from onnx import numpy_helper
from torch import nn

from engine.compile import compile_graph
from engine.onnx_import import OnnxImportError, import_onnx

# simple/, pytorch-converted/ and pytorch-operator/: 140 models, each with test_data_set_0
BACKEND_MODELS = sorted((Path(onnx.__file__).parent / "backend" / "test" / "data").glob("*/*/model.onnx"))
FLOOR = 99


def _tensors(folder: Path, kind: str) -> list[np.ndarray]:
    files = sorted(folder.glob(f"{kind}_*.pb"), key=lambda f: int(f.stem.rsplit("_", 1)[1]))
    return [numpy_helper.to_array(onnx.load_tensor(str(f))) for f in files]


def run_imported(imported, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The imported graph compiled with its weights, run on ONNX-named inputs; outputs by ONNX name."""
    compiled = compile_graph(imported.document, with_loss=False)
    compiled.module.load_state_dict({key: torch.from_numpy(np.array(value)) for key, value in imported.weights.items()
                                     if key in compiled.module.state_dict()}, strict=True)
    by_id = {imported.input_ids[name]: value for name, value in inputs.items()}
    with torch.no_grad():
        result = compiled.module.eval()(*(torch.from_numpy(np.array(by_id[n])) for n in compiled.input_names))
    results = dict(zip(compiled.output_names, result if isinstance(result, tuple) else (result,), strict=True))
    return {name: results[node_id].numpy() for name, node_id in imported.output_ids.items()}


def reproduces(path: Path) -> bool:
    """True when the model imports and its graph reproduces the reference outputs; False when refused."""
    try:
        imported = import_onnx(path)
    except OnnxImportError:
        return False
    model = onnx.load(str(path), load_external_data=False)
    weights = {t.name for t in model.graph.initializer}
    names = [v.name for v in model.graph.input if v.name not in weights]
    data = path.parent / "test_data_set_0"
    outputs = run_imported(imported, dict(zip(names, _tensors(data, "input"), strict=True)))
    for value, expected in zip(outputs.values(), _tensors(data, "output"), strict=True):
        np.testing.assert_allclose(value, expected, rtol=1e-3, atol=1e-4, err_msg=str(path))
    return True


def test_backend_model_coverage_never_drops(capsys):
    assert len(BACKEND_MODELS) == 140, "the onnx package ships a different set of backend models"
    imported = [path.parent.name for path in BACKEND_MODELS if reproduces(path)]
    with capsys.disabled():
        print(f"\nONNX import: {len(imported)} of {len(BACKEND_MODELS)} onnx backend test models import and "
              "reproduce their reference outputs")
    assert len(imported) >= FLOOR, f"coverage dropped to {len(imported)} (floor {FLOOR})"


# -- networks in plain PyTorch, exported by both exporters -------------------------------------------

class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 6, 5, padding=2), nn.Conv2d(6, 16, 5)
        self.fc1, self.fc2, self.fc3 = nn.Linear(16 * 5 * 5, 120), nn.Linear(120, 84), nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = torch.flatten(F.max_pool2d(F.relu(self.conv2(x)), 2), 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class ResidualMLP(nn.Module):
    def __init__(self, approximate: str = "none"):
        super().__init__()
        self.inp, self.head = nn.Linear(8, 16), nn.Linear(16, 5)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(16), nn.Linear(16, 32), nn.GELU(approximate), nn.Linear(32, 16))
            for _ in range(2))

    def forward(self, x):
        x = self.inp(x)
        for block in self.blocks:
            x = x + block(x)
        return self.head(x)


class GRUClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru, self.head = nn.GRU(6, 12, batch_first=True), nn.Linear(12, 3)

    def forward(self, x):
        return self.head(self.gru(x)[0][:, -1])


class TransformerEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        layer = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(16, 4)

    def forward(self, x):
        return self.head(self.encoder(x).mean(1))


NETWORKS = {"lenet": (LeNet, (1, 28, 28)), "residual_mlp": (ResidualMLP, (8,)), "gru": (GRUClassifier, (7, 6)),
            "transformer": (TransformerEncoder, (7, 16))}


def export(module: nn.Module, sample: torch.Tensor, path: Path, exporter: str, **options) -> None:
    """Export with a dynamic batch: `dynamo` is torch's default exporter, `torchscript` the older one."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if exporter == "dynamo":
            torch.onnx.export(module, (sample,), str(path), dynamo=True, external_data=False, verbose=False,
                              input_names=["x"], output_names=["y"],
                              dynamic_shapes=({0: torch.export.Dim("batch")},), **options)
        else:
            torch.onnx.export(module, (sample,), str(path), dynamo=False, input_names=["x"], output_names=["y"],
                              dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, **options)


def assert_round_trip(module: nn.Module, shape: tuple, path: Path, exporter: str, **options):
    """Export, import, and compare the imported graph with the module at another batch size."""
    torch.manual_seed(0)
    export(module.eval(), torch.randn(2, *shape), path, exporter, **options)
    imported = import_onnx(path)
    x = torch.randn(3, *shape)
    with torch.no_grad():
        expected = module(x).numpy()
    np.testing.assert_allclose(run_imported(imported, {"x": x.numpy()})["y"], expected, rtol=1e-4, atol=1e-5)
    return imported


@pytest.mark.parametrize("exporter", ["dynamo", "torchscript"])
@pytest.mark.parametrize("name", list(NETWORKS))
def test_pytorch_networks_round_trip(name, exporter, tmp_path):
    network, shape = NETWORKS[name]
    torch.manual_seed(0)
    imported = assert_round_trip(network(), shape, tmp_path / f"{name}.onnx", exporter)
    types = {node.type_id for node in imported.document.nodes.values()}
    expected = {"lenet": {"Conv2d", "MaxPool2d", "Linear"}, "residual_mlp": {"LayerNorm", "GELU", "Add"},
                "gru": {"GRU", "Linear"}, "transformer": {"MultiheadAttention", "LayerNorm", "Reduce"}}[name]
    assert expected <= types


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_spelt_out_in_old_opsets_fuses_back(approximate, tmp_path):
    """Opset 17 has no Gelu: the TorchScript exporter writes Div/Erf/Add/Mul (or the tanh form)."""
    torch.manual_seed(0)
    imported = assert_round_trip(ResidualMLP(approximate), (8,), tmp_path / "mlp.onnx", "torchscript",
                                 opset_version=17)
    gelus = [n for n in imported.document.nodes.values() if n.type_id == "GELU"]
    assert len(gelus) == 2 and all(n.params["approximate"] == approximate for n in gelus)
