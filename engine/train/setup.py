"""Everything a run needs before its first step: device, seeds, data, the compiled model, optimizer.

`prepare` fails early, with errors that name what to fix, when the dataset does not fit the graph
(shape or dtype of the Input/Target nodes) or the settings do not fit the task. The dataset's x
feeds the one data Input; Inputs with source "noise" get fresh N(0, 1) samples every step; y feeds
the Target, and a graph without one (an autoencoder compares its output with the Input) ignores it.
It also refuses what a valid graph cannot train on this machine (engine/trainability.py: no weights,
batches of one sample into BatchNorm, memory far beyond the machine) and collects the warnings the
run's log should give about the rest (`RunSetup.warnings`). `start`, `check_trainable` and `pace`
are the parts the GAN trainer's own setup (gan.py) shares.
"""

from __future__ import annotations

import random
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from nodes import Shape, format_shape
from nodes.io import is_noise

from ..compile import CompiledGraph, compile_graph
from ..config import ConfigError, TrainingConfig
from ..data import DataSplit, load_dataset
from ..document import GraphDocument
from ..errors import CompileError, DataError, GraphInvalid
from ..gradnorms import GradNorms
from ..stats import graph_stats
from ..trainability import single_sample_fails, trainability
from ..validate import ValidationReport, validate
from .distributed import Distributed
from .finetune import frozen_modules, parameter_groups
from .init_weights import start_from
from .optim import build_optimizer
from .schedules import Schedule
from .speed import choose_compile, default_threads, estimate_step_seconds, loader_rate, tune_for_device

NO_AUTOCAST = nullcontext()


@dataclass
class RunSetup:
    """What every trainer needs: settings, device, data, the module it trains and its optimizers."""

    config: TrainingConfig
    dist: Distributed
    device: torch.device
    data: DataSplit
    model: torch.nn.Module  # what forward/backward run through: the compiled module or its DDP/FSDP wrapper
    optimizers: tuple[torch.optim.Optimizer, ...]  # all on one schedule; checkpointed together
    schedule: Schedule
    scaler: torch.amp.GradScaler
    grad_norms: GradNorms
    steps_per_epoch: int
    warnings: list[str]  # warning events for the run's log, given once right after it starts
    frozen: tuple[torch.nn.Module, ...] = field(default=(), kw_only=True)  # training.frozen's modules: kept in eval

    def train_mode(self) -> None:
        """The model in training mode, but for its frozen nodes (their norm statistics stay as they are)."""
        self.model.train()
        for module in self.frozen:
            module.eval()

    def autocast(self):
        """bf16/fp16 autocast on CUDA; a no-op context on CPU or at fp32."""
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.config.precision)
        if dtype is None or self.device.type != "cuda":
            return NO_AUTOCAST  # building a disabled torch.autocast every step costs more than the step's bookkeeping
        return torch.autocast("cuda", dtype=dtype)


@dataclass
class Setup(RunSetup):
    """A graph trained through its loss nodes: supervised, or on its Inputs alone (no Target)."""

    compiled: CompiledGraph
    classification: bool  # accuracy = argmax of the prediction vs the class index target
    noise: list[str]  # Input nodes the trainer feeds N(0, 1) samples instead of data
    forward: torch.nn.Module  # what training steps call: `model`, or torch.compile of it (training.compile)
    node_types: dict[str, str] = field(default_factory=dict, kw_only=True)  # node id → type id (engine/inspect)

    @property
    def prediction(self) -> str:
        """The Output node whose tensor is scored for accuracy."""
        return self.compiled.output_names[0]

    def arguments(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The compiled module's arguments for a batch: x for the data Input, fresh noise for noise
        Inputs, y for the Target when the graph has one (an autoencoder has none: y is ignored)."""
        inputs = (noise_batch(self.compiled, name, len(x), x.device) if name in self.noise else x
                  for name in self.compiled.input_names)
        return (*inputs, *((y,) if self.compiled.target_names else ()))


def noise_batch(compiled: CompiledGraph, input_id: str, batch: int, device: torch.device,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """`batch` samples of N(0, 1) shaped like the noise Input `input_id`: (batch, *shape)."""
    return torch.randn(batch, *compiled.placeholder_specs[input_id][0][1:], device=device, generator=generator)


def resolve_device(kind: str) -> str:
    if kind == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if kind == "cuda" and not torch.cuda.is_available():
        raise ConfigError("training.device: cuda was asked for but no CUDA GPU is available — use auto or cpu")
    return kind


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def start(config: TrainingConfig, dist: Distributed, device_kind: str) -> torch.device:
    """Threads, device and seeds: the first thing every run does."""
    torch.set_num_threads(config.num_threads or default_threads())
    device = dist.device(device_kind)
    seed_everything(config.seed)  # the same seed on every rank: FSDP needs identical initial weights
    return device


def check_trainable(doc: GraphDocument, report: ValidationReport, config: TrainingConfig,
                    device: torch.device) -> list[str]:
    """Raise GraphInvalid for the graph's errors, then for what cannot train at the batch size on this device —
    before any layer is built, so an absurd graph allocates nothing; return the warnings for the run's log."""
    if report.errors:
        raise GraphInvalid(report.errors)
    diagnostics = trainability(doc, report, graph_stats(doc, report, config.batch_size), str(device), training=True)
    if errors := [d for d in diagnostics if d.severity == "error"]:
        raise GraphInvalid(errors)
    return [str(d) for d in diagnostics]


def pace(config: TrainingConfig, dist: Distributed, data: DataSplit, device: torch.device,
         batch_norms: list[str]) -> tuple[Schedule, torch.amp.GradScaler, int, list[str]]:
    """The learning-rate schedule, the fp16 gradient scaler, the optimizer steps per epoch and what the run's
    log should say about them.

    When nodes with batch statistics (`batch_norms`, see trainability.single_sample_fails) would get a last
    batch of one sample, every epoch leaves it out — one step fewer — since torch refuses to train them on it.
    """
    per_rank = -(-len(data.train) // dist.world_size)  # DistributedSampler pads every rank to this
    steps_per_epoch = -(-per_rank // config.batch_size)
    warned = []
    if batch_norms and per_rank % config.batch_size == 1:
        node = batch_norms[0]
        if per_rank == 1:
            raise DataError(f"dataset {data.name!r} gives one training sample per process, but {node} normalises "
                            f"over the batch and needs at least 2 — use more data, or LayerNorm instead of {node}")
        steps_per_epoch -= 1
        warned.append(f"{node} normalises over the batch, and the last batch of every epoch would hold 1 sample, "
                       f"which it cannot train on — that sample is left out of each epoch ({per_rank - 1} of "
                       f"{per_rank} train); a batch_size that leaves no single sample over avoids this")
    scaler = torch.amp.GradScaler("cuda", enabled=config.precision == "fp16" and device.type == "cuda")
    schedule = Schedule(config.schedule, config.optimizer.lr, steps_per_epoch, config.epochs)
    return schedule, scaler, steps_per_epoch, warned


def prepare(doc: GraphDocument, config: TrainingConfig, dist: Distributed, device_kind: str,
            base_dir: str | Path | None) -> Setup:
    device = start(config, dist, device_kind)
    report = validate(doc)
    warned = check_trainable(doc, report, config, device)
    compiled = compile_graph(doc, with_loss=True, report=report)
    data = load_dataset(config.dataset, config.seed, base_dir=base_dir, in_memory=in_memory(config, device))
    noise = noise_inputs(doc, compiled)
    _check_fit(compiled, data, noise)
    classification = _scores_accuracy(doc, report, compiled, data)
    if config.early_stopping.monitor == "val_accuracy" and not classification:
        raise ConfigError("training.early_stopping.monitor: val_accuracy needs a classification dataset whose "
                          "Output gives one score per class — monitor val_loss instead")
    if config.init_weights:
        warned = warned + start_from(compiled.module, config.init_weights, base_dir)
    frozen = frozen_modules(compiled.module, config.frozen)
    module = compiled.module.to(device)
    tune_for_device(module, device)
    model = dist.wrap(module, device)
    grad_norms = dist.grad_norms(module)
    optimizer = build_optimizer(config.optimizer, parameter_groups(module, config.optimizer.lr, config.lr_scale))
    schedule, scaler, steps_per_epoch, paced = pace(config, dist, data, device, single_sample_fails(doc, report))
    forward, compiling = compiled_forward(doc, report, config, model, device, steps_per_epoch)
    return Setup(config, dist, device, data, model, (optimizer,), schedule, scaler, grad_norms, steps_per_epoch,
                 warned + paced + compiling, compiled, classification, noise, forward, frozen=frozen,
                 node_types={node_id: state.type_id for node_id, state in doc.nodes.items()})


def in_memory(config: TrainingConfig, device: torch.device):
    """Whether a dataset of so many bytes, once decoded, should be loaded whole (else read lazily, streamed)."""
    from ..data.placement import choose, free_bytes

    return lambda size: choose(config.data_placement, size, free_bytes(device)) == "device"


def compiled_forward(doc: GraphDocument, report: ValidationReport, config: TrainingConfig, model: torch.nn.Module,
                     device: torch.device, steps_per_epoch: int) -> tuple[torch.nn.Module, list[str]]:
    """`model`, or torch.compile of it as training.compile decides (engine/train/speed.py), and what the log says.
    The checkpoints keep reading `model`'s own state dict, so compiled runs save and resume the same files."""
    step_s = None
    if config.compile == "auto" and device.type == "cuda":
        stats = graph_stats(doc, report, config.batch_size)
        step_s = estimate_step_seconds(stats.total_macs, len(stats.nodes), device.type)
    choice = choose_compile(config.compile, device.type, steps_per_epoch * config.epochs, step_s)
    if not choice.enabled:
        return model, [choice.reason] if config.compile == "auto" else []
    return torch.compile(model), [choice.reason]


def noise_inputs(doc: GraphDocument, compiled: CompiledGraph) -> list[str]:
    """The Inputs of `compiled` that the trainer feeds N(0, 1) noise rather than data (float32 only)."""
    noise = [name for name in compiled.input_names if is_noise(doc.nodes[name].params)]
    for name in noise:
        if compiled.placeholder_specs[name][1] != "float32":
            raise CompileError(f"{name} (Input): a noise Input gives float32 samples of N(0, 1) — set its dtype to "
                               f"float32, or its source to data")
    return noise


def check_fits(node_id: str, kind: str, have: tuple[Shape, str], want: tuple[tuple[int, ...], str],
               dataset: str) -> None:
    """A node fed by the dataset (`have`: its shape and dtype) must match what the dataset gives (`want`)."""
    (shape, dtype), (sample_shape, sample_dtype) = have, want
    if tuple(shape[1:]) != tuple(sample_shape) or dtype != sample_dtype:
        raise DataError(
            f"{node_id} ({kind}): dataset {dataset!r} gives {format_shape((None, *sample_shape))} {sample_dtype}, "
            f"but {node_id} is {format_shape(shape)} {dtype} — set {node_id}'s shape to {list(sample_shape)} "
            f"and dtype to {sample_dtype}")


def _check_fit(compiled: CompiledGraph, data: DataSplit, noise: list[str]) -> None:
    """The dataset's (x, y) must match the graph's one data Input and its Target (if any) in shape and dtype."""
    data_inputs = [name for name in compiled.input_names if name not in noise]
    if len(data_inputs) != 1 or len(compiled.target_names) > 1:
        raise DataError(f"dataset {data.name!r} gives (x, y) pairs, so the graph needs exactly one data Input "
                        f"feeding x and at most one Target feeding the loss y; it has data Inputs "
                        f"[{', '.join(data_inputs)}] and Targets [{', '.join(compiled.target_names)}]")
    specs = compiled.placeholder_specs
    check_fits(data_inputs[0], "Input", specs[data_inputs[0]], (data.input_shape, data.input_dtype), data.name)
    for target in compiled.target_names:
        check_fits(target, "Target", specs[target], (data.target_shape, data.target_dtype), data.name)


def _scores_accuracy(doc: GraphDocument, report: ValidationReport, compiled: CompiledGraph, data: DataSplit) -> bool:
    """Classification with an Output of one score per class for every target index ((N, C) or (N, T, C))."""
    if data.task != "classification" or not compiled.output_names or not compiled.target_names \
            or data.target_dtype != "int64":
        return False
    (wire,) = doc.edges_into(compiled.output_names[0], "in")
    shape = report.edge_shape(wire)
    return shape is not None and len(shape) == len(data.target_shape) + 2


def pipeline_rate(config, device: torch.device, base_dir: str | Path | None) -> dict | None:
    """The data pipeline of a run with `config` (a TrainingConfig) on `device`, measured alone: {"samples_per_s",
    "workers", "placement"}, or None when its training part is a single batch."""
    from ..data.batches import place

    split = load_dataset(config.dataset, config.seed, base_dir=base_dir, in_memory=in_memory(config, device))
    batches = place(split.train, device, config.data_placement, config.data_workers)
    rate = loader_rate(batches, split.augment, len(split.train), config.batch_size, config.seed)
    return None if rate is None else {"samples_per_s": rate, "workers": batches.workers,
                                      "placement": batches.placement}

