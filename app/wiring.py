"""Why a wire may not be drawn: the rules the canvas enforces before it adds an edge.

Structural problems (wrong direction, occupied input, a cycle) are found directly; a shape
mismatch by trying the wire on its target alone (`engine.validate.trial_wire`), from the current
validation, and looking for errors on it that were not there before — or, where that cannot tell,
by validating a copy of the document with the wire added.
"""

from __future__ import annotations

from collections import defaultdict, deque

from engine.document import Edge, GraphDocument
from engine.fileformat import from_dict, to_dict
from engine.validate import ValidationReport, trial_wire, validate
from nodes import format_shape, get_spec


def refusal(doc: GraphDocument, edge: Edge, report: ValidationReport | None = None) -> str | None:
    """A sentence saying why `edge` cannot be added, or None when it can."""
    src_spec, dst_spec = get_spec(doc.node(edge.src).type_id), get_spec(doc.node(edge.dst).type_id)
    is_output = src_spec is not None and bool(src_spec.output_port(edge.src_port))
    is_input = dst_spec is not None and bool(dst_spec.input_port(edge.dst_port))
    return structural_refusal(doc, edge, is_output, is_input) or _shape_problem(doc, edge, report)


def structural_refusal(doc: GraphDocument, edge: Edge, is_output: bool, is_input: bool) -> str | None:
    """Why `edge` cannot be drawn whatever the shapes: its ends are not an output and an input (as the
    caller knows them), it exists, its input is taken, or it closes a cycle."""
    if not is_output:
        return f"{edge.src}.{edge.src_port} is not an output — drag from an output (right side) to an input"
    if not is_input:
        return f"{edge.dst}.{edge.dst_port} is not an input — drag from an output (right side) to an input"
    if doc.has_edge(edge):
        return f"{edge} is already wired"
    for existing in doc.edges_into(edge.dst, edge.dst_port):
        return (f"{edge.dst}.{edge.dst_port} already has a wire from {existing.src}.{existing.src_port} "
                "— delete that wire first")
    loop = _cycle(doc, edge)
    if loop:
        return f"that wire would make a cycle ({' → '.join(loop)}) — networks must flow one way"
    return None


def _cycle(doc: GraphDocument, edge: Edge) -> list[str] | None:
    """The loop `edge` would close (a shortest way back from its target to its source), or None."""
    successors: dict[str, list[str]] = defaultdict(list)
    for e in doc.edges:
        successors[e.src].append(e.dst)
    came_from = {edge.dst: edge.dst}
    frontier = deque([edge.dst])
    while frontier and edge.src not in came_from:
        node = frontier.popleft()
        for nxt in successors[node]:
            if nxt not in came_from:
                came_from[nxt] = node
                frontier.append(nxt)
    if edge.src not in came_from:
        return None
    path = [edge.src]
    while path[-1] != edge.dst:
        path.append(came_from[path[-1]])
    return [*reversed(path), edge.dst]


def _shape_problem(doc: GraphDocument, edge: Edge, report: ValidationReport | None) -> str | None:
    report = report or validate(doc)
    if (trial := trial_wire(doc, report, edge)) is None:
        trial = from_dict(to_dict(doc))
        trial.add_edge(edge)
        trial = validate(trial)
    return new_error(edge, set(report.for_node(edge.dst)), trial)


def new_error(edge: Edge, before: set, after: ValidationReport) -> str | None:
    """The first error on the wire's target in `after` that was not in `before`, said as a refusal."""
    new = [d for d in after.for_node(edge.dst) if d.severity == "error" and d not in before]
    if not new:
        return None
    shape = after.edge_shape(edge)
    got = f"{format_shape(shape)} " if shape is not None else ""
    return f"{got}does not fit {edge.dst}.{new[0].port or edge.dst_port}: {new[0].message}"


def first_input(type_id: str) -> str | None:
    """The port a wire dropped on a new node connects to (its first input)."""
    spec = get_spec(type_id)
    return spec.inputs[0].name if spec and spec.inputs else None
