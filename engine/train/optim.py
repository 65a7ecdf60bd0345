"""Optimizers named in the training config, including Lion (torch does not ship one)."""

from __future__ import annotations

import torch

from ..config import OptimizerConfig


class Lion(torch.optim.Optimizer):
    """Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms").

    Per parameter θ with gradient g and momentum m:
        c = β1·m + (1 − β1)·g
        θ ← θ·(1 − lr·λ) − lr·sign(c)        (decoupled weight decay λ, as AdamW)
        m ← β2·m + (1 − β2)·g
    Every coordinate moves by exactly ±lr, so Lion wants a 3–10× smaller lr than Adam.
    """

    def __init__(self, params, lr: float = 1e-4, betas: tuple[float, float] = (0.9, 0.99),
                 weight_decay: float = 0.0):
        if lr <= 0:
            raise ValueError(f"Lion: lr must be > 0, got {lr}")
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            lr, decay = group["lr"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["exp_avg"] = torch.zeros_like(p)
                m = state["exp_avg"]
                if decay:
                    p.mul_(1 - lr * decay)
                p.add_(torch.sign(m.lerp(p.grad, 1 - beta1)), alpha=-lr)
                m.lerp_(p.grad, 1 - beta2)
        return loss


def build_optimizer(config: OptimizerConfig, params) -> torch.optim.Optimizer:
    """The optimizer `config.name` over `params` with the config's hyper-parameters."""
    params = list(params)
    if config.name == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov,
                               weight_decay=config.weight_decay)
    if config.name == "lion":
        return Lion(params, lr=config.lr, betas=config.betas, weight_decay=config.weight_decay)
    cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[config.name]
    return cls(params, lr=config.lr, betas=config.betas, weight_decay=config.weight_decay)
