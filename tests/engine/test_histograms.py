"""Weight and gradient histograms per node at every epoch end: in the run folder and in TensorBoard."""

from __future__ import annotations

import json

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from train_harness import iris_mlp

from engine.train import read_events, train


def test_each_epoch_writes_every_layers_weight_and_gradient_histograms(tmp_path):
    result = train(iris_mlp(epochs=2), tmp_path / "run")
    assert result.state == "finished"
    found = [e for e in read_events(tmp_path / "run" / "events.jsonl") if e.get("tag") == "histograms"]
    assert [e["epoch"] for e in found] == [1, 2]
    data = json.loads((tmp_path / "run" / found[-1]["path"]).read_text())
    assert set(data) == {"fc1", "fc2"} and set(data["fc1"]) == {"weights", "gradients"}
    weights = data["fc1"]["weights"]
    assert weights["num"] == sum(weights["counts"]) == 4 * 16 + 16  # fc1's weight and bias
    assert weights["edges"][0] == weights["min"] and abs(weights["edges"][-1] - weights["max"]) < 1e-6
    assert data["fc1"]["gradients"]["num"] == 4 * 16 + 16
    first = json.loads((tmp_path / "run" / found[0]["path"]).read_text())
    assert first["fc1"]["weights"]["counts"] != weights["counts"]  # the weights moved in between
    board = EventAccumulator(str(tmp_path / "run" / "tensorboard"), size_guidance={"histograms": 0})
    board.Reload()
    assert {"weights/fc1", "gradients/fc2"} <= set(board.Tags()["histograms"])
    assert [h.step for h in board.Histograms("weights/fc1")] == [e["step"] for e in found]
    assert board.Histograms("weights/fc1")[-1].histogram_value.num == weights["num"]
