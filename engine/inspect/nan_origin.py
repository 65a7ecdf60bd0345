"""Where a NaN or inf came from: replay the failing steps from the last good state with checks on.

The trainer notices a non-finite loss only at its next read of the device (trainer.py), and by then the
weights may be NaN everywhere. So when a run fails that way (or diverges), it restores the last good state
— its `last` checkpoint, or the state it started from (`StartState`) — and replays the same batches (same
order, same RNG) up to the failing step with `Checks` on: the step runs the tapped twin of the module (taps.py), and
records, on the device, whether each node's its output (forward), the gradient reaching its output (backward), its
parameters' gradients and its parameters after the optimizer step (update) are finite. One host sync per
replayed step reads them; the first record that is not finite, in the order things happened, is the
`Origin`: "sqrt1.out became nan at step 36: its input max |x| 0.0123, min -0.0123"; a gradient that went
non-finite is named by the node whose backward made it ("sqrt1 passed back … to fc1.out").

Under fp16 loss scaling inf gradients are normal (the scaler skips those steps), so only the forward pass
is checked then.
"""

from __future__ import annotations

import copy
import math
import random
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import fx

from .taps import Tap, float_tensors, layer_nodes, unwrap


@dataclass(frozen=True)
class Origin:
    """The first non-finite value of a replay: which node, which port, in which phase of which step."""

    node: str
    port: str  # "out" (forward), "in" (backward: the gradient it passed to its inputs), a parameter's name
    phase: str  # "forward" | "backward" | "gradient" | "update"
    value: str  # "nan" | "inf" | "-inf"
    step: int
    input_max: float | None = None  # forward: max |x| over the node's floating inputs
    input_min: float | None = None  # forward: their smallest value
    fed: str | None = None  # backward: the node whose output's gradient it was

    @property
    def message(self) -> str:
        at = f"at step {self.step}"
        if self.phase == "forward":
            if self.input_max is not None and not math.isfinite(self.input_max):
                return f"{self.node}.in received {self.value} from the data {at}"
            seen = f": its input max |x| {self.input_max:.3g}, min {self.input_min:.3g}" \
                if self.input_max is not None else ""
            return f"{self.node}.{self.port} became {self.value} {at}{seen}"
        if self.phase == "backward":
            return f"the gradient {self.node} passed back to {self.fed}.{self.port} became {self.value} {at}"
        if self.phase == "gradient":
            return f"the gradient of {self.node}.{self.port} became {self.value} {at}"
        return f"{self.node}.{self.port} became {self.value} {at} when the optimizer updated it"

    def to_dict(self) -> dict:
        return {**asdict(self), "message": self.message}


def _kinds(tensor: torch.Tensor) -> torch.Tensor:
    """(3,) on the device: whether `tensor` holds a NaN, a +inf, a -inf."""
    tensor = tensor.detach()
    return torch.stack([tensor.isnan().any(), tensor.isposinf().any(), tensor.isneginf().any()])


KINDS = ("nan", "inf", "-inf")


class Checks:
    """Records, without a host sync, whether each node's values are finite (see the module doc): forward
    through the tapped module (it stands in for `setup.forward`), backward through hooks on the tapped
    outputs, the parameters' gradients and values through optimizer step hooks. `first(step)` reads a
    step's records (one sync) and returns the Origin of the first non-finite one, or None."""

    def __init__(self, model: torch.nn.Module, optimizers, forward_only: bool = False):
        self.nodes = layer_nodes(model)
        self.tap = Tap(model, self._forward)
        self.optimizers, self.forward_only = optimizers, forward_only
        self.owners = {n.meta["node_id"]: unwrap(model).get_submodule(n.target) for n in self.nodes
                       if n.op == "call_module"}
        self.records: list[tuple[str, fx.Node, str, torch.Tensor]] = []  # (phase, node, port, kinds (3,))
        self.values: dict = {}  # the last forward's taps: the inputs of a forward origin
        self.handles: list = []

    def __enter__(self) -> Checks:
        if not self.forward_only:
            for optimizer in self.optimizers:
                self.handles.append(optimizer.register_step_pre_hook(lambda *_: self._parameters("gradient")))
                self.handles.append(optimizer.register_step_post_hook(lambda *_: self._parameters("update")))
        return self

    def __exit__(self, *_) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles.clear()
        self.records.clear()
        self.values = {}

    def _forward(self, taps: dict) -> None:
        self.values = taps
        for node in self.nodes:
            for port, tensor in float_tensors(taps[node.name]):
                self.records.append(("forward", node, port, _kinds(tensor)))
                if not self.forward_only and tensor.requires_grad:
                    tensor.register_hook(self._backward(node, port))

    def _backward(self, node: fx.Node, port: str):
        def hook(grad: torch.Tensor) -> None:
            self.records.append(("backward", node, port, _kinds(grad)))
        return hook

    def _parameters(self, phase: str) -> None:
        for node in self.nodes:
            module = self.owners.get(node.meta["node_id"])
            for name, param in module.named_parameters() if module is not None else ():
                tensor = param.grad if phase == "gradient" else param
                if tensor is not None:
                    self.records.append((phase, node, name, _kinds(tensor)))

    def first(self, step: int) -> Origin | None:
        records, self.records = self.records, []
        if not records:
            return None
        flags = torch.stack([r[3] for r in records]).tolist()  # host sync
        hit = next(((record, row) for record, row in zip(records, flags, strict=True) if any(row)), None)
        if hit is None:
            return None
        (phase, node, port, _), row = hit
        value = KINDS[row.index(True)]
        node_id = node.meta["node_id"]
        if phase == "forward":
            return Origin(node_id, port, phase, value, step, *self._input_range(node))
        if phase == "backward":  # the gradient reaching node's output: made by the node that consumed it
            return Origin(_consumer(node) or node_id, port, phase, value, step, fed=node_id)
        return Origin(node_id, port, phase, value, step)

    def _input_range(self, node: fx.Node) -> tuple[float | None, float | None]:
        """(max |x|, min x) over the floating inputs `node` took in the last forward."""
        inputs = [t.detach().float() for n in node.all_input_nodes for _, t in float_tensors(self.values.get(n.name))]
        inputs = [t for t in inputs if t.numel()]
        if not inputs:
            return None, None
        return (max(t.abs().max().item() for t in inputs), min(t.min().item() for t in inputs))


def _consumer(node: fx.Node) -> str | None:
    """The graph node that takes `node`'s value (through a getitem of one of its ports), when there is one."""
    users = [u for user in node.users for u in ([user] if "node_id" in user.meta else user.users)
             if "node_id" in u.meta]
    return users[0].meta["node_id"] if users else None


@dataclass
class StartState:
    """A run's state before its first step, kept in memory until its first checkpoint exists: the weights, the
    optimizer state (empty before a step, but a loaded one is not), the random generators and the counters."""

    model: dict
    optimizers: list[dict]
    rng: tuple
    counters: tuple[int, int, int]

    @classmethod
    def capture(cls, model: torch.nn.Module, optimizers, counters: tuple[int, int, int]) -> StartState:
        weights = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
        return cls(weights, [copy.deepcopy(o.state_dict()) for o in optimizers],
                   (random.getstate(), np.random.get_state(), torch.get_rng_state(), cuda), counters)

    def restore(self, model: torch.nn.Module, optimizers) -> tuple[int, int, int]:
        """Put the weights, optimizer state and generators back; returns the counters (epoch, batch, step)."""
        model.load_state_dict(self.model)
        for optimizer, state in zip(optimizers, self.optimizers, strict=True):
            optimizer.load_state_dict(copy.deepcopy(state))
        python, numpy, cpu, cuda = self.rng
        random.setstate(python)
        np.random.set_state(numpy)
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)
        return self.counters


def replay(trainer, until: int) -> Origin | None:
    """Train `trainer` on from the state it was just put back to, with checks on, up to step `until`; the
    first non-finite value's Origin, or None when the replay stayed finite (the blow-up did not repeat)."""
    s = trainer.s
    checks = Checks(s.model, s.optimizers, forward_only=s.scaler.is_enabled())
    forward, s.forward = s.forward, checks.tap  # the tapped twin, never a torch.compile of the module
    try:
        with checks:
            s.train_mode()
            for epoch in range(trainer.epoch + 1, s.config.epochs + 1):
                for x, y in trainer.epoch_batches(epoch):
                    trainer._step(x, y)
                    if (origin := checks.first(trainer.step)) is not None:
                        return origin
                    if trainer.step >= until:
                        return None
                trainer.batch = 0
        return None
    finally:
        s.forward = forward
