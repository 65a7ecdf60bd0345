"""Fine-tuning settings: frozen nodes stay bit-identical (weights and BatchNorm statistics), per-node
learning rates reach the optimizer's groups and follow the schedule."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine.compile import compile_graph
from engine.config import TrainingConfig
from engine.errors import ConfigError
from engine.export.weights import read_weights, save_weights
from engine.fileformat import load_document
from engine.train.distributed import Distributed
from engine.train.loop import train
from engine.train.setup import prepare

EXAMPLE = Path(__file__).resolve().parents[2] / "resources" / "examples" / "digits_cnn.json"


def cnn(tmp_path, **training):
    doc = load_document(EXAMPLE)
    for key, value in {"epochs": 1, "batch_size": 128, **training}.items():
        doc.set_training(key, value)
    return doc


def test_frozen_nodes_and_their_batchnorm_statistics_are_bit_identical_after_a_run(tmp_path):
    torch.manual_seed(7)
    start = compile_graph(load_document(EXAMPLE), with_loss=False).module.state_dict()
    save_weights(start, tmp_path / "start.safetensors")
    doc = cnn(tmp_path, frozen=["conv1", "bn1"], init_weights=str(tmp_path / "start.safetensors"))
    result = train(doc, tmp_path / "run", base_dir=tmp_path)
    assert result.state == "finished", result.message
    after = read_weights(tmp_path / "run" / "last.safetensors")
    for key in ("conv1.weight", "conv1.bias", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var"):
        assert torch.equal(after[key], start[key]), key
    for key in ("conv2.weight", "bn2.running_mean", "fc1.weight"):  # the rest trained
        assert not torch.equal(after[key], start[key]), key


def test_learning_rate_factors_make_groups_that_follow_the_schedule(tmp_path):
    doc = cnn(tmp_path, frozen=["conv1"], lr_scale={"conv2": 0.1, "bn2": 0.1})
    setup = prepare(doc, TrainingConfig.from_dict(doc.training), Distributed(), "cpu", tmp_path)
    (optimizer,) = setup.optimizers
    groups = {group["lr_scale"]: group for group in optimizer.param_groups}
    trainable = {id(p) for p in setup.compiled.module.parameters() if p.requires_grad}
    assert set(groups) == {1.0, 0.1}
    assert {id(p) for g in groups.values() for p in g["params"]} == trainable  # conv1 left out
    conv2 = setup.compiled.module.get_submodule("conv2")
    assert {id(p) for p in groups[0.1]["params"]} >= {id(p) for p in conv2.parameters()}
    lr = setup.schedule.apply(optimizer, 40)
    assert groups[1.0]["lr"] == pytest.approx(lr) and groups[0.1]["lr"] == pytest.approx(lr * 0.1)


@pytest.mark.parametrize("training, message", [
    ({"frozen": ["nowhere"]}, "training.frozen: 'nowhere' is no node"),
    ({"lr_scale": {"fc1": 0}}, "training.lr_scale: expected"),
    ({"frozen": ["conv1", "bn1", "conv2", "bn2", "fc1"]}, "nothing to train"),
])
def test_settings_that_cannot_work_are_refused_naming_the_setting(tmp_path, training, message):
    doc = cnn(tmp_path, **training)
    with pytest.raises(ConfigError, match=message):
        prepare(doc, TrainingConfig.from_dict(doc.training), Distributed(), "cpu", tmp_path)
