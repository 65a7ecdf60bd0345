import json

import pytest

from engine.config import ConfigError, TrainingConfig
from engine.errors import LayerloomError


def test_empty_section_gets_every_default_and_round_trips():
    config = TrainingConfig.from_dict({})
    assert config.optimizer.name == "adam" and config.optimizer.lr == 1e-3
    assert config.schedule.name == "constant" and config.precision == "fp32" and config.device == "auto"
    assert config.grad_clip == 0 and config.early_stopping.patience == 0
    data = config.to_dict()
    assert json.loads(json.dumps(data)) == data  # plain JSON for the GUI
    assert TrainingConfig.from_dict(data) == config


def test_given_values_are_kept_and_lion_gets_its_own_betas():
    config = TrainingConfig.from_dict({
        "optimizer": {"name": "lion", "lr": 3e-4, "weight_decay": 0.1},
        "schedule": {"name": "warmup_cosine", "warmup_epochs": 2, "min_lr": 1e-5},
        "epochs": 7, "batch_size": 128, "grad_clip": 1.0, "precision": "bf16", "seed": 3,
        "early_stopping": {"patience": 3, "monitor": "val_accuracy"}, "dataset": {"name": "iris", "val_split": 0.3},
    })
    assert config.optimizer.betas == (0.9, 0.99)
    assert config.schedule.warmup_epochs == 2.0 and config.schedule.min_lr == 1e-5
    assert (config.epochs, config.batch_size, config.grad_clip, config.seed) == (7, 128, 1.0, 3)
    assert config.early_stopping.monitor == "val_accuracy"
    assert config.dataset == {"name": "iris", "val_split": 0.3}
    assert TrainingConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize("training, message", [
    ({"optimizer": {"lr": -1}}, "training.optimizer.lr: must be > 0, got -1"),
    ({"optimizer": {"lr": "fast"}}, "training.optimizer.lr: expected a number, got 'fast'"),
    ({"optimizer": {"name": "rmsprop"}}, "training.optimizer.name: expected one of sgd, adam, adamw, lion"),
    ({"optimizer": {"betas": [0.9]}}, "training.optimizer.betas: expected two numbers in [0, 1)"),
    ({"optimizer": {"name": "sgd", "momentum": 0, "nesterov": True}}, "training.optimizer.nesterov: needs momentum"),
    ({"optimizer": {"lrr": 0.1}}, "training.optimizer.lrr: unknown setting"),
    ({"optimizer": "adam"}, "training.optimizer: expected an object"),
    ({"schedule": {"name": "linear"}}, "training.schedule.name: expected one of constant, step"),
    ({"schedule": {"step_size": 0}}, "training.schedule.step_size: must be > 0"),
    ({"epochs": 0}, "training.epochs: must be ≥ 1, got 0"),
    ({"batch_size": 3.5}, "training.batch_size: expected a whole number, got 3.5"),
    ({"grad_clip": -0.5}, "training.grad_clip: must be ≥ 0"),
    ({"early_stopping": {"monitor": "accuracy"}}, "training.early_stopping.monitor: expected one of val_loss"),
    ({"precision": "fp8"}, "training.precision: expected one of fp32, bf16, fp16"),
    ({"device": "tpu"}, "training.device: expected one of auto, cpu, cuda"),
    ({"dataset": "digits"}, "training.dataset: expected an object with a \"name\""),
    ({"epoch": 3}, "training.epoch: unknown setting"),
])
def test_bad_settings_name_the_field(training, message):
    with pytest.raises(ConfigError) as info:
        TrainingConfig.from_dict(training)
    assert message in str(info.value)
    assert isinstance(info.value, LayerloomError)


def test_the_gui_can_read_settings_and_events_without_importing_torch():
    import subprocess
    import sys

    code = ("import sys, engine.config, engine.train, engine.train.events; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
