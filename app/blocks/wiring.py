"""Which wires may be drawn where blocks are involved: to and from instances (whose ports are their
definition's) and inside an open definition (whose port nodes have one port each). Elsewhere the
canvas's ordinary rules (`app.wiring.refusal`) apply unchanged."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.block_expand import definition_view
from engine.blocks import BLOCK_INPUT, input_ports, is_instance, is_port, output_ports
from engine.document import Edge, GraphDocument, NodeState, instance_block
from engine.fileformat import from_dict, to_dict
from engine.validate import validate
from nodes import get_spec

from ..wiring import new_error, refusal, structural_refusal

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
        return refusal(doc, edge, scene.current_report())
    is_output = edge.src_port in ports_of(scene.root, src, True)
    is_input = edge.dst_port in ports_of(scene.root, dst, False)
    return structural_refusal(doc, edge, is_output, is_input) or _shape_problem(scene, edge)


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
    return new_error(edge, before, after)
