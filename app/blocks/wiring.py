"""Which wires may be drawn where blocks are involved: to and from instances (whose ports are their
definition's) and inside an open definition (whose port nodes have one port each). Elsewhere the
canvas's ordinary rules (`app.wiring.refusal`) apply unchanged."""

from __future__ import annotations

from typing import TYPE_CHECKING

import networkx as nx

from engine.block_expand import definition_view
from engine.blocks import BLOCK_INPUT, input_ports, instance_block, is_instance, is_port, output_ports
from engine.document import Edge, GraphDocument, NodeState
from engine.fileformat import from_dict, to_dict
from engine.validate import validate
from nodes import format_shape, get_spec

from ..wiring import refusal

if TYPE_CHECKING:
    from .scene import BlockScene


def ports_of(root: GraphDocument, node: NodeState, outputs: bool) -> list[str]:
    """The port names of any node: a layer's spec, an instance's definition, a port node's one port."""
    if is_instance(node):
        definition = root.blocks.get(instance_block(node) or "")
        return [] if definition is None else (output_ports if outputs else input_ports)(definition)
    if is_port(node):
        return ["out"] if (node.type_id == BLOCK_INPUT) == outputs else []
    spec = get_spec(node.type_id)
    return [p.name for p in (spec.outputs if outputs else spec.inputs)] if spec else []


def wire_refusal(scene: BlockScene, edge: Edge) -> str | None:
    """A sentence saying why `edge` cannot be added to the graph the canvas shows, or None when it can."""
    doc = scene.doc
    src, dst = doc.node(edge.src), doc.node(edge.dst)
    if not scene.path and not any(is_instance(n) or is_port(n) for n in (src, dst)):
        return refusal(doc, edge, scene.validate_now())
    if edge.src_port not in ports_of(scene.root, src, True):
        return f"{edge.src}.{edge.src_port} is not an output — drag from an output (right side) to an input"
    if edge.dst_port not in ports_of(scene.root, dst, False):
        return f"{edge.dst}.{edge.dst_port} is not an input — drag from an output (right side) to an input"
    if doc.has_edge(edge):
        return f"{edge} is already wired"
    for existing in doc.edges_into(edge.dst, edge.dst_port):
        return (f"{edge.dst}.{edge.dst_port} already has a wire from {existing.src}.{existing.src_port} "
                "— delete that wire first")
    graph = nx.DiGraph()
    graph.add_nodes_from(doc.nodes)
    graph.add_edges_from((e.src, e.dst) for e in doc.edges)
    if edge.src == edge.dst or nx.has_path(graph, edge.dst, edge.src):
        loop = [edge.src, edge.src] if edge.src == edge.dst else [*nx.shortest_path(graph, edge.dst, edge.src),
                                                                  edge.dst]
        return f"that wire would make a cycle ({' → '.join(loop)}) — networks must flow one way"
    return _shape_problem(scene, edge)


def _shape_problem(scene: BlockScene, edge: Edge) -> str | None:
    """The new error the wire would cause on its target, seen where the canvas is."""
    scene.validate_now()
    before = set(scene.shown_report.for_node(edge.dst))
    trial = from_dict(to_dict(scene.root))
    scope = scene.scope()
    (trial if scope is None else trial.blocks[scope]).add_edge(edge)
    after = validate(trial)
    if scene.path:
        try:
            after = definition_view(trial, after, scene.path)
        except KeyError:
            return None  # the instance cannot be expanded: its own problem is reported
    new = [d for d in after.for_node(edge.dst) if d.severity == "error" and d not in before]
    if not new:
        return None
    shape = after.edge_shape(edge)
    got = f"{format_shape(shape)} " if shape is not None else ""
    return f"{got}does not fit {edge.dst}.{new[0].port or edge.dst_port}: {new[0].message}"
