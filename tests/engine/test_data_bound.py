"""Data or compute: the verdict from a run's throughput and its data pipeline measured alone (engine/train/bound.py),
and the pipeline's measurement itself on a deliberately slow loader (speed.loader_rate)."""

from __future__ import annotations

import time

import torch

from engine.data.batches import Streamed
from engine.train.bound import data_or_compute
from engine.train.speed import loader_rate


def test_a_loader_slower_than_the_step_bounds_an_overlapped_run():
    bound, line = data_or_compute(1480, 1450, workers=2)
    assert bound == "data"
    assert line == "data-bound: the loader gives 1,480 samples/s, the step takes at least 1,450/s — raise data_workers"
    bound, line = data_or_compute(9000, 3100, workers=2)
    assert bound == "compute" and line.startswith("compute-bound: the loader gives 9,000 samples/s, the step takes "
                                                  "3,100/s — the data keeps up")


def test_fetched_in_the_training_process_the_steps_own_rate_is_what_fetching_leaves():
    # 1/1000 s a sample measured, of which 1/1480 s fetching: the step alone runs 1 / (1/1000 − 1/1480) ≈ 3,083/s
    bound, line = data_or_compute(1480, 1000, workers=0)
    assert bound == "data" and "the step takes 3,083/s" in line and "data_placement: stream" in line
    bound, line = data_or_compute(20000, 1000, workers=0)
    assert bound == "compute" and "the step takes 1,053/s" in line


class SlowRows:
    """A streamed dataset taking 20 ms a batch: about 50 batches a second whatever their size."""

    def __len__(self) -> int:
        return 64 * 40

    def __getitems__(self, indices: list[int]):
        time.sleep(0.02)
        return torch.zeros(len(indices), 4), torch.zeros(len(indices), dtype=torch.int64)


def test_the_loader_rate_times_a_slow_loader_after_its_first_batch():
    rate = loader_rate(Streamed(SlowRows(), torch.device("cpu"), workers=0), lambda x: x, len(SlowRows()), 64, seed=0)
    assert 0.3 * 64 / 0.02 < rate <= 64 / 0.02  # at most 3,200 samples/s: the sleep bounds it (less when busy)
    assert data_or_compute(rate, rate * 0.95, workers=1)[0] == "data"
    assert loader_rate(Streamed(SlowRows(), torch.device("cpu"), 0), lambda x: x, 64, 64, seed=0) is None  # 1 batch


def test_the_pipeline_of_a_graphs_run_is_measured_as_it_trains():
    from engine.config import TrainingConfig
    from engine.train.setup import pipeline_rate

    config = TrainingConfig.from_dict({"dataset": {"name": "digits"}, "batch_size": 32, "device": "cpu"})
    rate = pipeline_rate(config, torch.device("cpu"), None)
    assert rate["placement"] == "device" and rate["workers"] == 0 and rate["samples_per_s"] > 1000
