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
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from ..config import ConfigError
from ..gradnorms import GradNorms
from .checkpoint_files import TAGS, checkpoint_weights

STRATEGIES = ("ddp", "fsdp")
EXIT_GRACE_S = 0.25  # how long `close` leaves the GIL to the group's worker threads (see there)


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
            join_group("nccl" if device_kind == "cuda" else "gloo", ctx.rank, world_size)
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
        """Leave the process group, then let its worker threads finish before the interpreter shuts down.

        A gloo worker thread destroys each collective's work after the caller's wait has returned, and that
        drops the tensors' Python objects, which takes the GIL. The group itself outlives
        destroy_process_group here (once DistributedDataParallel has wrapped a model the group is never freed,
        so its threads are never joined), and a worker thread that asks for the GIL once the interpreter is
        finalizing is ended by CPython inside a noexcept destructor: "terminate called without an active
        exception", exit -6. Seen (issue 26) in about 1 restart-test run of 15-20: rank 1, done right after the
        last `any()`, aborted at exit, torchrun counted a failure and restarted the finished group (core: main
        thread in Py_FinalizeEx, a pt_gloo_runloop thread in ~AsyncAllreduceWork → decref_pyobject → take_gil →
        pthread_exit). Sleeping releases the GIL, so such a thread takes it now and finishes; it only waits to
        be scheduled, which takes well under this long even on a busy machine (pytorch/pytorch#179291 describes
        the same crash). In a 2-rank script (DDP-wrapped model, one all_reduce, destroy, exit) 9 of 32 runs
        aborted so; with this sleep 0 of 48 (32 beside a busy loop), and 0 in 40 restart-test runs."""
        if self.active:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()
            time.sleep(EXIT_GRACE_S)


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


def join_group(backend: str, rank: int, world_size: int) -> None:
    """`init_process_group` for a torchrun worker, its store keys kept apart from an earlier attempt's.

    Since torch 2.4 the elastic agent hosts the TCPStore the workers meet in (TORCHELASTIC_USE_AGENT_STORE=True)
    and keeps the same one across the restarts of a worker group, while init_process_group writes its keys
    under the same "default_pg/0/…" names every attempt (pytorch/pytorch#135712). A restarted group thus
    finds the dead group's gloo addresses already in the store, and a rank that reads its peer's before the
    peer has overwritten it connects to a closed port. Measured with 2 workers, 1 killed (issue 26): at every
    restart the store already held `default_pg/0//cpu//0/0` and `…/0/1`, and the new ranks failed with
    "Gloo connectFullMesh failed … Connection refused, remote=[127.0.0.1]:<the dead rank's port>" or hung in
    gloo's Pair::connect (the stale port reused); 3 of 10 such runs hung for good, more on a busy machine,
    where the two ranks start further apart. With the prefix: 40 of 40 (20 of them beside two busy loops).

    So under one agent (GROUP_WORLD_SIZE 1: every worker on this host, all sharing its restart count) the
    group's keys go under a prefix naming the attempt. With several agents the restart count is each agent's
    own (a node restarted for a membership change does not count it), so a prefix from it could differ between
    nodes; there torch's default stays, and the launch bundles instead set TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1,
    which gives every rendezvous round a fresh store (see engine/launch/bundle.py)."""
    import torch.distributed as dist

    shared = os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == str(True)
    if not shared or os.environ.get("GROUP_WORLD_SIZE", "1") != "1":
        dist.init_process_group(backend)
        return
    from torch.distributed.constants import default_pg_timeout

    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), world_size, is_master=False,
                          timeout=default_pg_timeout)  # a client of the agent's store, as init_process_group makes
    attempt = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
    dist.init_process_group(backend, store=dist.PrefixStore(f"layerloom/attempt-{attempt}", store),
                            rank=rank, world_size=world_size)


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

    if not any(isinstance(value, torch.Tensor) for entry in (optimizer_state.get("state") or {}).values()
               for value in (entry.values() if isinstance(entry, dict) else ())):
        return  # SGD without momentum keeps no state: nothing to restore (and torch's loader cannot place it)
    settings = [[{k: v for k, v in group.items() if k != "params"} for group in opt.param_groups] for opt in optimizers]
    set_optimizer_state_dict(model, optimizers, optimizer_state, options=StateDictOptions(full_state_dict=True))
    for optimizer, groups in zip(optimizers, settings, strict=True):
        for group, kept in zip(optimizer.param_groups, groups, strict=True):
            group.update(kept)
