"""Optimizers and learning-rate schedules: the math alone, then each inside a real training run."""

import math
from itertools import pairwise

import pytest
import torch
from safetensors.torch import load_file
from train_harness import iris_mlp, of_type, run

from engine.compile import compile_graph
from engine.config import OPTIMIZERS, SCHEDULES, OptimizerConfig, ScheduleConfig
from engine.train.optim import Lion, build_optimizer
from engine.train.schedules import Schedule
from engine.train.setup import seed_everything


def test_lion_follows_its_update_rule():
    torch.manual_seed(0)
    p = torch.nn.Parameter(torch.randn(5))
    theta, m = p.detach().clone(), torch.zeros(5)
    lr, (b1, b2), wd = 0.1, (0.9, 0.99), 0.5
    opt = Lion([p], lr=lr, betas=(b1, b2), weight_decay=wd)
    for _ in range(3):
        g = torch.randn(5)
        p.grad = g.clone()
        opt.step()
        update = torch.sign(b1 * m + (1 - b1) * g)
        theta = theta * (1 - lr * wd) - lr * update
        m = b2 * m + (1 - b2) * g
        torch.testing.assert_close(p.detach(), theta)
    torch.testing.assert_close(opt.state[p]["exp_avg"], m)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_optimizer_reduces_a_least_squares_loss(name):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    x = torch.randn(64, 3)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]])
    opt = build_optimizer(OptimizerConfig(name=name, lr=0.05), model.parameters())
    expected = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "lion": Lion}[name]
    assert type(opt) is expected

    def loss():
        return torch.nn.functional.mse_loss(model(x), y)

    before = loss().item()
    for _ in range(20):
        opt.zero_grad()
        loss().backward()
        opt.step()
    assert loss().item() < 0.5 * before


def lrs(name, steps=100, **kw):
    schedule = Schedule(ScheduleConfig(name=name, **kw), base_lr=1.0, steps_per_epoch=10, epochs=steps // 10)
    return [schedule.lr(s) for s in range(steps)]


def test_schedule_shapes():
    assert set(lrs("constant")) == {1.0}
    step = lrs("step", step_size=3, gamma=0.5)
    assert step[29] == 1.0 and step[30] == 0.5 and step[60] == 0.25

    cosine = lrs("cosine", min_lr=0.1)
    assert cosine[0] == 1.0 and all(a >= b for a, b in pairwise(cosine)) and cosine[-1] == pytest.approx(0.1, abs=1e-3)
    assert cosine[50] == pytest.approx(0.55)

    warm = lrs("warmup_cosine", warmup_epochs=2)
    assert warm[0] == pytest.approx(0.05) and warm[19] == 1.0  # linear rise over 20 steps
    assert all(a < b for a, b in pairwise(warm[:20])) and all(a >= b for a, b in pairwise(warm[19:]))

    one = lrs("onecycle")  # rise over 30 % of the run from lr/25, then anneal to min_lr
    assert one[0] == pytest.approx(1 / 25) and max(one) == one[30] == 1.0 and one[-1] < 1e-3

    cyc = lrs("cyclic", step_size=1, min_lr=0.2)  # half cycle = 10 steps
    assert cyc[0] == pytest.approx(0.2) and cyc[10] == 1.0 and cyc[20] == pytest.approx(0.2) and cyc[25] == cyc[5]


@pytest.mark.parametrize("optimizer, schedule", [(o, "constant") for o in OPTIMIZERS] +
                         [("adam", s) for s in SCHEDULES if s != "constant"])
def test_each_optimizer_and_schedule_trains_and_reports_its_lr(tmp_path, optimizer, schedule):
    doc = iris_mlp(optimizer={"name": optimizer, "lr": 0.01},
                   schedule={"name": schedule, "warmup_epochs": 1, "step_size": 1, "min_lr": 0.001})
    result, events = run(doc, tmp_path)
    assert result.state == "finished" and result.step == 16  # 2 epochs × ceil(120 / 16)

    seed_everything(0)  # the trainer seeds, then compiles: the same initial weights
    initial = compile_graph(doc).module.state_dict()
    trained = load_file(str(tmp_path / "last.safetensors"))
    assert all(not torch.equal(initial[k], trained[k]) for k in initial)

    expected = Schedule(ScheduleConfig(name=schedule, warmup_epochs=1, step_size=1, min_lr=0.001), 0.01, 8, 2)
    steps = of_type(events, "step")
    assert steps and all(math.isclose(e["lr"], expected.lr(e["step"] - 1)) for e in steps)
    assert [e["lr"] for e in of_type(events, "epoch")] == pytest.approx([expected.lr(7), expected.lr(15)])
