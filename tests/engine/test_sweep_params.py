"""`--param PATH=KIND:ARGS`: parsing, grids, checking against the graph, applying to a copy."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import TrainingConfig
from engine.errors import ConfigError
from engine.experiments.sweep_params import SweepParam, apply_values, check_params
from engine.fileformat import load_document

MLP = Path(__file__).resolve().parents[2] / "resources" / "examples" / "digits_mlp.json"


def test_each_kind_parses():
    assert SweepParam.parse("training.optimizer.lr=log:1e-4:1e-1") == SweepParam(
        "training.optimizer.lr", "log", 1e-4, 1e-1)
    assert SweepParam.parse("nodes.fc1.out_features=int:32:256:32").step == 32
    assert SweepParam.parse("training.optimizer.name=choice:adam, sgd").choices == ("adam", "sgd")
    assert SweepParam.parse("nodes.fc1.bias=choice:true,false").choices == (True, False)


@pytest.mark.parametrize(("text", "message"), [
    ("training.optimizer.lr", "expected PATH=KIND:ARGS"),
    ("optimizer.lr=log:1e-4:1", "names neither a training setting"),
    ("nodes.fc1=int:1:2", "names neither"),
    ("training.epochs=range:1:2", "unknown kind 'range'"),
    ("training.optimizer.lr=log:0:1", "both > 0"),
    ("training.optimizer.lr=float:1:1", "LOW < HIGH"),
    ("training.epochs=int:1.5:3", "whole numbers"),
    ("training.optimizer.lr=log:a:b", "needs numbers"),
    ("training.optimizer.name=choice:adam", "two or more different values"),
])
def test_malformed_params_name_the_problem(text, message):
    with pytest.raises(ConfigError, match=message):
        SweepParam.parse(text)


def test_grids():
    assert SweepParam.parse("nodes.fc1.out_features=int:32:128:32").grid() == [32, 64, 96, 128]
    assert SweepParam.parse("training.epochs=int:1:3").grid() == [1, 2, 3]
    assert SweepParam.parse("training.optimizer.lr=log:1e-4:1e-1").grid() == pytest.approx([1e-4, 1e-3, 1e-2, 1e-1])
    assert SweepParam.parse("training.optimizer.name=choice:adam,sgd,lion").grid() == [0, 1, 2]


def test_params_are_checked_against_the_graph():
    doc = load_document(MLP)
    check_params(doc, [SweepParam.parse("nodes.fc1.out_features=int:8:16"),
                       SweepParam.parse("training.optimizer.lr=log:1e-4:1e-1")])
    with pytest.raises(ConfigError, match="no node 'fc9'"):
        check_params(doc, [SweepParam.parse("nodes.fc9.out_features=int:8:16")])
    with pytest.raises(ConfigError, match=r"fc1 \(Linear\) has no parameter 'width'"):
        check_params(doc, [SweepParam.parse("nodes.fc1.width=int:8:16")])
    with pytest.raises(ConfigError, match="training.optimizer.lrate: unknown setting"):
        check_params(doc, [SweepParam.parse("training.optimizer.lrate=log:1e-4:1e-1")])
    twice = SweepParam.parse("training.epochs=int:1:3")
    with pytest.raises(ConfigError, match="swept twice"):
        check_params(doc, [twice, twice])


def test_values_apply_to_nodes_and_nested_settings():
    doc = load_document(MLP)
    apply_values(doc, {"nodes.fc1.out_features": 40, "training.optimizer.lr": 0.02,
                       "training.schedule.name": "cosine"})
    assert doc.nodes["fc1"].params["out_features"] == 40
    config = TrainingConfig.from_dict(doc.training)
    assert config.optimizer.lr == 0.02 and config.optimizer.name == "adam" and config.schedule.name == "cosine"
