"""How many rows each sample has become, checked when the graph is validated.

A Reshape with `batch` "merge" folds the axis after the batch into it: the wire after it carries N·A rows, yet
its shape shows the batch axis (None) as every wire does, so shape inference alone would let a merged wire meet
an unmerged one (an Add of N·A and N rows) or reach a loss whose target has N — and the run would fail at its
first step. This check follows each wire's factor (its rows per sample) in topological order: the graph's
Input and Target carry 1, a merge multiplies by A, a split by `batch_split` divides; a node without wired
inputs other than those (a Parameter, a Constant) broadcasts over any batch. It reports, naming the merge the
rows came from:
- an error where a node's inputs carry different factors;
- an error where an Output or a loss gets rows that were merged and not split back;
- an error where a split's factor does not divide the rows' (a merge by 4 split by 3);
- an error where a split groups samples of the unmerged batch (N into N/A rows of A samples each).
A merge of an axis whose size is unknown makes its wires' factor unknown, and nothing is checked past it.
"""

from __future__ import annotations

from collections import defaultdict

from nodes import get_spec

from .document import GraphDocument
from .validation_report import Diagnostic, ValidationReport

STAGE = "batches"
SOURCES = ("Input", "Target")  # the nodes whose rows are the batch's samples


def changes_the_batch(doc: GraphDocument) -> bool:
    return any(node.type_id == "Reshape" and node.params.get("batch", "keep") != "keep"
               for node in doc.nodes.values())


def batch_scale_diagnostics(doc: GraphDocument, report: ValidationReport) -> list[Diagnostic]:
    if not report.order or not changes_the_batch(doc):
        return []
    problems: list[Diagnostic] = []
    _follow(doc, report, lambda severity, node_id, message, port=None: problems.append(
        Diagnostic(severity, message, node_id, port=port, stage=STAGE)))
    return problems


def rows_per_sample(doc: GraphDocument, report: ValidationReport) -> dict[str, int]:
    """How many rows each node's outputs hold per sample of the batch (1 but after a merge); a node whose
    count is unknown counts 1. Empty when no Reshape changes the batch. For the stats' memory and multiply-adds."""
    if not report.order or not changes_the_batch(doc):
        return {}
    return {node_id: factor or 1 for node_id, (factor, _) in _follow(doc, report, lambda *args, **kwargs: None).items()}


def _follow(doc: GraphDocument, report: ValidationReport, problem) -> dict[str, tuple[int | None, str | None]]:
    """node → (rows per sample of its outputs, or None when unknown / any; the merge they came from), saying
    what does not fit to `problem(severity, node, message, port=None)`."""
    incoming: dict[str, list[str]] = defaultdict(list)
    for edge in doc.edges:
        incoming[edge.dst].append(edge.src)
    scale: dict[str, tuple[int | None, str | None]] = {}
    for node_id in report.order:
        node = doc.nodes[node_id]
        if node.type_id in SOURCES:
            scale[node_id] = (1, None)
            continue
        inputs = [scale.get(src, (None, None)) for src in incoming[node_id]]
        known = sorted({(factor, origin) for factor, origin in inputs if factor is not None},
                       key=lambda item: item[0])
        if len({factor for factor, _ in known}) > 1:
            rows = " and ".join(_rows(factor, origin) for factor, origin in known)
            problem("error", node_id, f"its inputs carry different batches: {rows} — split the merged rows back "
                                      "(a Reshape with batch split) before they meet")
            scale[node_id] = (None, None)
            continue
        factor, origin = known[0] if known else (None, None)
        spec = get_spec(node.type_id)
        if factor not in (None, 1) and (node.type_id == "Output" or (spec is not None and spec.role == "loss")):
            problem("error", node_id, f"gets {_rows(factor, origin)}, not one per sample — split them back (a "
                                      f"Reshape with batch split {factor}) before the {node.type_id}")
        if node.type_id == "Reshape" and factor is not None:
            scale[node_id] = _reshaped(node_id, node.params, report, factor, origin, problem)
        else:
            scale[node_id] = (factor, origin)
    return scale


def _reshaped(node_id: str, params: dict, report: ValidationReport, factor: int, origin: str | None,
              problem) -> tuple[int | None, str | None]:
    mode = params.get("batch", "keep")
    if mode == "merge":
        shape = report.input_shapes.get(node_id, {}).get("in")
        axis = shape[1] if shape is not None and len(shape) > 1 else None
        return (None, None) if axis is None else (factor * axis, node_id)
    if mode == "split":
        parts = params.get("batch_split", 2)
        if not isinstance(parts, int) or parts < 2:  # the param's own error says so
            return None, None
        if factor == 1:
            problem("error", node_id, f"splits a batch no Reshape merged: each of its rows would group {parts} "
                                      "samples (and a batch of another size fail) — merge the rows first (a "
                                      "Reshape with batch merge), or set batch to keep", "in")
            return None, None
        if factor % parts:
            problem("error", node_id, f"splits {_rows(factor, origin)} into groups of {parts}, which does not "
                                      f"divide {factor} — set batch_split to {factor}", "in")
            return None, None
        return factor // parts, origin
    return factor, origin


def _rows(factor: int, origin: str | None) -> str:
    return "N rows" if factor == 1 else f"N·{factor} rows (merged at {origin})"
