"""The compiled graph rebuilt as the user drew it: one module per block instance, for the exporters.

The compiler flattens blocks (`engine.block_expand`), registering each layer under its scoped path
(`block3.fc1`, repeats `block3.0.fc1`). Here the nesting comes back: every *scope* —
the graph itself, or one copy of an instance's definition — becomes an `fx.GraphModule` whose
submodules are its own layers (the compiled modules, weights included) and its instances (the scope
modules of their definitions; a repeated instance an `nn.Sequential` of its copies, or a `Repeat`
when its block has several ports). So the tree's `state_dict` keys are the compiled graph's.

A scope's forward takes the block's input ports in order and returns its output ports (one value,
or a tuple). Only what feeds the graph's Outputs is built, as in the compiler: an input port nothing
needed reads is passed None, and an output port nothing needs returns None.

Exporters need the nesting: the ONNX exporter names each node after the chain of module calls it
happens in (`/enc/block3/fc1/Gemm`), which the flat module, calling every layer from its own
forward, does not have (`nested_module`); the Python export writes a class per definition.
`build_scopes` builds the tree bottom-up and hands each scope module to `finish(module, block, values)`
(block: the definition's name, None for the graph; values: the exposed parameters that copy was built
with), which returns the module to place in the parent — the code writer's traced copy, or the module
itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from types import SimpleNamespace

import networkx as nx
import torch
import torch.fx as fx
from torch import nn

from nodes import Port

from ..block_expand import expand
from ..blocks import (
    BLOCK_INPUT,
    BLOCK_OUTPUT,
    has_blocks,
    input_ports,
    is_instance,
    output_ports,
    spec_of,
)
from ..compile import CompiledGraph, _ancestors, _record_outputs
from ..document import GraphDocument
from ..errors import ExportError

# finish(scope module, its definition's name or None for the graph, the copy's exposed values)
Finish = Callable[[fx.GraphModule, str | None, dict], torch.nn.Module]


class Repeat(nn.ModuleList):
    """Runs its blocks in sequence, each one's outputs being the next one's inputs (a repeated block
    with several ports; one with a single port is an nn.Sequential)."""

    def forward(self, *inputs):
        for block in self:
            inputs = block(*inputs)
        return inputs


def nested_module(doc: GraphDocument, compiled: CompiledGraph) -> CompiledGraph:
    """`compiled` with its module rebuilt one module per block instance (the same layers and weights,
    an fx.GraphModule still); unchanged when `doc` places no blocks."""
    if not has_blocks(doc):
        return compiled
    return replace(compiled, module=build_scopes(doc, compiled, lambda module, block, values: module).eval())


def build_scopes(doc: GraphDocument, compiled: CompiledGraph, finish: Finish) -> torch.nn.Module:
    """The graph's scope module, holding `compiled`'s layers (see the module docstring)."""
    return _Builder(doc, compiled, finish).scope(doc, "", None, {})


class _Builder:
    def __init__(self, doc: GraphDocument, compiled: CompiledGraph, finish: Finish):
        expansion = expand(doc) if has_blocks(doc) else None
        flat = expansion.flat if expansion else doc
        self.blocks, self.compiled, self.finish = doc.blocks, compiled, finish
        self.copies = expansion.copies if expansion else {}
        self.definitions = expansion.definitions if expansion else {}
        self.values = expansion.values if expansion else {}
        self.needed = _ancestors(compiled.output_names, flat.edges)
        # the flat ids of the instances (and copies) holding something needed: `enc`, `enc.deep`, `enc.deep.0`
        self.needed_within = {flat_id.rsplit(".", k)[0] for flat_id in self.needed
                              for k in range(1, flat_id.count(".") + 1)}

    def scope(self, d: GraphDocument, prefix: str, block: str | None, exposed: dict) -> torch.nn.Module:
        """The module of `d`'s nodes expanded under `prefix` (`""` for the graph, `block3.` for a copy, built
        with the `exposed` parameter values)."""
        graph = fx.Graph()
        values: dict[tuple[str, str], fx.Node] = {}
        modules: dict[str, torch.nn.Module] = {}
        for name in self.compiled.input_names if block is None else input_ports(d):
            values[(name, "out")] = graph.placeholder(name)
        wires = {(e.dst, e.dst_port): e for e in d.edges}

        def source(node_id: str, port: str) -> fx.Node | None:
            wire = wires.get((node_id, port))
            return None if wire is None else values.get((wire.src, wire.src_port))

        for node_id in _order(d, block):
            node, flat_id = d.nodes[node_id], prefix + node_id
            if is_instance(node):
                if flat_id not in self.needed_within:
                    continue
                definition = self.blocks[self.definitions[flat_id]]
                copies = [self.scope(definition, p, definition.name, self.values[flat_id])
                          for p in self.copies[flat_id]]
                modules[node_id] = copies[0] if len(copies) == 1 else _repeat(copies, definition)
                call = graph.call_module(node_id, tuple(source(node_id, p) for p in input_ports(definition)))
                ports = SimpleNamespace(outputs=[Port(p) for p in output_ports(definition)])  # as a spec's
                _record_outputs(graph, node_id, ports, call, d.edges, values)
            elif node.type_id not in (BLOCK_INPUT, BLOCK_OUTPUT) and flat_id in self.needed:
                spec = spec_of(node.type_id)
                if spec.role != "layer":
                    continue
                modules[node_id] = self.compiled.module.get_submodule(flat_id)
                call = graph.call_module(node_id, tuple(source(node_id, p.name) for p in spec.inputs
                                                        if (node_id, p.name) in wires))
                _record_outputs(graph, node_id, spec, call, d.edges, values)

        if block is None:
            results = [source(o, "in") for o in self.compiled.output_names]
        else:
            results = [source(p, "in") for p in output_ports(d)]
        graph.output(results[0] if len(results) == 1 else tuple(results))
        return self.finish(fx.GraphModule(modules, graph, class_name=block or "Graph"), block, exposed)


def _order(d: GraphDocument, block: str | None) -> list[str]:
    """`d`'s nodes in the compiler's order: topological, ties broken by id."""
    graph = nx.MultiDiGraph()
    graph.add_nodes_from(d.nodes)
    graph.add_edges_from((e.src, e.dst) for e in d.edges)
    try:
        return list(nx.lexicographical_topological_sort(graph))
    except nx.NetworkXUnfeasible:  # the flat graph is acyclic, but a block's outputs feed its own inputs
        where = "the graph" if block is None else f"block {block!r}"
        raise ExportError(f"cannot export {where}: an instance in it feeds its own inputs from its outputs through "
                          "other nodes, so it cannot be one module call — ungroup that instance") from None


def _repeat(copies: list[torch.nn.Module], definition: GraphDocument) -> torch.nn.Module:
    if len(input_ports(definition)) == len(output_ports(definition)) == 1:
        return torch.nn.Sequential(*copies)
    return Repeat(copies)
