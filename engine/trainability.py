"""What a valid graph still needs before it can train: weights to learn, batches its batch statistics
accept, memory the machine has — and the published weights it is made for (`training.pretrained`), a
warning while they are not fetched.

Validation proves the graph computes; these checks prove that a run can start and last. They are
diagnostics like validation's, made from the graph's stats at one batch size (stats.py), so
`layerloom validate` reports them before any run and the trainer refuses their errors before its
first step. A graph without weights is a warning when validated — it still exports — and an error
when trained. The memory estimate is a lower bound (see `GraphStats.training_memory_bytes`): past
the machine's memory it is a warning, past `ABSURD_MEMORY_FACTOR` times that an error, since no
allocator slack or swap makes up for it. A training step estimated to take longer than `SLOW_STEP_S`
on this machine (engine/step_time.py) is a warning naming the slowest node: a recurrent layer over a
million time steps fits in 16 MB and still takes minutes a step.
"""

from __future__ import annotations

import os

from nodes import get_spec
from nodes.common import numel

from .document import GraphDocument
from .stats import GraphStats, format_bytes, format_count, format_seconds
from .step_time import SLOW_STEP_S
from .validate import Diagnostic, ValidationReport

ABSURD_MEMORY_FACTOR = 64


def trainability(doc: GraphDocument, report: ValidationReport, stats: GraphStats, device: str = "auto",
                 training: bool = False) -> list[Diagnostic]:
    """Diagnostics for training `doc` at `stats.batch_size` on `device` ("auto", "cpu", "cuda", "cuda:1"…);
    `training` makes a graph without weights an error rather than a warning."""
    found = []
    if not stats.skipped and stats.total_params == 0:
        found.append(Diagnostic("error" if training else "warning",
                                f"nothing to train: no node of {doc.name!r} has weights — add a layer that learns "
                                f"(Linear, Conv2d, Embedding, …)"))
    if stats.batch_size == 1:
        found += [Diagnostic("error", "normalises each channel over the batch, and a batch of 1 sample gives it a "
                                      "single value per channel, which torch refuses while training — use a batch "
                                      "size of 2 or more, or LayerNorm", node_id)
                  for node_id in single_sample_fails(doc, report)]
    found += _memory(stats, device)
    found += _step_time(doc, stats)
    found += unfetched_weights(doc)
    return found


def unfetched_weights(doc: GraphDocument) -> list[Diagnostic]:
    """A warning when the graph is made for published weights (`training.pretrained`) it has not been given
    yet (no `training.init_weights`): a run would start from random weights, frozen layers included."""
    source = doc.training.get("pretrained")
    if not source or doc.training.get("init_weights"):
        return []
    frozen = " (its frozen layers stay random)" if doc.training.get("frozen") else ""
    return [Diagnostic("warning", f"no pretrained weights yet: a run starts from random weights{frozen} — fetch "
                                  f"them: File → Fetch published weights…, or layerloom weights fetch GRAPH {source}")]


def single_sample_fails(doc: GraphDocument, report: ValidationReport) -> list[str]:
    """Nodes with batch statistics that see one value per channel in a sample ((N, C), or spatial sizes of 1):
    a training batch of one sample fails on them."""
    return [node_id for node_id in report.order
            if (spec := get_spec(doc.nodes[node_id].type_id)) is not None and spec.batch_statistics
            and node_id in report.input_shapes and numel(report.input_shapes[node_id]["in"][2:]) == 1]


def _memory(stats: GraphStats, device: str) -> list[Diagnostic]:
    have, kind = machine_memory(device)
    need = stats.training_memory_bytes
    if have is None or need <= have or not stats.nodes:
        return []
    absurd = need > ABSURD_MEMORY_FACTOR * have
    largest = max(stats.nodes, key=stats.node_training_bytes)
    return [Diagnostic(
        "error" if absurd else "warning",
        f"training at batch size {stats.batch_size} needs ≈ {format_bytes(need)}, "
        f"{f'over {ABSURD_MEMORY_FACTOR}× ' if absurd else 'more than '}this machine's {format_bytes(have)} of {kind} "
        f"({largest} alone ≈ {format_bytes(stats.node_training_bytes(largest))}) — lower the batch size or make "
        f"{largest} smaller")]


def _step_time(doc: GraphDocument, stats: GraphStats) -> list[Diagnostic]:
    seconds = stats.step_seconds
    if seconds is None or seconds <= SLOW_STEP_S:
        return []
    slowest = stats.slowest_node
    node = stats.nodes[slowest]
    name = f"{slowest} ({doc.nodes[slowest].type_id})" if slowest in doc.nodes else slowest
    on_cpu = stats.timed_on == "this CPU"
    if node.sequential_steps:
        cause = (f"{name} runs {node.sequential_steps:,} sequential steps, ≈ {format_seconds(node.seconds)}; "
                 f"shorten the sequence (e.g. with a strided Conv1d first){' or train on a GPU' if on_cpu else ''}")
    else:
        cause = (f"{name} alone ≈ {format_seconds(node.seconds)} ({format_count(node.macs)} multiply-adds); "
                 f"lower the batch size or make {slowest} smaller{', or train on a GPU' if on_cpu else ''}")
    return [Diagnostic("warning", f"one training step would take about {format_seconds(seconds)} on "
                                  f"{stats.timed_on} at batch size {stats.batch_size} — {cause}", slowest)]


def machine_memory(device: str) -> tuple[int | None, str]:
    """(bytes, what) of the memory training on `device` would fill: the GPU's for cuda (and auto, when a GPU is
    present), else the machine's RAM. None where the platform does not say (no sysconf: Windows)."""
    import torch

    if torch.cuda.is_available() and (device == "auto" or device.startswith("cuda")):
        gpu = torch.cuda.get_device_properties(torch.device("cuda" if device == "auto" else device))
        return gpu.total_memory, "GPU memory"
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "RAM"
    except (AttributeError, ValueError, OSError):
        return None, "RAM"
