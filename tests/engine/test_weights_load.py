"""Pretrained weights mapped onto a graph by name (`layerloom weights load`), and fresh runs starting
from them (`training.init_weights`)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from engine.cli import main
from engine.compile import compile_graph
from engine.config import TrainingConfig
from engine.errors import WeightsError
from engine.export.weights import read_weights
from engine.fileformat import load_document
from engine.train.distributed import Distributed
from engine.train.setup import prepare
from engine.weights_map import graph_shapes, match_state, read_state_dict

EXAMPLE = Path(__file__).resolve().parents[2] / "resources" / "examples" / "digits_mlp.json"


@pytest.fixture
def graph(tmp_path) -> Path:
    path = tmp_path / "mlp.json"
    shutil.copy(EXAMPLE, path)
    return path


def pretrained(graph: Path) -> dict[str, torch.Tensor]:
    """Another model's weights for the same architecture: the graph's own state, freshly drawn."""
    torch.manual_seed(123)
    return {key: value.clone() for key, value in compile_graph(load_document(graph), with_loss=False)
            .module.state_dict().items()}


def test_a_renamed_and_a_misshaped_tensor_are_reported_exactly(graph):
    state = pretrained(graph)
    state["head.weight"] = state.pop("fc2.weight")
    state["fc1.bias"] = torch.zeros(7)
    match = match_state(state, graph_shapes(load_document(graph)))
    assert match.missing == ["fc2.weight"]
    assert match.unused == ["head.weight"]
    assert match.wrong_shape == [("fc1.bias", "fc1.bias", (7,), tuple(state["fc1.weight"].shape[:1]))]
    assert set(match.matched) == {"fc1.weight", "fc2.bias"}


def test_pytorch_module_paths_and_wrapper_prefixes_match_node_ids():
    """`layer1.0.conv1.weight` of a PyTorch model is node `layer1_0_conv1`'s weight; DDP's `module.` goes."""
    shapes = {"layer1_0_conv1.weight": (4, 3, 3, 3), "fc.weight": (2, 4)}
    source = {"module.layer1.0.conv1.weight": torch.zeros(4, 3, 3, 3), "module.fc.weight": torch.zeros(2, 4)}
    match = match_state(source, shapes)
    assert match.matched == {"layer1_0_conv1.weight": "module.layer1.0.conv1.weight", "fc.weight": "module.fc.weight"}
    assert not (match.missing or match.unused or match.wrong_shape)
    renamed = match_state({"backbone.fc.weight": torch.zeros(2, 4)}, shapes, renames=[("backbone.", "")])
    assert renamed.matched == {"fc.weight": "backbone.fc.weight"}


def test_a_pth_is_read_weights_only_and_anything_else_is_refused(tmp_path):
    torch.save({"state_dict": {"fc.weight": torch.ones(2, 2)}, "epoch": 3}, tmp_path / "ckpt.pth")
    assert set(read_state_dict(tmp_path / "ckpt.pth")) == {"fc.weight"}
    torch.save({"model": Path("not a tensor")}, tmp_path / "evil.pth")  # an object the safe loader refuses
    with pytest.raises(WeightsError, match="evil.pth.*weights_only"):
        read_state_dict(tmp_path / "evil.pth")


def test_cli_load_writes_the_graph_weights_and_a_fresh_run_starts_from_them(graph, capsys):
    state = pretrained(graph)
    state["fc2.weight"] = torch.zeros(3, 3)  # a head of another shape: reported, left out
    save_file(state, graph.parent / "pretrained.safetensors")
    assert main(["weights", "load", str(graph), str(graph.parent / "pretrained.safetensors")]) == 0
    out = capsys.readouterr().out
    assert "wrong shape: fc2.weight is [3, 3]" in out and "3 tensors matched" in out
    doc = load_document(graph)
    assert doc.training["init_weights"] == "mlp.weights.safetensors"
    written = read_weights(graph.parent / "mlp.weights.safetensors")
    assert set(written) == {"fc1.weight", "fc1.bias", "fc2.bias"}

    setup = prepare(doc, TrainingConfig.from_dict(doc.training), Distributed(), "cpu", graph.parent)
    model = setup.compiled.module.state_dict()
    for key in written:
        assert torch.equal(model[key], written[key]), key
    assert any("fc2.weight" in warning and "initialiser" in warning for warning in setup.warnings)


def test_cli_refuses_unreadable_and_unfitting_sources(graph, tmp_path, capsys):
    assert main(["weights", "load", str(graph), str(tmp_path / "absent.safetensors")]) == 2
    save_file({"something.else": torch.zeros(2)}, tmp_path / "other.safetensors")
    assert main(["weights", "load", str(graph), str(tmp_path / "other.safetensors")]) == 1
    assert "unused: something.else" in capsys.readouterr().out
    assert "init_weights" not in load_document(graph).training  # nothing written on a refusal


def test_a_missing_init_weights_file_is_an_error_naming_the_setting(graph):
    doc = load_document(graph)
    doc.set_training("init_weights", "gone.safetensors")
    with pytest.raises(WeightsError, match="training.init_weights: .*gone.safetensors does not exist"):
        prepare(doc, TrainingConfig.from_dict(doc.training), Distributed(), "cpu", graph.parent)
