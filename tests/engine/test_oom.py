"""A CUDA out-of-memory ends the run with the batch size that would fit, not a traceback (simulated on CPU)."""

import pytest
import torch
from train_harness import iris_mlp, of_type, run

from engine.stats import TRAINING_BYTES_PER_PARAM, graph_stats
from engine.train import oom
from engine.train.loop import SupervisedTrainer
from engine.train.oom import advice, fitting_batch_size
from engine.validate import validate

GiB = 2**30


def test_the_advice_is_a_power_of_two_below_what_failed_that_the_calibrated_estimate_fits():
    # the estimate said 1 GiB + 0.01 GiB·256, yet 4 GiB ran out: activations cost ≥ 3/2.56 × their estimate
    fits = fitting_batch_size(GiB, GiB // 100, 256, 4 * GiB)
    assert fits == 128 and 1 + 3 / 2.56 * 0.01 * fits <= 0.9 * 4
    assert fitting_batch_size(GiB, GiB // 100, 256, 64 * GiB) == 128  # never more than half of what failed
    assert fitting_batch_size(GiB, GiB // 10, 64, 4 * GiB) == 16  # 1 + 0.1·64 = 7.4 GiB: far from fitting
    assert fitting_batch_size(5 * GiB, 1024, 64, 4 * GiB) is None  # the weights alone do not fit
    assert fitting_batch_size(0, 1024, 1, 4 * GiB) is None  # batch 1 failed: nothing smaller to try


def test_advice_names_the_batch_size_and_the_estimate():
    doc = iris_mlp(batch_size=64)
    stats = graph_stats(doc, validate(doc), 64)
    fixed = TRAINING_BYTES_PER_PARAM * stats.total_params
    memory = fixed + stats.total_activation_bytes  # the estimate at 64 is exactly the GPU: calibration 1
    message = advice(doc, 64, memory, "Fake GPU")
    expected = fitting_batch_size(fixed, -(-stats.total_activation_bytes // 64), 64, memory)
    assert expected and expected < 64
    assert message.startswith("out of GPU memory at batch_size 64 on Fake GPU (")
    assert f"batch_size {expected} would fit" in message and f"training.batch_size to {expected}" in message
    assert "even a batch of 1" in advice(doc, 64, fixed // 2, "Fake GPU")
    assert "batch_size 32 would fit" in advice(doc, 64, None, "")  # no GPU to measure: halve


def test_a_cuda_out_of_memory_ends_the_run_with_that_advice(tmp_path, monkeypatch):
    def out_of_memory(self, x, y):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(SupervisedTrainer, "_step", out_of_memory)
    monkeypatch.setattr(oom, "gpu_memory", lambda: (8 * GiB, "Fake GPU"))
    result, events = run(iris_mlp(batch_size=32), tmp_path / "run")
    assert (result.state, result.reason) == ("failed", "oom")
    (status,) = [e for e in of_type(events, "status") if e["state"] == "failed"]
    assert status["message"] == result.message
    assert result.message.startswith("out of GPU memory at batch_size 32 on Fake GPU (8.0 GiB) — batch_size 16 "
                                     "would fit")
    assert "Traceback" not in result.message


@pytest.mark.parametrize("memory", [None, 8 * GiB])
def test_advice_never_suggests_the_batch_that_failed(memory):
    doc = iris_mlp(batch_size=2)
    assert "batch_size 1 would fit" in advice(doc, 2, memory, "")
