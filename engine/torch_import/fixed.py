"""Values a model computes from its input's *sizes* alone, never from its data or its learned weights:
position ids (`arange(T)`, or a slice of a stored `position_ids` buffer), an attention mask built for an
unpadded batch (Hugging Face builds one whenever it is traced: all true for BERT, lower-triangular for GPT-2),
BERT's token-type ids (zeros). No node computes them; the importer asks what each one *is* where a layer
reads it — positions, no mask, a causal mask, one fixed index — and refuses anything else.

What a value is gets proven, not guessed from the ops that built it: the fixed part of the program is
evaluated at two batch sizes (the other sizes are the traced ones, as the graph's are) and compared with
each meaning. The whole graph's parity check (engine/torch_import/__init__.py) then guards the rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .calls import aten_name

if TYPE_CHECKING:
    import torch
    from torch import fx

BATCHES = (2, 3)
SIZE_READS = {"sym_size", "size"}


class FixedValues:
    def __init__(self, program: torch.export.ExportedProgram, stored: dict[str, torch.Tensor],
                 user_inputs: list[str]):
        """`stored`: the buffers and constants by placeholder name (parameters are learned, so what reads them
        is not fixed)."""
        self.nodes = _fixed_nodes(program, set(stored), set(user_inputs))
        self._values = [_evaluate(program, self.nodes, stored, set(user_inputs), batch) for batch in BATCHES]

    def __contains__(self, node) -> bool:
        return node in self.nodes

    def values(self, node: fx.Node) -> list[torch.Tensor]:
        """The node's value at each of BATCHES."""
        return [values[node] for values in self._values]

    def is_positions(self, node: fx.Node) -> bool:
        """0, 1, … T-1 along the last axis, the same for every sample (batch axis of size 1 or N, or none)."""
        import torch

        for value in self.values(node):
            if value.dtype.is_floating_point or value.ndim == 0 or value.ndim > 2:
                return False
            if not torch.equal(value, torch.arange(value.shape[-1]).expand_as(value)):
                return False
        return True

    def constant_index(self, node: fx.Node) -> int | None:
        """The one index every element holds (BERT's token types when none are given), or None."""
        values = [int(v) for value in self.values(node) for v in value.unique()] if not self._floating(node) else []
        return values[0] if len(set(values)) == 1 else None

    def mask_meaning(self, node: fx.Node) -> str | None:
        """"none" for a mask that hides nothing (all true, or all zero added), "causal" for the lower triangle
        (each position sees itself and those before), None for anything else."""
        import torch

        meanings = set()
        for value in self.values(node):
            if value.ndim < 2 or value.shape[-1] != value.shape[-2]:
                return None
            keep = value if value.dtype == torch.bool else value == 0
            if value.dtype != torch.bool and not torch.all((value == 0) | torch.isneginf(value) | (value < -1e30)):
                return None
            if bool(keep.all()):
                meanings.add("none")
            elif torch.equal(keep, torch.ones_like(keep).tril()):
                meanings.add("causal")
            else:
                return None
        return meanings.pop() if len(meanings) == 1 else None

    def _floating(self, node: fx.Node) -> bool:
        return any(value.dtype.is_floating_point for value in self.values(node))


def _fixed_nodes(program: torch.export.ExportedProgram, stored: set[str], user_inputs: set[str]) -> set[fx.Node]:
    """The ops whose values depend on nothing but sizes and stored buffers (a size read of an input counts as a
    size, any other read of it as data)."""
    fixed: set[fx.Node] = set()
    for node in program.graph.nodes:
        if node.op == "placeholder":
            if node.name in stored:
                fixed.add(node)
        elif node.op == "call_function":
            if aten_name(node) in SIZE_READS and node.args and getattr(node.args[0], "name", None) in user_inputs:
                fixed.add(node)
            elif all(arg in fixed for arg in node.all_input_nodes):
                fixed.add(node)
    return fixed


def _evaluate(program, nodes: set[fx.Node], stored: dict, user_inputs: set[str], batch: int) -> dict:
    """The fixed nodes' values when the batch is `batch`: an input is only read for its sizes, so zeros do."""
    import torch
    from torch import fx

    env: dict[fx.Node, object] = {}
    for node in program.graph.nodes:
        if node.op == "placeholder" and node.name in user_inputs:
            value = node.meta["val"]
            sizes = [batch, *(_concrete(size) for size in value.shape[1:])]
            env[node] = torch.zeros(sizes, dtype=value.dtype)
        elif node.op == "placeholder" and node in nodes:
            env[node] = stored[node.name]
        elif node in nodes:
            args, kwargs = fx.node.map_arg((node.args, node.kwargs), lambda arg: env[arg])
            env[node] = node.target(*args, **kwargs)
    return env


def _concrete(size) -> int:
    """A traced size as a number: a symbolic one (a dynamic length) at the size it was traced with."""
    try:
        return int(size)
    except TypeError:
        return int(size.node.hint)
