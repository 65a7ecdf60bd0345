"""Every node's value from one forward pass: a twin of the compiled module that also returns them.

`tapped(module)` copies the compiled `fx.GraphModule`'s graph (its submodules and parameters are shared,
not copied) and makes its output `{"outputs": <the original output>, "taps": {fx name: value}}`, so a step
that needs the nodes' values (activation statistics at a log point, a NaN replay, a feature map) gets them
from the generated code — no Python hook per node per call, and nothing at all on the other steps. Layer
and loss nodes are the fx nodes compile.py tagged with `meta["node_id"]`; `layer_nodes` lists them in
graph order.
"""

from __future__ import annotations

import torch
from torch import fx


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The compiled graph module inside DDP (`.module`) or torch.compile (`._orig_mod`) wrappers."""
    while True:
        inner = getattr(model, "_orig_mod", None) or getattr(model, "module", None)
        if not isinstance(inner, torch.nn.Module):
            return model
        model = inner


def graph_of(model: torch.nn.Module) -> fx.Graph:
    graph = getattr(unwrap(model), "graph", None)
    if not isinstance(graph, fx.Graph):
        raise TypeError(f"{type(model).__name__} is not a compiled Layerloom graph (no fx graph to walk)")
    return graph


def layer_nodes(model: torch.nn.Module) -> list[fx.Node]:
    """The fx nodes that compute a graph node (a layer or a loss), in the order the forward runs them."""
    return [n for n in graph_of(model).nodes if "node_id" in n.meta]


def tapped(model: torch.nn.Module) -> fx.GraphModule:
    """A module computing what `model` computes, returning `{"outputs": …, "taps": {fx name: value}}` with the
    value of every placeholder and call (see the module doc). It shares `model`'s parameters."""
    module = unwrap(model)
    graph, values = fx.Graph(), {}
    result = graph.graph_copy(graph_of(module), values)
    taps = {old.name: new for old, new in values.items() if old.op not in ("output", "get_attr")}
    graph.output({"outputs": result, "taps": taps})
    return fx.GraphModule(module, graph, class_name="TappedGraph")


def tensors_of(value, port: str = "out") -> list[tuple[str, torch.Tensor]]:
    """The tensors a node gave as (port, tensor): one output is `out`, a tuple's are `out[i]`."""
    if isinstance(value, torch.Tensor):
        return [(port, value)]
    if isinstance(value, tuple | list):
        return [pair for i, item in enumerate(value) for pair in tensors_of(item, f"{port}[{i}]")]
    if isinstance(value, dict):
        return [pair for key, item in value.items() for pair in tensors_of(item, f"{port}[{key}]")]
    return []


def float_tensors(value) -> list[tuple[str, torch.Tensor]]:
    """`tensors_of(value)`, the floating-point ones (the ones that can be NaN)."""
    return [(port, t) for port, t in tensors_of(value) if t.is_floating_point()]


def inputs_of(node: fx.Node) -> list[fx.Node]:
    """The fx nodes whose values `node` takes."""
    return list(node.all_input_nodes)


class Tap:
    """Stands in for the compiled module in a training step (`setup.forward`): runs the tapped twin, hands the
    nodes' values to `seen(taps)` while they are alive, and returns what the module returns."""

    def __init__(self, model: torch.nn.Module, seen):
        self.module, self.seen = tapped(model), seen

    def __call__(self, *args):
        result = self.module(*args)
        self.seen(result["taps"])
        return result["outputs"]
