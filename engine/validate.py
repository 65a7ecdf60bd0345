"""Validation: every problem in a graph at once, and the shape of every wire.

`validate(doc)` checks structure (unknown types, bad params, unknown ports, unwired or doubly
wired inputs, cycles, parts no Input reaches, no Output or loss) over its own successor lists, in
steps (`validation_steps`; networkx is loaded only to name the nodes of a cycle), then walks the
graph in topological order calling each spec's `infer`, so a shape mismatch is reported on the node
and port where it happens. It never raises and never stops at the first problem.
`revalidate(doc, previous, edited)` gives the same report after a param edit in time proportional
to what the edit changes, so the canvas stays live on big graphs. A graph placing blocks is expanded
first (`engine.block_expand`, a layer below this one) and its flat graph validated. The report's types
live in `engine.validation_report`, which the expansion uses too.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import ChainMap, defaultdict
from collections.abc import Generator
from dataclasses import replace

from nodes import NodeSpec, Shape, ShapeError

from .batch_scale import batch_scale_diagnostics
from .blocks import has_blocks, spec_of
from .document import Edge, GraphDocument
from .steps import Steps, run_steps
from .ties import tie_diagnostics
from .validation_report import Diagnostic, PortRef, ValidationContext, ValidationReport

STAGES = ("nodes", "edges", "required", "cycles", "reach", "shapes", "ties", "batches")  # the order diagnostics come in


TOTAL_LOSS = "loss"  # the training module returns the summed loss under this key: no output may take it

def _adder(report: ValidationReport, stage: str):
    return lambda d: report.diagnostics.append(replace(d, stage=stage))


STEP = 250  # nodes or wires checked between two yields of `validation_steps`

def validate(doc: GraphDocument) -> ValidationReport:
    return run_steps(validation_steps(doc))


def validation_steps(doc: GraphDocument) -> Steps[ValidationReport]:
    """`validate(doc)` as a generator that yields after every `STEP` nodes or wires of work (a few
    milliseconds; a graph of fewer is done in one step), returning the report: an editor runs a
    5,000-node graph's validation between frames instead of freezing for a quarter of a second. `doc`
    must not change while it runs. A graph placing blocks is expanded (one step) and its flat graph
    validated in steps.
    """
    if has_blocks(doc):
        return (yield from _expanded_steps(doc))
    report = ValidationReport()
    specs: dict[str, NodeSpec] = {}
    yield from _check_nodes(doc, specs, _adder(report, "nodes"))
    wired: dict[PortRef, Edge] = {}
    yield from _check_edges(doc, specs, wired, _adder(report, "edges"))
    yield from _check_required_inputs(doc, specs, wired, _adder(report, "required"))
    big = len(doc.nodes) > STEP  # a small graph is validated in one step
    if big:
        yield

    successors: dict[str, list[str]] = {node_id: [] for node_id in doc.nodes}
    for edge in doc.edges:  # (a wire names nodes that exist; were one not to, it would count as a node)
        successors.setdefault(edge.src, []).append(edge.dst)
        successors.setdefault(edge.dst, [])
    if big:
        yield
    order = yield from _topological_order(successors)
    cyclic = len(order) < len(successors)
    if cyclic:
        _check_cycles(doc, _adder(report, "cycles"))
    yield from _check_reachability(doc, specs, successors, _adder(report, "reach"))
    if not cyclic:
        report.order = order
        add = _adder(report, "shapes")
        param_errors = {d.node for d in report.diagnostics if d.param and d.severity == "error"}
        for i, node_id in enumerate(report.order):
            _infer_node(doc, specs, wired, report, node_id, node_id in param_errors, add)
            if i % STEP == STEP - 1:
                yield
        report.diagnostics += tie_diagnostics(doc, report) + batch_scale_diagnostics(doc, report)
        report.context = ValidationContext(specs, wired)
    return report


def validate_expanded(doc: GraphDocument) -> ValidationReport:
    """`validate` for a document that places blocks: the flat graph's report projected onto `doc`.

    engine.block_expand is imported only here: it loads networkx (~0.13 s), which a graph without blocks
    never needs (see `_check_cycles`)."""
    return run_steps(_expanded_steps(doc))


def _expanded_steps(doc: GraphDocument) -> Steps[ValidationReport]:
    from .block_expand import expand, project

    exp = expand(doc)
    yield
    exp.report = yield from validation_steps(exp.flat)
    report = project(exp, doc, "")
    report.expansion = exp
    return report


def _by_node(diagnostics: list[Diagnostic], stage: str) -> dict[str | None, list[Diagnostic]]:
    grouped: dict[str | None, list[Diagnostic]] = defaultdict(list)
    for d in diagnostics:
        if d.stage == stage:
            grouped[d.node].append(d)
    return grouped


def revalidate(doc: GraphDocument, previous: ValidationReport, edited: set[str]) -> ValidationReport:
    """What `validate(doc)` returns, when only the params of the `edited` nodes changed since `previous`.

    The wiring — and so the edge, cycle and reachability checks and the topological order — is the
    same, so those results are kept; params are re-checked (cheap), and shapes and element types are
    re-inferred from the edited nodes downstream, in topological order, going on past a node only if
    its outputs came out different. An edit deep in a 5,000-node graph re-infers a handful of nodes.
    """
    context = previous.context
    if context is None or not previous.order or not edited <= context.specs.keys():
        return validate(doc)
    report = ValidationReport(shapes=dict(previous.shapes), dtypes=dict(previous.dtypes),
                              input_shapes=dict(previous.input_shapes), order=previous.order, context=context)
    specs, wired = context.specs, context.wired
    params = _by_node(previous.diagnostics, "nodes")
    for node_id in edited:
        params[node_id] = []
        _check_params(doc, specs[node_id], node_id, lambda d, n=node_id: params[n].append(replace(d, stage="nodes")))
    report.diagnostics += [d for node_id in (*doc.nodes, None) for d in params.get(node_id, ())]
    report.diagnostics += [d for d in previous.diagnostics if d.stage in ("edges", "required", "cycles", "reach")]

    shape_diagnostics = _by_node(previous.diagnostics, "shapes")
    successors = context.successors
    param_errors = {d.node for d in report.diagnostics if d.param and d.severity == "error"}
    if not context.rank:
        context.rank.update((node_id, i) for i, node_id in enumerate(report.order))
    rank = context.rank
    queue = [(rank[n], n) for n in edited]
    heapq.heapify(queue)
    inferred: set[str] = set()
    while queue:
        _, node_id = heapq.heappop(queue)
        if node_id in inferred:
            continue
        inferred.add(node_id)
        spec = specs.get(node_id)
        outputs = [p.name for p in spec.outputs] if spec else []
        before = [(report.shapes.pop((node_id, port), None), report.dtypes.pop((node_id, port), None))
                  for port in outputs]
        report.input_shapes.pop(node_id, None)
        shape_diagnostics[node_id] = []
        _infer_node(doc, specs, wired, report, node_id, node_id in param_errors,
                    lambda d, n=node_id: shape_diagnostics[n].append(replace(d, stage="shapes")))
        if [(report.shapes.get((node_id, port)), report.dtypes.get((node_id, port))) for port in outputs] != before:
            for successor in successors[node_id]:
                heapq.heappush(queue, (rank[successor], successor))
    report.diagnostics += [d for node_id in report.order for d in shape_diagnostics.get(node_id, ())]
    report.diagnostics += tie_diagnostics(doc, report) + batch_scale_diagnostics(doc, report)
    report.touched = inferred
    return report


def trial_wire(doc: GraphDocument, report: ValidationReport, edge: Edge) -> ValidationReport | None:
    """What validating `doc` with `edge` added says about the wire's target — its element type and shape checks,
    and the wire's shape — worked out from `report` (a full validation of `doc`, or of it before the
    target was added) for that one node, so a canvas can refuse a misfitting wire at once on any size of
    graph. None when `report` cannot tell (it holds no context, or blocks were expanded): validate a
    copy instead.
    """
    context = report.context
    if context is None or report.expansion is not None or edge.dst not in doc.nodes:
        return None
    spec = context.specs.get(edge.dst) or spec_of(doc.nodes[edge.dst].type_id)  # (a node added since)
    if spec is None:
        return None
    wired = {(edge.dst, port.name): context.wired[(edge.dst, port.name)]
             for port in spec.inputs if (edge.dst, port.name) in context.wired}
    wired[(edge.dst, edge.dst_port)] = edge
    sources = [(e.src, e.src_port) for e in wired.values() if (e.src, e.src_port) in report.shapes]
    trial = ValidationReport(shapes={end: report.shapes[end] for end in sources})
    # all wires and element types, read through (no copy): an error's message says where a wrong type came from
    trial.dtypes = ChainMap({}, report.dtypes)  # type: ignore[assignment]
    specs = context.specs if edge.dst in context.specs else context.specs | {edge.dst: spec}
    if edge.dst in context.specs:
        param_error = any(d.node == edge.dst and d.param and d.severity == "error" for d in report.diagnostics)
    else:
        param_problems: list[Diagnostic] = []  # (the node's own, not the wire's: they refuse nothing)
        _check_params(doc, spec, edge.dst, param_problems.append)
        param_error = any(d.severity == "error" for d in param_problems)
    _infer_node(doc, specs, ChainMap(wired, context.wired), trial, edge.dst, param_error, _adder(trial, "shapes"))
    return trial


def _check_nodes(doc: GraphDocument, specs: dict[str, NodeSpec], add) -> Generator:
    """Check every node's type and params, filling `specs` (node → its spec)."""
    for i, (node_id, node) in enumerate(doc.nodes.items()):
        if i % STEP == STEP - 1:
            yield
        spec = spec_of(node.type_id)
        if spec is None:
            add(Diagnostic("error", f"unknown node type {node.type_id!r}", node_id))
            continue
        specs[node_id] = spec
        _check_params(doc, spec, node_id, add)
        if node_id == TOTAL_LOSS and spec.role in ("output", "loss"):
            add(Diagnostic("error", f"the id {TOTAL_LOSS!r} is reserved for a run's summed loss — rename the node (F2)",
                           node_id))
    if not any(spec.role in ("output", "loss") for spec in specs.values()):
        add(Diagnostic("error", "the graph has no Output or loss node — add one so there is something to compute"))


def _check_params(doc: GraphDocument, spec: NodeSpec, node_id: str, add) -> None:
    for name, value in doc.nodes[node_id].params.items():
        param = spec.param(name)
        if param is None:
            add(Diagnostic("warning", f"{spec.type_id} has no parameter {name!r}; it is ignored", node_id,
                           param=name))
        elif problem := param.problem(value):
            add(Diagnostic("error", problem, node_id, param=name))


def _check_edges(doc: GraphDocument, specs: dict[str, NodeSpec], wired: dict[PortRef, Edge], add) -> Generator:
    """Report bad ports and doubly wired inputs, filling `wired` (input port → the wire feeding it)."""
    for i, edge in enumerate(doc.edges):
        if i % STEP == STEP - 1:
            yield
        src_spec, dst_spec = specs.get(edge.src), specs.get(edge.dst)
        if src_spec and not src_spec.output_port(edge.src_port):
            add(Diagnostic("error", f"{src_spec.type_id} has no output port {edge.src_port!r}", edge.src,
                           edge.src_port))
            continue
        if dst_spec and not dst_spec.input_port(edge.dst_port):
            add(Diagnostic("error", f"{dst_spec.type_id} has no input port {edge.dst_port!r}", edge.dst,
                           edge.dst_port))
            continue
        key = (edge.dst, edge.dst_port)
        if key in wired:
            add(Diagnostic("error", f"two wires into one input (from {wired[key].src} and {edge.src}) — remove one",
                           edge.dst, edge.dst_port))
            continue
        wired[key] = edge


def _check_required_inputs(doc, specs, wired, add) -> Generator:
    for i, (node_id, spec) in enumerate(specs.items()):
        if i % STEP == STEP - 1:
            yield
        for port in spec.inputs:
            if not port.optional and (node_id, port.name) not in wired:
                add(Diagnostic("error", "input is not connected — wire an output into it", node_id, port.name))


DTYPE_AGNOSTIC = ("Input / Output", "Shape", "Merge")  # categories that pass any element type through


def _output_dtypes(params, spec: NodeSpec, in_dtypes: dict[str, str]) -> dict[str, str]:
    """The element type of each output: an Input's or Target's own; what a reshaping or merging node is
    given (torch promotes a mix: int64 stays int64 only when every input is); a layer's declared one."""
    if spec.role in ("input", "target"):
        return {"out": params["dtype"]}
    if spec.category in DTYPE_AGNOSTIC:
        passed = "int64" if in_dtypes and all(d == "int64" for d in in_dtypes.values()) else "float32"
        return {port.name: passed for port in spec.outputs}
    return {port.name: port.dtype for port in spec.outputs}


def _check_dtypes(doc, specs, wired, report: ValidationReport, node_id: str, spec: NodeSpec,
                  in_dtypes: dict[str, str], add) -> None:
    """Each input of a layer or loss must carry the element type its port takes: token ids and class
    indices (int64) into Embedding and a classification target, floats everywhere else — also when
    the values come through reshaping or merging nodes, which pass their type on."""
    if spec.category in DTYPE_AGNOSTIC:
        return
    for port_name, have in in_dtypes.items():
        want = spec.input_port(port_name).dtype
        if want not in (have, "any"):
            src = wired[(node_id, port_name)].src
            add(Diagnostic("error", f"expects {want} values, but {src} gives {have}"
                                    f"{_dtype_fix(doc, specs, wired, report, src, have, want)}", node_id, port_name))


def _dtype_fix(doc, specs, wired, report: ValidationReport, src: str, have: str, want: str) -> str:
    """Where the wrong element type comes from and how to change it: the Input or Target it passed
    through reshaping or merging nodes from."""
    origin = src
    while specs[origin].category in DTYPE_AGNOSTIC and specs[origin].role not in ("input", "target"):
        origin = next((e.src for port in specs[origin].inputs if (e := wired.get((origin, port.name)))
                       and report.dtypes.get((e.src, e.src_port)) == have), None)
        if origin is None:
            return ""
    if specs[origin].role in ("input", "target"):
        passed = f" (passed on from {origin})" if origin != src else ""
        return f"{passed} — set the dtype of {origin} to {want}"
    return f" — {want} values come from an Input or Target of dtype {want}"


def _topological_order(successors: dict[str, list[str]]) -> Generator[None, None, list[str]]:
    """The nodes in topological order, ties broken by id (so the order is networkx's
    `lexicographical_topological_sort`'s); it stops short of the nodes on or after a cycle."""
    indegree = dict.fromkeys(successors, 0)
    for targets in successors.values():
        for target in targets:
            indegree[target] += 1
    ready = [node_id for node_id, count in indegree.items() if count == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        node_id = heapq.heappop(ready)
        order.append(node_id)
        for target in successors[node_id]:
            indegree[target] -= 1
            if indegree[target] == 0:
                heapq.heappush(ready, target)
        if len(order) % STEP == 0:
            yield
    return order


def _check_cycles(doc: GraphDocument, add) -> None:
    """Report the nodes of every cycle (there is one: the topological order stopped short).

    networkx is imported only here, for the rare graph with a cycle: it costs ~0.13 s to import, which
    every `layerloom` command that reaches this module (through engine.stats) would otherwise pay."""
    import networkx as nx

    graph = nx.MultiDiGraph()
    graph.add_nodes_from(doc.nodes)
    graph.add_edges_from((e.src, e.dst) for e in doc.edges)
    cycles = [c for c in nx.strongly_connected_components(graph) if len(c) > 1 or _self_loop(graph, c)]
    for component in cycles:
        loop = " → ".join(_cycle_path(graph.subgraph(component)))
        for node_id in sorted(component):
            add(Diagnostic("error", f"part of a cycle ({loop}) — networks must flow one way", node_id))


def _self_loop(graph, component: set[str]) -> bool:
    (node_id,) = component
    return graph.has_edge(node_id, node_id)


def _cycle_path(subgraph) -> list[str]:
    import networkx as nx

    edges = nx.find_cycle(subgraph)
    return [u for u, *_ in edges] + [edges[0][0]]


def _check_reachability(doc, specs, successors: dict[str, list[str]], add) -> Generator:
    sources = [n for n, s in specs.items() if s.role in ("input", "target")]
    if not sources:
        add(Diagnostic("error", "the graph has no Input node — add one to feed data in"))
        return
    reached, frontier = set(sources), list(sources)
    for visits in itertools.count(1):
        if not frontier:
            break
        for successor in successors[frontier.pop()]:
            if successor not in reached:
                reached.add(successor)
                frontier.append(successor)
        if visits % STEP == 0:
            yield
    for i, node_id in enumerate(doc.nodes):
        if node_id not in reached:
            add(Diagnostic("error", "not connected to any Input — wire it in or delete it", node_id))
        if i % STEP == STEP - 1:
            yield


def _infer_node(doc, specs, wired, report: ValidationReport, node_id: str, param_error: bool, add) -> None:
    """Infer one node's output shapes and element types from its inputs' (already in `report`), or
    report why not."""
    spec = specs.get(node_id)
    if spec is None or param_error:
        return
    in_shapes: dict[str, Shape] = {}
    in_dtypes: dict[str, str] = {}
    for port in spec.inputs:
        edge = wired.get((node_id, port.name))
        if edge is not None and (edge.src, edge.src_port) in report.shapes:
            in_shapes[port.name] = report.shapes[(edge.src, edge.src_port)]
            in_dtypes[port.name] = report.dtypes[(edge.src, edge.src_port)]
    required = [p.name for p in spec.inputs if not p.optional]
    if not all(name in in_shapes for name in required):
        return  # an upstream problem is already reported
    report.input_shapes[node_id] = in_shapes
    _check_dtypes(doc, specs, wired, report, node_id, spec, in_dtypes, add)
    params = spec.resolve(doc.nodes[node_id].params)
    try:
        if spec.typed_infer is not None:  # output element types that depend on the inputs' (the generic Op)
            outputs, dtypes = spec.typed_infer(params, in_shapes, in_dtypes)
        else:
            outputs, dtypes = spec.infer(params, in_shapes), _output_dtypes(params, spec, in_dtypes)
    except ShapeError as exc:
        add(Diagnostic("error", exc.message, node_id, exc.port))
        return
    for port, shape in outputs.items():
        if problem := _size_problem(shape):
            add(Diagnostic("error", problem, node_id, port))
            break
        report.shapes[(node_id, port)] = shape
        report.dtypes[(node_id, port)] = dtypes[port]


MAX_ELEMENTS = 2**63 - 1  # torch counts a tensor's elements in an int64


def _size_problem(shape: Shape) -> str | None:
    """Why no tensor can have `shape`: empty, or more values in one sample than torch can count (which
    also keeps every size, byte and multiply-add figure computed from the shapes within a float)."""
    if any(dim is not None and dim < 1 for dim in shape):
        return f"output would be empty {shape} — the input is too small"
    if math.prod(dim for dim in shape if dim is not None) > MAX_ELEMENTS:
        return "output would hold more than 2⁶³ values per sample, more than any tensor can — make the sizes smaller"
    return None
