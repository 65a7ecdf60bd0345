"""Auto-layout: left to right by topological depth, each column ordered to keep wires straight.

Depth is the longest path from a source, so every wire points right. Cycles (an invalid graph
can have them) are collapsed into one column via the condensation, so layout never fails. Within
a column nodes are sorted by the mean height of their parents (one barycentre pass) and stacked
centred on y = 0.
"""

from __future__ import annotations

import networkx as nx

from engine.document import GraphDocument

COLUMN_GAP = 90.0
ROW_GAP = 40.0


def layered_positions(doc: GraphDocument, sizes: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
    """New top-left position of every node; `sizes` gives each node's (width, height) on screen."""
    graph = nx.DiGraph()
    graph.add_nodes_from(doc.nodes)
    graph.add_edges_from((e.src, e.dst) for e in doc.edges if e.src != e.dst)
    dag = nx.condensation(graph)
    order = {n: i for i, n in enumerate(doc.nodes)}
    depth_of_component: dict[int, int] = {}
    for comp in nx.topological_sort(dag):
        depth_of_component[comp] = max((depth_of_component[p] + 1 for p in dag.predecessors(comp)), default=0)
    depth = {n: depth_of_component[dag.graph["mapping"][n]] for n in doc.nodes}

    columns: dict[int, list[str]] = {}
    for node_id in doc.nodes:
        columns.setdefault(depth[node_id], []).append(node_id)
    positions: dict[str, tuple[float, float]] = {}
    centre_y: dict[str, float] = {}
    x = 0.0
    for d in sorted(columns):
        column = columns[d]
        column.sort(key=lambda n: (_barycentre(graph, n, centre_y), order[n]))
        total = sum(sizes[n][1] for n in column) + ROW_GAP * (len(column) - 1)
        y = -total / 2
        for node_id in column:
            positions[node_id] = (x, y)
            centre_y[node_id] = y + sizes[node_id][1] / 2
            y += sizes[node_id][1] + ROW_GAP
        x += max(sizes[n][0] for n in column) + COLUMN_GAP
    return positions


def _barycentre(graph: nx.DiGraph, node_id: str, centre_y: dict[str, float]) -> float:
    ys = [centre_y[p] for p in graph.predecessors(node_id) if p in centre_y]
    return sum(ys) / len(ys) if ys else 0.0
