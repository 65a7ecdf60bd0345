"""Where a NaN came from: the failing steps replayed from the last good state name the node and the step."""

from __future__ import annotations

import json

import torch
from inspect_graphs import nan_step, sqrt_collapse
from safetensors.torch import load_file

from engine.compile import compile_graph
from engine.inspect.nan_origin import Checks
from engine.train import read_events, train
from engine.train.checkpoint_files import read_metadata


def test_a_run_whose_sqrt_input_goes_negative_fails_naming_the_node_and_step(tmp_path):
    expected = nan_step()
    assert expected > 8  # after the checkpoints of epochs 1 and 2 (4 steps each): the replay starts from one
    result = train(sqrt_collapse(tmp_path), tmp_path / "run")
    assert result.state == "failed" and result.reason == "nan"
    assert result.message.startswith(f"sqrt1.out became nan at step {expected}: its input max |x| ")
    origin = [e for e in read_events(tmp_path / "run" / "events.jsonl") if e.get("tag") == "nan_origin"]
    assert len(origin) == 1 and origin[0]["data"]["node"] == "sqrt1" and origin[0]["data"]["step"] == expected
    written = json.loads((tmp_path / "run" / origin[0]["path"]).read_text())
    assert written["input_min"] < 0 and written["phase"] == "forward"  # the square root of a negative number
    last = tmp_path / "run" / "last.safetensors"  # the last good checkpoint is kept, finite
    assert int(read_metadata(last)["step"]) == (expected - 1) // 4 * 4
    assert all(torch.isfinite(t).all() for t in load_file(last).values())


def test_before_any_checkpoint_the_replay_starts_from_the_runs_first_state(tmp_path):
    lr = 0.3
    expected = nan_step(lr)
    assert expected <= 4  # within the first epoch: no checkpoint yet
    result = train(sqrt_collapse(tmp_path, epochs=2, lr=lr), tmp_path / "run")
    assert result.message.startswith(f"sqrt1.out became nan at step {expected}:"), result.message


def test_a_gradient_that_goes_non_finite_names_the_node_whose_backward_made_it(tmp_path):
    module = compile_graph(sqrt_collapse(tmp_path), with_loss=True).module
    with torch.no_grad():  # u = w + b = 0: sqrt(0) = 0 is finite, its gradient 1/(2·0) is not
        module.fc1.weight.fill_(0.25)
        module.fc1.bias.fill_(-0.25)
    optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
    checks = Checks(module, [optimizer])
    with checks:
        checks.tap(torch.ones(4, 1), torch.zeros(4, 1))["loss"].backward()
        optimizer.step()
        origin = checks.first(7)
    assert (origin.phase, origin.node, origin.fed, origin.step) == ("backward", "sqrt1", "fc1", 7)
    assert origin.message == "the gradient sqrt1 passed back to fc1.out became nan at step 7"
    assert not checks.handles and not checks.records  # nothing stays hooked on the optimizer
