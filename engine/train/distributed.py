"""Data-parallel training under `torchrun`: process group, model wrapping, full-state checkpoints.

`torchrun --nproc_per_node N layerloom train FILE` starts N copies of the same command with RANK,
WORLD_SIZE and LOCAL_RANK set; `Distributed.from_env` sees them, joins the process group (gloo on
CPU, nccl on CUDA) and every rank trains on its own shard of each epoch (a DistributedSampler).
Strategies:

    ddp   DistributedDataParallel — every rank holds the full model, gradients are all-reduced.
    fsdp  torch.distributed.fsdp.fully_shard (FSDP2, ZeRO-3 style) — each node's parameters, gradients
          and optimizer state are sharded across ranks and gathered per layer for compute. Works on
          CPU with gloo as well as on CUDA with nccl.

Without those variables everything here is a pass-through for one process. Checkpoints always
hold the full, unsharded state (gathered with torch.distributed.checkpoint.state_dict), so a run
saved under FSDP resumes on one process and vice versa. Only rank 0 writes files or events.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ..config import ConfigError
from ..gradnorms import GradNorms
from .checkpoint_files import TAGS, checkpoint_weights

STRATEGIES = ("ddp", "fsdp")


@dataclass
class Distributed:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    strategy: str = "ddp"

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, strategy: str | None, device_kind: str) -> Distributed:
        """Join the torchrun process group if this process was started by one (else one process)."""
        strategy = strategy or "ddp"
        if strategy not in STRATEGIES:
            raise ConfigError(f"--strategy: expected one of {', '.join(STRATEGIES)}, got {strategy!r}")
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        if world_size <= 1:
            return cls(strategy=strategy)
        import torch.distributed as dist

        ctx = cls(env_rank(), world_size, int(os.environ.get("LOCAL_RANK", "0")), strategy)
        if device_kind == "cuda":
            torch.cuda.set_device(ctx.local_rank)  # one GPU per process, before nccl starts
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device_kind == "cuda" else "gloo")
        return ctx

    def device(self, device_kind: str) -> torch.device:
        if device_kind == "cuda":
            return torch.device("cuda", self.local_rank if self.active else torch.cuda.current_device())
        return torch.device("cpu")

    def wrap(self, module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        """The module to train: the module itself, a DDP wrapper, or the module sharded in place."""
        if not self.active:
            return module
        if self.strategy == "ddp":
            from torch.nn.parallel import DistributedDataParallel

            return DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)
        from torch.distributed.fsdp import fully_shard

        for child in module.children():  # one shard group per node, then the root for what is left
            if any(p.requires_grad for p in child.parameters()):
                fully_shard(child)
        return fully_shard(module)

    def grad_norms(self, module: torch.nn.Module) -> GradNorms:
        """Per-node gradient norms of `module` after `wrap` (FSDP replaces its parameters with shards)."""
        return _ShardedGradNorms(module) if self.active and self.strategy == "fsdp" else GradNorms(module)

    def clip_grads(self, module: torch.nn.Module, max_norm: float, total_norm: torch.Tensor) -> None:
        """Scale gradients so their global norm is at most `max_norm` (FSDP's are sharded DTensors)."""
        from torch.distributed.tensor.experimental import implicit_replication

        with implicit_replication():  # lets a plain scalar tensor multiply DTensor gradients
            torch.nn.utils.clip_grads_with_norm_(module.parameters(), max_norm, total_norm)

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum `tensor` over ranks in place (epoch loss and accuracy counts)."""
        if self.active:
            import torch.distributed as dist

            dist.all_reduce(tensor)
        return tensor

    def any(self, flag: bool) -> bool:
        """True on every rank when `flag` is true on any (stop requests must end all ranks together)."""
        if not self.active:
            return flag
        tensor = self.sum(torch.tensor([int(flag)], device=self.collective_device))
        return bool(tensor.item())

    @property
    def collective_device(self) -> torch.device:
        """Where small control tensors must live for the backend's collectives."""
        import torch.distributed as dist

        return torch.device("cuda", self.local_rank) if dist.get_backend() == "nccl" else torch.device("cpu")

    def close(self) -> None:
        if self.active:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()


class _LocalGrad:
    """A sharded parameter seen through its local shard, so GradNorms can norm what this rank holds."""

    def __init__(self, param):
        self.param = param

    @property
    def grad(self):
        grad = self.param.grad
        return None if grad is None else grad.to_local()

    @property
    def device(self):
        return self.param.device


class _ShardedGradNorms(GradNorms):
    """GradNorms under FSDP: each rank norms its own shards, then the squares are summed across ranks.

    The shards are disjoint (padding is zeros), so the summed squares are the full gradients' squares.
    """

    def __init__(self, module: torch.nn.Module):
        super().__init__(module)
        self._params = [_LocalGrad(p) for p in self._params]

    def __call__(self) -> tuple[torch.Tensor, torch.Tensor]:
        import torch.distributed as dist

        layer_norms, _ = super().__call__()
        squares = layer_norms * layer_norms
        dist.all_reduce(squares)
        return squares.sqrt(), squares.sum().sqrt()


def resumes(run_dir: Path, asked: bool, if_any: bool) -> bool:
    """Whether a run in `run_dir` continues from its checkpoint: when `asked` (--resume), or — when there is
    a checkpoint to continue from — when `if_any` (--resume-if-any: a launch bundle's job, re-run or requeued)
    or when torchrun's elastic agent restarted this worker group after a failure (TORCHELASTIC_RESTART_COUNT > 0).

    A restart therefore continues from the last checkpoint instead of training from scratch over it;
    one that failed before the first checkpoint starts over. Every rank decides alike: the checkpoint is
    committed by one atomic rename (checkpoint_files.py), and the old group is gone before a restart."""
    if asked:
        return True
    restarted = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")) > 0
    return (if_any or restarted) and any(checkpoint_weights(run_dir, tag) for tag in TAGS)


def env_rank() -> int:
    """This process's rank as torchrun set it (0 outside torchrun), readable before the group is joined."""
    return int(os.environ.get("RANK", "0"))


def full_state(model: torch.nn.Module, optimizers: tuple[torch.optim.Optimizer, ...]) -> tuple[dict, dict]:
    """The unsharded (model, optimizers) state dicts on CPU; complete on rank 0 (every rank must call).

    The optimizer state is keyed by parameter name (`fc1.weight`), so several optimizers over
    disjoint parameters (a GAN's two) merge into one state dict."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict

    return get_state_dict(model, optimizers, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def load_model_state(model: torch.nn.Module, model_state: dict) -> None:
    """Load a full model state dict (as `full_state` gives) into a plain, DDP or FSDP model (strict)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

    set_model_state_dict(model, model_state, options=StateDictOptions(full_state_dict=True))


def load_optimizer_state(model: torch.nn.Module, optimizers: tuple[torch.optim.Optimizer, ...],
                         optimizer_state: dict) -> None:
    """Load a full optimizer state dict (as `full_state` gives) into `model`'s optimizers.

    The moments come from the checkpoint; the hyper-parameters (lr, betas, weight decay, momentum)
    stay those of the settings in force, so a resume with, say, a new weight decay uses it."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    settings = [[{k: v for k, v in group.items() if k != "params"} for group in opt.param_groups] for opt in optimizers]
    set_optimizer_state_dict(model, optimizers, optimizer_state, options=StateDictOptions(full_state_dict=True))
    for optimizer, groups in zip(optimizers, settings, strict=True):
        for group, kept in zip(optimizer.param_groups, groups, strict=True):
            group.update(kept)
