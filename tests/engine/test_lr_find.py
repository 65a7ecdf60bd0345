"""The learning-rate range test: its suggestion trains, 100× it does not; the graph and its weights stay untouched."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from engine.cli import main
from engine.errors import ConfigError
from engine.experiments.lr_find import ExponentialRamp, find_lr, suggest
from engine.fileformat import load_document, save_document, to_dict
from engine.train.loop import train

EXAMPLES = Path(__file__).resolve().parents[2] / "resources" / "examples"

MLP = EXAMPLES / "digits_mlp.json"


@pytest.fixture(scope="module")
def mlp_with_weights(tmp_path_factory):
    """The digits MLP saved with an init_weights file, and that file's bytes."""
    from safetensors.torch import save_file

    from engine.compile import compile_graph

    folder = tmp_path_factory.mktemp("graph")
    doc = load_document(MLP)
    module = compile_graph(doc, with_loss=False).module
    save_file({k: v.contiguous() for k, v in module.state_dict().items()}, folder / "start.safetensors")
    doc.training["init_weights"] = "start.safetensors"
    save_document(doc, folder / "mlp.json")
    return folder, (folder / "start.safetensors").read_bytes()


def test_suggested_rate_trains_and_a_hundred_times_it_does_not(mlp_with_weights, tmp_path):
    folder, weights = mlp_with_weights
    doc = load_document(folder / "mlp.json")
    before = to_dict(doc)
    points = []
    result = find_lr(doc, steps=100, base_dir=folder, on_point=lambda *p: points.append(p))
    assert result.suggestion is not None and result.reason
    assert len(points) == len(result.lrs) and result.lrs == sorted(result.lrs)
    assert result.stopped in ("diverged", "nan")  # the ramp to 10 blows Adam up before its end
    assert len(result.lrs) < 100
    # nothing of the graph changed: its document, its weights file, its folder (no run store, no files)
    assert to_dict(doc) == before
    assert (folder / "start.safetensors").read_bytes() == weights
    assert sorted(p.name for p in folder.iterdir()) == ["mlp.json", "start.safetensors"]
    accuracy = {}
    for factor in (1, 100):
        trial = load_document(folder / "mlp.json")
        trial.training["optimizer"]["lr"] = result.suggestion * factor
        run = train(trial, tmp_path / f"x{factor}", epochs=2, base_dir=folder)
        accuracy[factor] = run.metrics.get("val_accuracy") or 0.0 if run.state == "finished" else 0.0
    assert accuracy[1] > 0.85, accuracy
    assert accuracy[100] < accuracy[1] - 0.3, accuracy


def test_suggest_reads_the_steepest_descent_before_the_minimum():
    lrs = [10 ** (-6 + k / 10) for k in range(61)]  # 1e-6 … 1
    # flat, then falling fastest around 1e-3, lowest at 1e-1, rising after
    smoothed = [2.0 - math.tanh((math.log10(lr) + 3) * 2) + (max(0.0, math.log10(lr) + 1)) * 5 for lr in lrs]
    lr, reason = suggest(lrs, smoothed)
    assert lr == pytest.approx(1e-3, rel=0.3)
    assert reason.startswith("steepest descent")


def test_suggest_falls_back_to_a_tenth_of_the_minimum_when_the_loss_only_rises():
    lrs = [10 ** (-6 + k / 10) for k in range(30)]
    smoothed = [1.0 + k * 0.01 for k in range(30)]
    lr, reason = suggest(lrs, smoothed)
    assert lr == pytest.approx(lrs[0] / 10)
    assert reason.startswith("a tenth of the minimum")
    assert suggest(lrs[:2], smoothed[:2])[0] is None


def test_ramp_is_exponential_and_leaves_an_unswept_optimizer_at_its_rate():
    import torch

    ramp = ExponentialRamp(1e-6, 1.0, 7, base_lr=0.5, swept=())
    assert [round(math.log10(ramp.lr(s))) for s in range(7)] == [-6, -5, -4, -3, -2, -1, 0]
    a = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1)
    b = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1)
    ramp = ExponentialRamp(1e-6, 1.0, 7, base_lr=0.5, swept=(a,))
    ramp.apply(a, 3)
    ramp.apply(b, 3)
    assert a.param_groups[0]["lr"] == pytest.approx(1e-3) and b.param_groups[0]["lr"] == 0.5


def test_gan_ramps_one_network():
    doc = load_document(EXAMPLES / "digits_gan.json")
    result = find_lr(doc, steps=4, networks="discriminator")
    assert len(result.lrs) == 4 and all(math.isfinite(v) for v in result.losses)


def test_networks_other_than_both_is_refused_for_a_supervised_graph():
    with pytest.raises(ConfigError, match="--networks generator is for a GAN"):
        find_lr(load_document(MLP), steps=5, networks="generator")


def test_cli_prints_the_suggestion_and_json(tmp_path, capsys):
    assert main(["lr-find", str(MLP), "--steps", "40", "--start", "1e-4", "--end", "1"]) == 0
    out = capsys.readouterr().out
    assert "suggested learning rate: " in out
    assert main(["lr-find", str(MLP), "--steps", "5", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["lrs"]) == 5 and data["lrs"][0] == pytest.approx(1e-7)


def test_cli_errors(tmp_path, capsys):
    assert main(["lr-find", str(tmp_path / "missing.json")]) == 2
    assert main(["lr-find", str(MLP), "--start", "1", "--end", "0.1"]) == 1
    assert "the range must grow" in capsys.readouterr().err
