"""Expansion: a document with block instances becomes one flat graph the validator and compiler know.

Every instance is replaced by a copy of its definition whose node ids are scoped by the instance's
path — `block3.fc1`, `enc.block3.fc1`, and `block3.0.fc1` … `block3.{N-1}.fc1` when it repeats —
which is exactly the module path the compiler registers each layer under, so `state_dict` keys
and ONNX node names carry the scope. Each port node becomes a pass-through (`blocks.PORT_SPEC`).
Nodes outside any instance keep their ids, so the flat graph's Inputs and Outputs are the document's.

`project` maps the flat graph's validation report back onto the document (`validate_expanded` in
engine.validate, the layer above, does so for every document placing blocks) or onto one definition,
seen from one instance (`definition_view`): shapes on instance ports like on any node, and each
diagnostic from inside an instance on that instance, with `path` naming the way down
(`enc.block3/fc1`, printed as `enc.block3/fc1.in: …`).

An instance's exposed parameters (`engine.blocks`) are set on its copy's inner nodes: the flat node
`block3.conv1` holds the instance's `channels` as its `out_channels`, so shapes, validation, compile
and export see the instance's widths; a bad value is reported on the inner node, seen as
`block3/conv1.out_channels: …`. A value may choose an inner instance's block, so the flat graph is
also counted as it grows: past `MAX_EXPANDED_NODES` the expansion stops with a problem.

Definitions nest at most `MAX_BLOCK_DEPTH` deep: an instance past it is reported, not expanded, so the
walk (one call per level) never nears Python's recursion limit, whatever a document holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import networkx as nx

from nodes import get_spec

from .blocks import (
    BLOCK_INPUT,
    BLOCK_OUTPUT,
    MAX_EXPANDED_NODES,
    MAX_REPEAT,
    PASS,
    PORT_SPEC,
    expanded_size,
    exposure_problems,
    inner_params,
    input_ports,
    instance_values,
    output_ports,
    spec_of,
    unknown_params,
)
from .document import (
    BLOCK,
    MAX_BLOCK_DEPTH,
    Edge,
    GraphDocument,
    NodeState,
    chain_text,
    instance_block,
    nesting_problem,
)
from .validation_report import Diagnostic, ValidationReport

BROKEN = "layerloom.broken"  # an instance that cannot be expanded; its problem is reported on it
Endpoint = tuple[str, str]


@dataclass
class Expansion:
    """The flat graph and how its nodes relate to the document's."""

    flat: GraphDocument
    # flat id of each expanded instance → its copies' id prefixes (`block3.` or `block3.0.`, `block3.1.`…)
    copies: dict[str, list[str]] = field(default_factory=dict)
    # flat id of each expanded instance → the definition it places (an exposed parameter may choose it)
    definitions: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict] = field(default_factory=dict)  # flat id of each expanded instance → exposed values
    inputs: dict[str, dict[str, Endpoint]] = field(default_factory=dict)  # instance → port → flat input
    outputs: dict[str, dict[str, Endpoint]] = field(default_factory=dict)  # instance → port → flat output
    input_ends: dict[str, Endpoint] = field(default_factory=dict)  # flat input pass-through → (instance, port)
    problems: list[Diagnostic] = field(default_factory=list)  # on flat ids
    report: ValidationReport | None = None  # the flat graph's

    @staticmethod
    def owner(flat_id: str) -> str:
        """The document's node a flat node belongs to (itself, or the top-level instance holding it)."""
        return flat_id.split(".", 1)[0]


def expand(doc: GraphDocument) -> Expansion:
    flat = GraphDocument(doc.name, doc.description)
    flat.training = doc.training
    exp = Expansion(flat)
    if expanded_size(doc.blocks, doc) <= MAX_EXPANDED_NODES:
        try:
            _Expander(doc, exp, limit=False).run(doc, "", ())
            return exp
        except _TooLarge:  # exposed parameters chose larger blocks or repeats than the definitions place
            exp = Expansion(flat := GraphDocument(doc.name, doc.description))
            flat.training = doc.training
    for node_id, node in doc.nodes.items():
        if node.type_id == BLOCK:
            exp.problems.append(Diagnostic(
                "error", f"the blocks expand to more than {MAX_EXPANDED_NODES:,} layers — lower a repeat "
                         "count or place fewer blocks", node_id, param="repeat"))
    _Expander(doc, exp, limit=True).run(doc, "", ())
    return exp


class _TooLarge(Exception):
    """The flat graph grew past MAX_EXPANDED_NODES."""


class _Expander:
    def __init__(self, root: GraphDocument, exp: Expansion, limit: bool):
        self.blocks, self.exp, self.limit = root.blocks, exp, limit
        self.too_deep_reported: set[str] = set()  # top-level instances told their blocks nest too deep

    def problem(self, flat_id: str, message: str, **where) -> None:
        self.exp.problems.append(Diagnostic("error", message, flat_id, **where))

    def too_deep(self, flat_id: str, chain: tuple[str, ...]) -> None:
        """Reported on the top-level instance holding the chain, once: a path 64 levels long would bury it."""
        owner = Expansion.owner(flat_id)
        if owner not in self.too_deep_reported:
            self.too_deep_reported.add(owner)
            self.problem(owner, nesting_problem(chain), param="block")

    def add(self, flat_id: str, node: NodeState) -> None:
        self.exp.flat.nodes[flat_id] = node
        if len(self.exp.flat.nodes) > MAX_EXPANDED_NODES and not self.limit:
            raise _TooLarge

    def wire(self, src: Endpoint, dst: Endpoint) -> None:
        edge = Edge(*src, *dst)
        if edge not in self.exp.flat._edge_set:
            self.exp.flat.edges.append(edge)
            self.exp.flat._edge_set.add(edge)

    def run(self, d: GraphDocument, prefix: str, stack: tuple[str, ...],
            params: dict[str, dict] | None = None) -> None:
        """Add `d`'s nodes under `prefix` (`""` for the document, `block3.` inside an instance), each
        with the params its instance sets on it (`params`: node id → {param: value})."""
        inside = bool(stack)
        expanded: set[str] = set()
        for node_id, own in d.nodes.items():
            flat_id = prefix + node_id
            node = own if not params or node_id not in params else \
                NodeState(own.type_id, {**own.params, **params[node_id]}, own.position)
            if node.type_id == BLOCK:
                if self.limit:  # too large to expand: reported on every top-level instance
                    self.add(flat_id, NodeState(BROKEN))
                elif problem := self.instance_problem(node, stack):
                    self.problem(flat_id, problem[1], param=problem[0])
                    self.add(flat_id, NodeState(BROKEN))
                elif len(stack) >= MAX_BLOCK_DEPTH:  # the walk goes one call deeper per level: bounded here
                    self.too_deep(flat_id, (*stack, instance_block(node)))
                    self.add(flat_id, NodeState(BROKEN))
                else:
                    self.instance(flat_id, node, stack)
                    expanded.add(node_id)
                    for name in unknown_params(self.blocks, own):
                        self.exp.problems.append(Diagnostic(
                            "warning", f"block {instance_block(node)!r} exposes no parameter {name!r}; it is "
                                       "ignored — expose it in the block or remove it", flat_id, param=name))
            elif node.type_id in (BLOCK_INPUT, BLOCK_OUTPUT):
                if not inside:
                    self.problem(flat_id, "a block port belongs inside a block definition — delete it")
                    self.add(flat_id, NodeState(BROKEN))
                else:
                    self.add(flat_id, NodeState(PASS))
            else:
                spec = get_spec(node.type_id)
                if inside and spec is not None and spec.role != "layer":
                    self.problem(flat_id, f"a block cannot hold a {spec.title} node — use block ports "
                                          "and keep Inputs, Targets, Outputs and losses outside")
                    self.add(flat_id, NodeState(BROKEN))
                else:
                    self.add(flat_id, node)
        for edge in d.edges:
            src = self.source(d, prefix, edge, edge.src in expanded)
            dst = self.target(d, prefix, edge, edge.dst in expanded)
            if src and dst:
                self.wire(src, dst)

    def instance_problem(self, node: NodeState, stack: tuple[str, ...]) -> tuple[str | None, str] | None:
        """What stops the instance `node` expanding (param, message), or None."""
        name = instance_block(node)
        if name is None or name not in self.blocks:
            return "block", f"there is no block definition {name!r} — choose one of the document's blocks"
        if name in stack:
            return "block", f"block {name!r} contains itself ({chain_text((*stack[stack.index(name):], name))})"
        repeat = node.params.get("repeat", 1)
        if not isinstance(repeat, int) or isinstance(repeat, bool) or not 1 <= repeat <= MAX_REPEAT:
            return "repeat", f"expected a whole number from 1 to {MAX_REPEAT}, got {repeat!r}"
        definition = self.blocks[name]
        if repeat > 1 and len(input_ports(definition)) != len(output_ports(definition)):
            return "repeat", (f"block {name!r} has {len(input_ports(definition))} inputs and "
                              f"{len(output_ports(definition))} outputs; to repeat it, each output must feed "
                              "the next copy's input of the same position")
        if problems := exposure_problems(definition):
            return problems[0]
        return None

    def instance(self, flat_id: str, node: NodeState, stack: tuple[str, ...]) -> None:
        name = instance_block(node)
        definition, repeat = self.blocks[name], node.params.get("repeat", 1)
        ins, outs = input_ports(definition), output_ports(definition)
        copies = [f"{flat_id}.{k}." if repeat > 1 else f"{flat_id}." for k in range(repeat)]
        values = instance_values(self.blocks, node)
        params = inner_params(definition, values)
        for k, prefix in enumerate(copies):
            self.run(definition, prefix, (*stack, name), params)
            if k:
                for out_port, in_port in zip(outs, ins, strict=True):
                    self.wire((copies[k - 1] + out_port, "out"), (prefix + in_port, "in"))
        self.exp.copies[flat_id] = copies
        self.exp.definitions[flat_id] = name
        self.exp.values[flat_id] = values
        self.exp.inputs[flat_id] = {p: (copies[0] + p, "in") for p in ins}
        self.exp.input_ends.update({copies[0] + p: (flat_id, p) for p in ins})
        self.exp.outputs[flat_id] = {p: (copies[-1] + p, "out") for p in outs}

    def source(self, d: GraphDocument, prefix: str, edge: Edge, expanded: bool) -> Endpoint | None:
        flat_id = prefix + edge.src
        if expanded:
            found = self.exp.outputs[flat_id].get(edge.src_port)
            if found is None:
                self.problem(flat_id, f"block has no output port {edge.src_port!r}", port=edge.src_port)
            return found
        if d.nodes[edge.src].type_id == BLOCK_OUTPUT:
            self.problem(flat_id, "a block output port has no outputs inside its block", port=edge.src_port)
            return None
        return flat_id, edge.src_port

    def target(self, d: GraphDocument, prefix: str, edge: Edge, expanded: bool) -> Endpoint | None:
        flat_id = prefix + edge.dst
        if expanded:
            found = self.exp.inputs[flat_id].get(edge.dst_port)
            if found is None:
                self.problem(flat_id, f"block has no input port {edge.dst_port!r}", port=edge.dst_port)
            return found
        if d.nodes[edge.dst].type_id == BLOCK_INPUT:
            self.problem(flat_id, "a block input port has no inputs inside its block", port=edge.dst_port)
            return None
        return flat_id, edge.dst_port


def definition_view(doc: GraphDocument, report: ValidationReport, instances: list[str]) -> ValidationReport:
    """The report of a definition as seen from one instance, for editing it in the canvas.

    `instances` is the breadcrumb: a top-level instance id, then the id of an instance inside its
    definition, and so on; the last one's definition is shown, with the shapes its first copy gets (the
    definition that instance places, which an exposed parameter may have chosen: `definition_at`).
    Raises KeyError when the breadcrumb does not name expanded instances of `report`.
    """
    exp = report.expansion
    if exp is None or not instances:
        raise KeyError("the report has no blocks expanded")
    prefix = ""
    for instance_id in instances:
        flat_id = prefix + instance_id
        prefix = exp.copies[flat_id][0]
    return project(exp, doc.blocks[exp.definitions[flat_id]], prefix)


def definition_at(report: ValidationReport, instances: list[str]) -> str | None:
    """The definition the breadcrumb's last instance places once expanded, None when `report` cannot tell."""
    exp = report.expansion
    prefix, flat_id = "", None
    for instance_id in instances:
        flat_id = prefix + instance_id
        if exp is None or flat_id not in exp.copies:
            return None
        prefix = exp.copies[flat_id][0]
    return exp.definitions.get(flat_id) if exp is not None and flat_id else None


def project(exp: Expansion, d: GraphDocument, prefix: str) -> ValidationReport:
    """The flat report seen from the nodes of `d`, expanded under `prefix`."""
    flat = exp.report
    report = ValidationReport()
    for node_id, node in d.nodes.items():
        flat_id = prefix + node_id
        if flat_id in exp.copies:
            for port, end in exp.outputs[flat_id].items():
                if end in flat.shapes:
                    report.shapes[(node_id, port)] = flat.shapes[end]
                    report.dtypes[(node_id, port)] = flat.dtypes[end]
            ins = {port: flat.input_shapes[end[0]]["in"] for port, end in exp.inputs[flat_id].items()
                   if "in" in flat.input_shapes.get(end[0], {})}
            if ins:
                report.input_shapes[node_id] = ins
            continue
        spec = PORT_SPEC if node.type_id in (BLOCK_INPUT, BLOCK_OUTPUT) else spec_of(node.type_id)
        for port in spec.outputs if spec else ():
            if (flat_id, port.name) in flat.shapes:
                report.shapes[(node_id, port.name)] = flat.shapes[(flat_id, port.name)]
                report.dtypes[(node_id, port.name)] = flat.dtypes[(flat_id, port.name)]
        if flat_id in flat.input_shapes:
            report.input_shapes[node_id] = flat.input_shapes[flat_id]
    report.diagnostics = [mapped for diagnostic in (*exp.problems, *flat.diagnostics)
                          if (mapped := _localise(exp, diagnostic, prefix)) is not None]
    if flat.order:
        graph = nx.MultiDiGraph()
        graph.add_nodes_from(d.nodes)
        graph.add_edges_from((e.src, e.dst) for e in d.edges)
        if nx.is_directed_acyclic_graph(graph):
            report.order = list(nx.lexicographical_topological_sort(graph))
    return report


def _localise(exp: Expansion, diagnostic: Diagnostic, prefix: str) -> Diagnostic | None:
    """The diagnostic on the node of the scope it comes from (None when outside the scope)."""
    flat_id = diagnostic.node
    if flat_id is None:
        return diagnostic if not prefix else None
    if not flat_id.startswith(prefix):
        return None
    if exp.flat.nodes.get(flat_id, NodeState("")).type_id == BROKEN and diagnostic.message.startswith("unknown"):
        return None  # its own problem is reported
    rest = flat_id[len(prefix):]
    local = rest.split(".", 1)[0]
    if diagnostic.port == "in" and flat_id in exp.input_ends:  # an unwired instance input
        instance, port = exp.input_ends[flat_id]
        instance = instance[len(prefix):]
        return replace(diagnostic, node=local, port=port, path=None if instance == local else instance)
    return replace(diagnostic, node=local, path=None if rest == local else "/".join(rest.rsplit(".", 1)))
