"""Auto-layout that reads left to right: layers by depth, crossings reduced, long chains wrapped.

Depth is the longest path from a source, so every wire within a band points right. Cycles (an
invalid graph can have them) are collapsed into one column via the condensation, so layout never
fails. Within a column nodes are ordered by the barycentre of their neighbours, swept left to right
and back a few times (the classic Sugiyama heuristic), which removes most wire crossings. A graph
with many more columns than rows — a long chain — is wrapped into bands stacked top to bottom, with
as many columns per band as makes the whole picture closest to a screen's aspect ratio.
"""

from __future__ import annotations

import itertools
import math

import networkx as nx

from engine.document import GraphDocument
from engine.steps import Steps, run_steps

COLUMN_GAP = 120.0  # room for a wire's shape label between two columns
ROW_GAP = 40.0
BAND_GAP = 120.0  # between wrapped bands: room for the wire that returns to the next band's start
SCREEN_ASPECT = 1.6  # width / height the wrapped layout aims for
SWEEPS = 4
MIN_BAND_COLUMNS = 6  # a band never holds fewer columns: short graphs stay on one line
MAX_BANDS = 60
STEP = 250  # nodes placed between two yields of `layout_steps`

Size = tuple[float, float]


def piled_up(doc: GraphDocument) -> bool:
    """Whether most nodes share their position with another — a file written without positions (by a
    script, by hand): such a pile shows one node, and Qt's drawing of it grows with the square of its size
    (5,000 nodes on one spot took 12 s to paint)."""
    return len(doc.nodes) > 1 and len({node.position for node in doc.nodes.values()}) <= len(doc.nodes) / 2


def layered_positions(doc: GraphDocument, sizes: dict[str, Size], aspect: float = SCREEN_ASPECT
                      ) -> dict[str, tuple[float, float]]:
    """New top-left position of every node; `sizes` gives each node's (width, height) on screen."""
    return run_steps(layout_steps(doc, sizes, aspect))


def layout_steps(doc: GraphDocument, sizes: dict[str, Size], aspect: float = SCREEN_ASPECT
                 ) -> Steps[dict[str, tuple[float, float]]]:
    """`layered_positions` in steps (engine/steps.py) of about STEP nodes each (a graph of fewer is laid out in
    one); `doc` must not change meanwhile. An empty graph has nothing to place."""
    if not doc.nodes:
        return {}
    graph = nx.DiGraph()
    graph.add_nodes_from(doc.nodes)
    for start in range(0, len(doc.edges), STEP):
        if start:
            yield
        graph.add_edges_from((e.src, e.dst) for e in doc.edges[start:start + STEP] if e.src != e.dst)
    columns = yield from _ordered_columns(graph, list(doc.nodes))
    widths = [max(sizes[n][0] for n in column) for column in columns]
    heights = [sum(sizes[n][1] for n in column) + ROW_GAP * (len(column) - 1) for column in columns]
    per_band = yield from _columns_per_band(widths, heights, aspect)
    positions: dict[str, tuple[float, float]] = {}
    top = 0.0
    placed = 0  # since the last yield
    for start in range(0, len(columns), per_band):
        if placed >= STEP:
            placed = 0
            yield
        band = range(start, min(start + per_band, len(columns)))
        placed += sum(len(columns[i]) for i in band)
        band_height = max(heights[i] for i in band)
        x = 0.0
        for i in band:
            y = top + (band_height - heights[i]) / 2  # each column centred in its band
            for node_id in columns[i]:
                positions[node_id] = (x, y)
                y += sizes[node_id][1] + ROW_GAP
            x += widths[i] + COLUMN_GAP
        top += band_height + BAND_GAP
    return positions


def _ordered_columns(graph: nx.DiGraph, order: list[str]) -> Steps[list[list[str]]]:
    """Nodes grouped by depth, each column ordered to reduce crossings (document order breaks ties)."""
    columns: dict[int, list[str]] = {}
    depth = yield from _depths(graph)
    for node_id in order:  # document order: the first guess within every column
        columns.setdefault(depth[node_id], []).append(node_id)
    layers = [columns[d] for d in sorted(columns)]
    rank = {n: i for layer in layers for i, n in enumerate(layer)}
    for sweep in range(SWEEPS):
        forward = sweep % 2 == 0
        sorted_nodes = 0
        for layer in (layers[1:] if forward else reversed(layers[:-1])):
            neighbours = graph.predecessors if forward else graph.successors
            layer.sort(key=lambda n: (_barycentre(list(neighbours(n)), rank, rank[n]), rank[n]))
            rank.update({n: i for i, n in enumerate(layer)})
            sorted_nodes += len(layer)
            if sorted_nodes >= STEP:
                sorted_nodes = 0
                yield
    return layers


def _depths(graph: nx.DiGraph) -> Steps[dict[str, int]]:
    """Longest path from a source; the nodes of a cycle share one depth (via the condensation, which
    is built only when there is a cycle: it costs more than the rest of the layout)."""
    depth: dict[str, int] = {}
    try:
        for i, node in enumerate(nx.topological_sort(graph)):
            depth[node] = max((depth[p] + 1 for p in graph.predecessors(node)), default=0)
            if i % STEP == STEP - 1:
                yield
        return depth
    except nx.NetworkXUnfeasible:  # a cycle
        pass
    dag = nx.condensation(graph)
    depth_of_component: dict[int, int] = {}
    for comp in nx.topological_sort(dag):
        depth_of_component[comp] = max((depth_of_component[p] + 1 for p in dag.predecessors(comp)), default=0)
    return {node: depth_of_component[dag.graph["mapping"][node]] for node in graph}


def _barycentre(neighbours: list[str], rank: dict[str, int], own: int) -> float:
    return sum(rank[n] for n in neighbours) / len(neighbours) if neighbours else float(own)


def _columns_per_band(widths: list[float], heights: list[float], aspect: float) -> Steps[int]:
    """How many columns to put side by side so the wrapped picture's aspect is closest to `aspect` (a
    step per STEP columns' worth of candidates weighed)."""
    best, best_error = len(widths), math.inf
    count = len(widths)
    prefix = [0.0, *itertools.accumulate(widths)]
    # Only the per-band counts that change the number of bands matter: ceil(count / bands). More than
    # MAX_BANDS bands never fit a screen's aspect, so fewer candidates are tried.
    candidates = sorted({-(-count // bands) for bands in range(1, min(count, MAX_BANDS) + 1)})
    weighed = 0
    for per_band in (c for c in candidates if c >= min(MIN_BAND_COLUMNS, count)):
        weighed += count
        if weighed >= STEP * 20 and count > STEP:  # (a candidate costs a few cheap operations per column)
            weighed = 0
            yield
        starts = range(0, count, per_band)
        width = max(prefix[min(s + per_band, count)] - prefix[s] + COLUMN_GAP * (min(per_band, count - s) - 1)
                    for s in starts)
        height = sum(max(heights[s:s + per_band]) for s in starts) + BAND_GAP * (len(starts) - 1)
        error = abs(math.log(width / max(height, 1.0) / aspect))
        if error < best_error - 1e-9:
            best, best_error = per_band, error
    return best
