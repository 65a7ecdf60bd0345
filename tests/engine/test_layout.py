"""Auto-layout: left to right, crossings reduced, long chains wrapped to a screen's aspect."""

from engine.document import Edge, GraphDocument
from engine.layout import layered_positions

SIZE = (180.0, 90.0)


def chain(n: int) -> GraphDocument:
    doc = GraphDocument("chain")
    for i in range(n):
        doc.add_node("ReLU", node_id=f"r{i}")
    for i in range(n - 1):
        doc.add_edge(Edge(f"r{i}", "out", f"r{i + 1}", "in"))
    return doc


def test_a_short_chain_stays_on_one_line_left_to_right():
    positions = layered_positions(chain(5), dict.fromkeys(chain(5).nodes, SIZE))
    xs = [positions[f"r{i}"][0] for i in range(5)]
    assert xs == sorted(xs) and len(set(xs)) == 5 and len({p[1] for p in positions.values()}) == 1


def test_a_long_chain_wraps_into_bands_that_fit_a_screen():
    doc = chain(60)
    positions = layered_positions(doc, dict.fromkeys(doc.nodes, SIZE))
    xs, ys = [p[0] for p in positions.values()], [p[1] for p in positions.values()]
    width, height = max(xs) - min(xs) + SIZE[0], max(ys) - min(ys) + SIZE[1]
    assert 0.8 < width / height < 3.2  # one line would be 60 nodes wide: aspect ≈ 150
    bands = sorted(set(ys))
    assert len(bands) > 1
    for band in bands:  # within a band every wire points right
        members = [int(n[1:]) for n, p in positions.items() if p[1] == band]
        assert [positions[f"r{i}"][0] for i in sorted(members)] == sorted(positions[f"r{i}"][0] for i in members)


def crossings(doc: GraphDocument, positions) -> int:
    wires = [(positions[e.src], positions[e.dst]) for e in doc.edges]
    count = 0
    for i, ((ax, ay), (bx, by)) in enumerate(wires):
        for (cx, cy), (dx, dy) in wires[i + 1:]:
            if ax == cx and bx == dx and (ay - cy) * (by - dy) < 0:
                count += 1
    return count


def test_crossings_are_removed_where_document_order_would_cross():
    doc = GraphDocument("two branches")
    for node_id in ("a", "b", "a2", "b2", "a3", "b3"):  # b2 listed first in its column's document order below
        doc.add_node("ReLU", node_id=node_id)
    doc.nodes = {k: doc.nodes[k] for k in ("a", "b", "b2", "a2", "b3", "a3")}
    for src, dst in (("a", "a2"), ("b", "b2"), ("a2", "a3"), ("b2", "b3")):
        doc.add_edge(Edge(src, "out", dst, "in"))
    positions = layered_positions(doc, dict.fromkeys(doc.nodes, SIZE))
    assert crossings(doc, positions) == 0
