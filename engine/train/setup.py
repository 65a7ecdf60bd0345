"""Everything a run needs before its first step: device, seeds, data, the compiled model, optimizer.

`prepare` fails early, with errors that name what to fix, when the dataset does not fit the graph
(shape or dtype of the Input/Target nodes) or the settings do not fit the task.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nodes import format_shape

from ..compile import CompiledGraph, compile_graph
from ..config import ConfigError, TrainingConfig
from ..data import DataSplit, load_dataset
from ..document import GraphDocument
from ..errors import DataError
from ..gradnorms import GradNorms
from ..validate import ValidationReport, validate
from .distributed import Distributed
from .optim import build_optimizer
from .schedules import Schedule


@dataclass
class Setup:
    config: TrainingConfig
    dist: Distributed
    device: torch.device
    data: DataSplit
    compiled: CompiledGraph
    model: torch.nn.Module  # what forward/backward run through: the compiled module or its DDP/FSDP wrapper
    optimizer: torch.optim.Optimizer
    schedule: Schedule
    scaler: torch.amp.GradScaler
    grad_norms: GradNorms
    steps_per_epoch: int
    classification: bool  # accuracy = argmax of the prediction vs the class index target

    @property
    def prediction(self) -> str:
        """The Output node whose tensor is scored for accuracy."""
        return self.compiled.output_names[0]

    def autocast(self):
        """bf16/fp16 autocast on CUDA; a no-op context on CPU or at fp32."""
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.config.precision)
        return torch.autocast("cuda", dtype=dtype, enabled=dtype is not None and self.device.type == "cuda")


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


def prepare(doc: GraphDocument, config: TrainingConfig, dist: Distributed, device_kind: str,
            base_dir: str | Path | None) -> Setup:
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    device = dist.device(device_kind)
    seed_everything(config.seed)  # the same seed on every rank: FSDP needs identical initial weights
    report = validate(doc)
    compiled = compile_graph(doc, with_loss=True, report=report)
    data = load_dataset(config.dataset, config.seed, base_dir=base_dir)
    _check_fit(compiled, data)
    classification = _scores_accuracy(doc, report, compiled, data)
    if config.early_stopping.monitor == "val_accuracy" and not classification:
        raise ConfigError("training.early_stopping.monitor: val_accuracy needs a classification dataset whose "
                          "Output gives one score per class — monitor val_loss instead")
    module = compiled.module.to(device)
    model = dist.wrap(module, device)
    grad_norms = dist.grad_norms(module)
    optimizer = build_optimizer(config.optimizer, model.parameters())
    per_rank = -(-len(data.train) // dist.world_size)  # DistributedSampler pads every rank to this
    steps_per_epoch = -(-per_rank // config.batch_size)
    scaler = torch.amp.GradScaler("cuda", enabled=config.precision == "fp16" and device.type == "cuda")
    return Setup(config, dist, device, data, compiled, model, optimizer,
                 Schedule(config.schedule, config.optimizer.lr, steps_per_epoch, config.epochs), scaler,
                 grad_norms, steps_per_epoch, classification)


def _check_fit(compiled: CompiledGraph, data: DataSplit) -> None:
    """The dataset's (x, y) must match the graph's one Input and one Target in shape and dtype."""
    if len(compiled.input_names) != 1 or len(compiled.target_names) != 1:
        raise DataError(f"dataset {data.name!r} gives (x, y) pairs, so the graph needs exactly one Input and one "
                        f"Target feeding the loss; it has Inputs [{', '.join(compiled.input_names)}] and Targets "
                        f"[{', '.join(compiled.target_names)}]")
    for node_id, kind, shape, dtype in ((compiled.input_names[0], "Input", data.input_shape, data.input_dtype),
                                        (compiled.target_names[0], "Target", data.target_shape, data.target_dtype)):
        graph_shape, graph_dtype = compiled.placeholder_specs[node_id]
        if tuple(graph_shape[1:]) != tuple(shape) or graph_dtype != dtype:
            raise DataError(
                f"{node_id} ({kind}): dataset {data.name!r} gives {format_shape((None, *shape))} {dtype}, but "
                f"{node_id} is {format_shape(graph_shape)} {graph_dtype} — set {node_id}'s shape to {list(shape)} "
                f"and dtype to {dtype}")


def _scores_accuracy(doc: GraphDocument, report: ValidationReport, compiled: CompiledGraph, data: DataSplit) -> bool:
    """Classification with an Output of one score per class for every target index ((N, C) or (N, T, C))."""
    if data.task != "classification" or not compiled.output_names or data.target_dtype != "int64":
        return False
    (wire,) = doc.edges_into(compiled.output_names[0], "in")
    shape = report.edge_shape(wire)
    return shape is not None and len(shape) == len(data.target_shape) + 2
