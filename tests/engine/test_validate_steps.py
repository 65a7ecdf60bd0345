"""Validation in steps (what the canvas runs between frames) finds what networkx finds: the same
topological order, the same cycles, the same nodes cut off from every Input."""

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.document import Edge, GraphDocument
from engine.layout import STEP as LAYOUT_STEP
from engine.layout import layout_steps
from engine.steps import run_steps
from engine.validate import STEP, validate, validation_steps

TYPES = {"Input": ((), ("out",)), "ReLU": (("in",), ("out",)), "Add": (("a", "b"), ("out",)),
         "Output": (("in",), ())}


@st.composite
def graphs(draw) -> GraphDocument:
    doc = GraphDocument()
    kinds = draw(st.lists(st.sampled_from(sorted(TYPES)), min_size=1, max_size=14))
    ids = [doc.add_node(kind, {"shape": [4]} if kind == "Input" else {}) for kind in kinds]
    outputs = [(n, p) for n, k in zip(ids, kinds, strict=True) for p in TYPES[k][1]]
    inputs = [(n, p) for n, k in zip(ids, kinds, strict=True) for p in TYPES[k][0]]
    if outputs and inputs:
        for (src, sp), (dst, dp) in draw(st.lists(st.tuples(st.sampled_from(outputs), st.sampled_from(inputs)),
                                                  max_size=20)):
            if not doc.has_edge(Edge(src, sp, dst, dp)):
                doc.add_edge(Edge(src, sp, dst, dp))
    return doc


@settings(max_examples=300, deadline=None)
@given(graphs())
def test_stepped_validation_orders_and_cuts_as_networkx_does(doc):
    graph = nx.MultiDiGraph()
    graph.add_nodes_from(doc.nodes)
    graph.add_edges_from((e.src, e.dst) for e in doc.edges)
    report = validate(doc)
    cyclic = not nx.is_directed_acyclic_graph(graph)
    in_cycle = {d.node for d in report.diagnostics if d.stage == "cycles"}
    assert bool(in_cycle) == cyclic
    if cyclic:
        assert report.order == []
        assert in_cycle == {n for c in nx.strongly_connected_components(graph)
                            if len(c) > 1 or graph.has_edge(*[*c] * 2) for n in c}
    else:
        assert report.order == list(nx.lexicographical_topological_sort(graph))
    inputs = [n for n, node in doc.nodes.items() if node.type_id == "Input"]
    reached = set(inputs).union(*(nx.descendants(graph, n) for n in inputs))
    cut = {d.node for d in report.diagnostics if d.stage == "reach" and d.node}
    assert cut == (set(doc.nodes) - reached if inputs else set())


def test_a_big_graph_is_validated_in_many_small_steps():
    doc = GraphDocument()
    previous = doc.add_node("Input", {"shape": [8]})
    for _ in range(3 * STEP):
        node = doc.add_node("ReLU")
        doc.add_edge(Edge(previous, "out", node, "in"))
        previous = node
    doc.add_edge(Edge(previous, "out", doc.add_node("Output"), "in"))
    steps = validation_steps(doc)
    report, count = None, 0
    while report is None:
        try:
            next(steps)
            count += 1
        except StopIteration as done:
            report = done.value
    assert count >= 6 * 3  # every stage yields every STEP nodes or wires
    assert report.ok and report.shapes[(previous, "out")] == (None, 8)
    assert run_steps(validation_steps(doc)).order == report.order


def _count_steps(steps) -> int:
    count = 0
    while True:
        try:
            next(steps)
        except StopIteration:
            return count
        count += 1


def test_a_graph_smaller_than_a_step_is_validated_and_laid_out_in_one():
    """So that the canvas shows a small graph's result within the turn that started the work, however
    loaded the machine."""
    doc = GraphDocument()
    previous = doc.add_node("Input", {"shape": [8]})
    for _ in range(min(STEP, LAYOUT_STEP) - 2):
        node = doc.add_node("ReLU")
        doc.add_edge(Edge(previous, "out", node, "in"))
        previous = node
    assert _count_steps(validation_steps(doc)) == 0
    assert _count_steps(layout_steps(doc, {n: (200.0, 100.0) for n in doc.nodes})) == 0
