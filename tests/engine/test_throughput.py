"""Throughput in the step events counts training time only (engine/train/speed.py): an epoch's
validation, its checkpoints and a pause never drag the figure down, and the run's mean is samples
trained over that time."""

from __future__ import annotations

import threading
import time

from train_harness import iris_mlp, of_type, run

from engine.train import trainer as trainer_module
from engine.train.speed import TrainingClock

SLOW_S = 0.4  # an end of epoch made slow on purpose (a checkpoint on a slow disk)


def test_slow_epoch_ends_leave_the_step_rates_and_the_mean_alone(monkeypatch, tmp_path):
    save = trainer_module.Trainer._save

    def slow_save(self, tag):
        time.sleep(SLOW_S)
        save(self, tag)

    monkeypatch.setattr(trainer_module.Trainer, "_save", slow_save)
    started = time.perf_counter()
    result, events = run(iris_mlp(epochs=3), tmp_path)
    wall = time.perf_counter() - started
    assert result.state == "finished"
    steps = of_type(events, "step")
    assert len(steps) >= 3  # the first step, one after each slow epoch end, the last
    # 120 samples an epoch: a rate over a window holding a slow epoch end would be under 120 / 0.4 = 300/s
    assert all(step["samples_per_s"] > 1000 for step in steps), [step["samples_per_s"] for step in steps]
    mean = steps[-1]["mean_samples_per_s"]
    assert mean > 1000 and mean > 10 * 3 * 120 / wall  # the sleeps (≥ 2.4 s of the run) are not training time


def test_the_training_clock_counts_only_what_runs_between_start_and_stop():
    clock = TrainingClock()
    clock.start()
    time.sleep(0.05)
    clock.stop()
    time.sleep(0.2)  # validation, a checkpoint, a pause: not counted
    assert 0.04 < clock.read() < 0.15
    clock.start()
    clock.start()  # a second start does not reset the stretch
    time.sleep(0.05)
    assert 0.09 < clock.read() < 0.25


def test_a_pause_is_recorded_and_is_not_training_time(monkeypatch, tmp_path):
    """The worker's Control holds the trainer in its stop poll; the trainer records the pause as status events
    and its clock stands still meanwhile."""
    from engine.train.loop import SupervisedTrainer
    from engine.train.worker import Control

    control = Control()
    step = SupervisedTrainer._step

    def pausing_step(self, x, y):
        step(self, x, y)
        if self.step == 3:  # as if Pause was pressed during step 3, and Resume 0.6 s later
            control.pause()
            threading.Timer(0.6, control.resume).start()

    monkeypatch.setattr(SupervisedTrainer, "_step", pausing_step)
    result, events = run(iris_mlp(epochs=1), tmp_path, stop=control)
    assert result.state == "finished"
    statuses = [(e["state"], e["message"]) for e in of_type(events, "status")]
    assert statuses == [("started", statuses[0][1]), ("paused", "paused at step 3"), ("resumed", "resumed at step 3"),
                        ("finished", statuses[-1][1])]
    # 8 steps of 16 iris samples: the 0.6 s pause would cap the rate at 128 / 0.6 ≈ 213/s if it counted
    assert of_type(events, "step")[-1]["mean_samples_per_s"] > 1000
