"""A checkpoint's commit waits a moment for a reader of the old weights: on Windows a file another handle
holds open cannot be replaced, and the worker reads the last checkpoint while the run trains (Generate)."""

from __future__ import annotations

import os

import pytest
import torch

from engine.errors import CheckpointError
from engine.train import checkpoint_files
from engine.train.checkpoint import load_checkpoint, save_checkpoint

META = {"epoch": 1, "batch": 0, "step": 5, "partial": None, "best": None, "bad_epochs": 0, "scaler": {},
        "config": {}}


def _refusing(times: int):
    """os.replace refusing `times` times, as Windows does while a reader has the target open."""
    calls, real = [], os.replace

    def replace(source, target):
        calls.append(target)
        if len(calls) <= times:
            raise PermissionError(13, "The process cannot access the file because it is being used")
        real(source, target)

    return replace, calls


def test_a_commit_retries_while_the_old_weights_are_held_open(monkeypatch, tmp_path):
    monkeypatch.setattr(checkpoint_files, "REPLACE_WAIT_S", 0.0)
    weights = {"fc1.weight": torch.ones(2, 2)}
    save_checkpoint(tmp_path, "last", weights, {"state": {}, "param_groups": []}, META)
    replace, calls = _refusing(3)
    monkeypatch.setattr(checkpoint_files.os, "replace", replace)
    save_checkpoint(tmp_path, "last", {"fc1.weight": torch.full((2, 2), 2.0)}, {"state": {}, "param_groups": []},
                    {**META, "step": 9})
    assert len(calls) == 4
    state, _, meta = load_checkpoint(tmp_path, "last")
    assert meta["step"] == 9 and state["fc1.weight"].eq(2.0).all()


def test_a_commit_refused_for_good_keeps_the_previous_checkpoint(monkeypatch, tmp_path):
    monkeypatch.setattr(checkpoint_files, "REPLACE_WAIT_S", 0.0)
    save_checkpoint(tmp_path, "last", {"fc1.weight": torch.ones(2, 2)}, {"state": {}, "param_groups": []}, META)
    replace, calls = _refusing(10**6)
    monkeypatch.setattr(checkpoint_files.os, "replace", replace)
    with pytest.raises(CheckpointError, match="previous checkpoint is kept"):
        save_checkpoint(tmp_path, "last", {"fc1.weight": torch.zeros(2, 2)}, {"state": {}, "param_groups": []},
                        {**META, "step": 9})
    assert len(calls) == checkpoint_files.REPLACE_TRIES
    monkeypatch.undo()
    assert load_checkpoint(tmp_path, "last")[2]["step"] == 5
