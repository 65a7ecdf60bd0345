"""The run's own instruments, as its training section sets them: a profiling pass at the start (training.profile,
`layerloom train --profile`) and activation statistics that can be turned off (training.activation_stats)."""

from __future__ import annotations

import json
import threading

import pytest
from safetensors.torch import load_file
from train_harness import iris_mlp, of_type, run, small_graph

from engine.cli import main
from engine.config import ConfigError, TrainingConfig
from engine.fileformat import save_document
from engine.inspect.profile import PROFILE_FILE
from engine.train import read_events


def test_train_profile_writes_profile_json_and_trains_exactly_as_without(tmp_path, capsys):
    graph = tmp_path / "iris.json"
    save_document(iris_mlp(epochs=1), graph)
    assert main(["train", str(graph), "--device", "cpu", "--out", str(tmp_path / "plain")]) == 0
    assert main(["train", str(graph), "--device", "cpu", "--profile", "--out", str(tmp_path / "profiled")]) == 0
    assert "profiled 5 steps node by node: profile.json in the run folder" in capsys.readouterr().out
    assert not (tmp_path / "plain" / PROFILE_FILE).exists()  # off: nothing measured
    record = json.loads((tmp_path / "profiled" / PROFILE_FILE).read_text())
    assert record["steps"] == 5 and set(record["nodes"]) == {"fc1", "relu1", "fc2", "loss1"}
    assert record["nodes"]["fc1"]["estimated_activation_bytes"] > 0  # the same format as `layerloom profile`
    events = read_events(tmp_path / "profiled" / "events.jsonl")
    announced = [e for e in of_type(events, "artifact") if e["tag"] == "profile"]
    assert len(announced) == 1 and announced[0]["path"] == PROFILE_FILE and announced[0]["data"] == record
    # the profiled steps trained a copy: the weights were put back, so the run is the unprofiled one
    plain, profiled = (load_file(tmp_path / name / "last.safetensors") for name in ("plain", "profiled"))
    assert all(plain[k].equal(profiled[k]) for k in plain)


def test_activation_stats_off_measures_none_and_says_nothing(tmp_path):
    result, events = run(iris_mlp(activation_stats=False, epochs=1), tmp_path / "run")
    steps = of_type(events, "step")
    assert result.state == "finished" and steps and not any("activations" in e for e in steps)
    assert [e for e in of_type(events, "artifact") if e["tag"] == "histograms"]  # the histograms stay on


def test_both_settings_are_booleans_named_when_wrong():
    assert TrainingConfig.from_dict({}).activation_stats is True and TrainingConfig.from_dict({}).profile is False
    for key in ("profile", "activation_stats"):
        with pytest.raises(ConfigError, match=f"training.{key}: expected true or false, got 'yes'"):
            TrainingConfig.from_dict({key: "yes"})


def test_a_gan_run_says_its_activations_and_profile_are_not_measured(tmp_path):
    stop = threading.Event()
    result, events = run(small_graph("mlp_gan", profile=True), tmp_path / "run", stop=stop,
                         on_event=lambda e: e["type"] == "step" and stop.set())
    warnings = [e["message"] for e in of_type(events, "warning")]
    assert result.state == "stopped"
    assert "activation statistics are not measured in this run: a GAN's two networks are not instrumented" \
        in warnings
    assert "training.profile: not measured — a GAN's two networks are not profiled" in warnings
    assert not (tmp_path / "run" / PROFILE_FILE).exists()
