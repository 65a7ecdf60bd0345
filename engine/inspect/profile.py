"""Per-node time and memory, measured: a few training steps run node by node with a clock around each.

`profile_run(setup)` runs `steps` training steps (after `warmup` ones) on the run's device through an fx
Interpreter over the compiled module: each graph node's forward is timed between two synchronisations
(CUDA) and its output's new memory counted — the CUDA allocator's growth across the node, or on the CPU the
bytes of the output storages it did not take from its inputs (a view is free). Backward time comes from
autograd hooks: a node's backward runs from the moment the gradient reaches its output until the
gradients of its inputs and parameters are all ready. The result is plain JSON (`Profile.to_dict`),
written to the run folder as `profile.json`; the canvas colours nodes by it and the Analysis lists it
beside the closed-form estimates (engine/stats.py). Nothing here runs unless asked for: a run that is not
profiled pays nothing; one with `training.profile` (or `layerloom train --profile`) is profiled before its first
step and its weights put back (`profile_run_start`).
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

import torch
from torch import fx

from . import PROFILE_FILE
from .taps import float_tensors, layer_nodes, unwrap

STEPS = 5  # profiled steps unless asked otherwise


@dataclass
class Profile:
    device: str
    batch_size: int
    steps: int
    forward_s: dict[str, float] = field(default_factory=dict)  # node id → mean seconds per step
    backward_s: dict[str, float] = field(default_factory=dict)
    activation_bytes: dict[str, int] = field(default_factory=dict)  # new memory of the node's outputs
    step_s: float = 0.0  # mean seconds of a whole profiled step (interpreted: slower than a real one)

    def slowest(self) -> str:
        return max(self.forward_s, key=lambda n: self.forward_s[n] + self.backward_s.get(n, 0.0))

    def to_dict(self) -> dict:
        return {"device": self.device, "batch_size": self.batch_size, "steps": self.steps, "step_s": self.step_s,
                "nodes": {n: {"forward_s": self.forward_s[n], "backward_s": self.backward_s.get(n, 0.0),
                              "activation_bytes": self.activation_bytes.get(n, 0)} for n in self.forward_s}}


class _Clocked(fx.Interpreter):
    """Runs the compiled module node by node, timing each graph node's forward and hooking its backward."""

    def __init__(self, module: fx.GraphModule, device: torch.device, owner):
        super().__init__(module)
        self.device, self.owner = device, owner

    def sync(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def run_node(self, n: fx.Node):
        node_id = n.meta.get("node_id")
        if node_id is None:
            return super().run_node(n)
        inputs = {t.untyped_storage().data_ptr() for a in n.all_input_nodes for _, t in float_tensors(self.env[a])}
        allocated = torch.cuda.memory_allocated(self.device) if self.device.type == "cuda" else 0
        start = self.sync()
        out = super().run_node(n)
        self.owner.forward[node_id].append(self.sync() - start)
        tensors = [t for _, t in float_tensors(out)]
        if self.device.type == "cuda":
            grown = torch.cuda.memory_allocated(self.device) - allocated
        else:
            storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in tensors}
            grown = sum(size for ptr, size in storages.items() if ptr not in inputs)
        self.owner.memory[node_id] = max(grown, 0)
        for t in tensors:
            if t.requires_grad:
                t.register_hook(self.owner.reached(node_id))
        return out


class _Profiler:
    def __init__(self, setup, module: fx.GraphModule):
        self.setup, self.module = setup, module
        self.nodes = layer_nodes(module)
        self.forward: dict[str, list[float]] = defaultdict(list)
        self.backward: dict[str, list[float]] = defaultdict(list)
        self.memory: dict[str, int] = {}
        self.ready: dict[str, float] = {}  # node id → when a gradient reached its output (this step)
        self.done: dict[str, float] = {}  # node id → when its parameters' gradients were accumulated
        self.clock = _Clocked(module, setup.device, self)
        self.sources = {n.meta["node_id"]: _sources(n) for n in self.nodes}
        self.handles = [p.register_post_accumulate_grad_hook(self._accumulated(n.meta["node_id"]))
                        for n in self.nodes if n.op == "call_module"
                        for p in module.get_submodule(n.target).parameters() if p.requires_grad]

    def reached(self, node_id: str):
        def hook(grad):
            self.ready.setdefault(node_id, self.clock.sync())
        return hook

    def _accumulated(self, node_id: str):
        def hook(param):
            self.done[node_id] = self.clock.sync()
        return hook

    def step(self, args) -> float:
        s = self.setup
        self.ready.clear()
        self.done.clear()
        start = self.clock.sync()
        with s.autocast():
            loss = self.clock.run(*args)["loss"]
        for optimizer in s.optimizers:
            optimizer.zero_grad(set_to_none=True)
        loss.backward()
        end = self.clock.sync()
        for node_id, reached in self.ready.items():  # until its inputs' gradients and its own are all ready
            finished = [self.ready[src] for src in self.sources[node_id] if src in self.ready]
            finished += [self.done[node_id]] if node_id in self.done else []
            self.backward[node_id].append(max(finished, default=reached) - reached)
        for optimizer in s.optimizers:
            optimizer.step()
        return end - start

    def close(self) -> None:
        for handle in self.handles:
            handle.remove()


def _sources(node: fx.Node) -> list[str]:
    """The graph nodes whose values `node` takes (through a getitem of one of their ports)."""
    found = []
    for source in node.all_input_nodes:
        while "node_id" not in source.meta and source.all_input_nodes and source.op == "call_function":
            source = source.all_input_nodes[0]
        if "node_id" in source.meta:
            found.append(source.meta["node_id"])
    return found


def first_batch(setup) -> tuple[torch.Tensor, torch.Tensor]:
    """The first `batch_size` training samples, on the run's device."""
    train = setup.data.train
    count = min(setup.config.batch_size, len(train))
    x, y = torch.utils.data.default_collate([train[i] for i in range(count)])
    return x.to(setup.device), y.to(setup.device)


def profile_run(setup, steps: int = STEPS, warmup: int = 2) -> Profile:
    """Measure each node's forward/backward time and activation memory over `steps` training steps (after
    `warmup` unmeasured ones) of `setup` (engine/train/setup.py's Setup) on one batch of its data. It trains:
    profile a copy of the weights that matter."""
    if steps < 1:
        raise ValueError(f"profile steps must be at least 1, got {steps}")
    module = unwrap(setup.model)
    x, y = first_batch(setup)
    args = setup.arguments(x, y)
    profiler = _Profiler(setup, module)
    setup.train_mode()
    try:
        for _ in range(warmup):
            profiler.step(args)
        profiler.forward.clear()
        profiler.backward.clear()
        step_s = sum(profiler.step(args) for _ in range(steps)) / steps
    finally:
        profiler.close()
    mean = {n: sum(v) / len(v) for n, v in profiler.forward.items()}
    return Profile(str(setup.device), len(x), steps, mean,
                   {n: sum(v) / len(v) for n, v in profiler.backward.items()}, dict(profiler.memory), step_s)


def profile_graph(doc, out_dir, *, steps: int = STEPS, device: str | None = None, base_dir=None) -> Profile:
    """Profile `doc` as its training section would train it (on `device`, else its own) and write
    `out_dir/profile.json` beside the closed-form estimates of engine/stats.py for the same batch size."""
    from ..config import TrainingConfig
    from ..train.distributed import Distributed
    from ..train.setup import prepare, resolve_device

    config = TrainingConfig.from_dict({**doc.training, **({"device": device} if device else {})})
    setup = prepare(doc, config, Distributed(), resolve_device(config.device), base_dir)
    profile = profile_run(setup, steps)
    write_profile(profile, doc, out_dir)
    return profile


def profile_run_start(setup, doc, run_dir, steps: int = STEPS) -> dict:
    """training.profile: the profiling pass before a run's first step, on the run's own setup and device. The
    weights, optimizer state and random generators are put back afterwards, so the run trains exactly as an
    unprofiled one would; only the profiled steps cost. Writes `run_dir/profile.json`; returns its record."""
    from .nan_origin import StartState

    state = StartState.capture(setup.model, setup.optimizers, (0, 0, 0))
    try:
        profile = profile_run(setup, steps)
    finally:
        state.restore(setup.model, setup.optimizers)
    return write_profile(profile, doc, run_dir)


def write_profile(profile: Profile, doc, out_dir) -> dict:
    """`out_dir/profile.json`: the measured record with each node's closed-form estimates beside it
    (estimated_activation_bytes, estimated_s); returns the record."""
    import json
    from pathlib import Path

    from ..atomic import atomic_write_text
    from ..stats import graph_stats
    from ..validate import validate

    estimate = graph_stats(doc, validate(doc), profile.batch_size)
    record = profile.to_dict()
    for node_id, measured in record["nodes"].items():
        if (stats := estimate.nodes.get(node_id)) is not None:
            measured["estimated_activation_bytes"], measured["estimated_s"] = stats.activation_bytes, stats.seconds
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / PROFILE_FILE, json.dumps(record, indent=2, allow_nan=False) + "\n")
    return record
