"""Fine-tuning settings applied to a compiled model: frozen nodes and per-node learning rates.

`training.frozen` lists node ids or block instance ids (a block freezes everything in it): their
parameters stop requiring gradients and are left out of the optimizer, and their modules stay in eval
mode while the rest trains, so a frozen BatchNorm keeps its running statistics — after a run, a frozen
node's tensors are bit-identical to what it started with. `training.lr_scale` maps ids to factors
of the learning rate (discriminative rates: a backbone at 0.1×, the new head at 1×); the schedule
multiplies each parameter group's factor in (`lr_scale` in the group, engine/train/schedules.py).

Ids are matched against the compiled module's paths (a block instance's nodes sit under its id:
`block3.conv1`); the innermost id that holds a parameter decides its factor.
"""

from __future__ import annotations

import torch

from ..errors import ConfigError


def frozen_modules(module: torch.nn.Module, frozen: tuple[str, ...]) -> tuple[torch.nn.Module, ...]:
    """The submodules of `frozen`, their parameters no longer requiring gradients."""
    found = []
    for node_id in frozen:
        sub = _submodule(module, node_id, "frozen")
        for parameter in sub.parameters():
            parameter.requires_grad_(False)
        found.append(sub)
    return tuple(found)


def parameter_groups(module: torch.nn.Module, lr: float, lr_scale: dict[str, float]) -> list[dict]:
    """The trainable parameters of `module` grouped by learning-rate factor (one group when none is set)."""
    for node_id in lr_scale:
        _submodule(module, node_id, "lr_scale")
    groups: dict[float, list[torch.nn.Parameter]] = {}
    for name, parameter in module.named_parameters():
        if parameter.requires_grad:
            groups.setdefault(_scale(name, lr_scale), []).append(parameter)
    if not groups:
        raise ConfigError("training.frozen: every parameter of the graph is frozen, so there is nothing to train — "
                          "unfreeze at least one node")
    return [{"params": params, "lr": lr * scale, "lr_scale": scale} for scale, params in groups.items()]


def _scale(name: str, lr_scale: dict[str, float]) -> float:
    owners = [node_id for node_id in lr_scale if name.startswith(node_id + ".")]
    return lr_scale[max(owners, key=len)] if owners else 1.0


def _submodule(module: torch.nn.Module, node_id: str, setting: str) -> torch.nn.Module:
    try:
        return module.get_submodule(node_id)
    except AttributeError:
        raise ConfigError(f"training.{setting}: {node_id!r} is no node or block of the graph (or holds no "
                          "weights) — remove it from the setting") from None
