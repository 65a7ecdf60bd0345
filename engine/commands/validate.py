"""`layerloom validate FILE [--json] [--batch-size N] [--fix]`: diagnostics, wire shapes and, for a valid graph,
each node's parameters, multiply-adds, activation memory and estimated time in a training step, with
training-memory and step-time estimates for this machine (engine/step_time.py), and what would stop it
training (engine/trainability.py: no weights, memory beyond the machine, steps of minutes) as diagnostics.

With `--fix` the graph is first checked against its dataset and every fix the app offers is applied
(engine/data_fixes.py: the Input's shape and dtype, one score per class, the loss for the task, an Output),
the graph saved in place atomically and each change printed; the report is then the fixed graph's.

Exit 0 valid, 1 invalid (or a dataset setting --fix cannot use), 2 unreadable. torch is loaded only when
there are stats to compute.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from nodes import format_shape

from ..document import GraphDocument
from ..errors import LayerloomError
from ..stats import GraphStats, format_bytes, format_count, format_seconds, graph_stats
from ..trainability import trainability
from ..validate import validate
from .common import UNREADABLE, read_graph


def add_arguments(parser) -> None:
    parser.add_argument("file", help="graph file (.json)")
    parser.add_argument("--json", action="store_true", help="print a machine-readable report")
    parser.add_argument("--batch-size", type=_positive_int, default=32, metavar="N",
                        help="batch size for the MACs and memory figures (default 32)")
    parser.add_argument("--fix", action="store_true",
                        help="apply the fixes the app offers against the graph's dataset (Input shape and dtype, "
                             "classes, the loss for the task, an Output) and save the graph")


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def run(args) -> int:
    doc = read_graph(args.file)
    if doc is None:
        return UNREADABLE
    fixed: list[str] = []
    if args.fix:
        try:
            fixed = _fix(doc, args.file)
        except LayerloomError as exc:
            print(f"error: --fix: {exc}", file=sys.stderr)
            return 1
    report = validate(doc)
    wires = [(edge, report.edge_shape(edge)) for edge in doc.edges]
    stats = graph_stats(doc, report, args.batch_size) if report.ok else None
    if stats:
        report.diagnostics += trainability(doc, report, stats, str(doc.training.get("device", "auto")))
    if args.json:
        print(json.dumps({
            "file": args.file,
            "valid": report.ok,
            "diagnostics": [d.to_dict() for d in report.diagnostics],
            "edges": [{"from": f"{e.src}.{e.src_port}", "to": f"{e.dst}.{e.dst_port}",
                       "shape": list(shape) if shape is not None else None} for e, shape in wires],
            "stats": stats.to_dict() if stats else None,
            **({"fixed": fixed} if args.fix else {}),
        }, indent=2))
    else:
        if args.fix:
            print("\n".join(f"fixed: {line}" for line in fixed) + (f"\nsaved {args.file}" if fixed else "")
                  if fixed else "nothing to fix against the dataset")
        print(f"{args.file}: {len(doc.nodes)} nodes, {len(doc.edges)} wires")
        for edge, shape in wires:
            print(f"  {str(edge):<40} {format_shape(shape) if shape is not None else '?'}")
        if stats:
            _print_stats(doc, stats)
        for diag in report.diagnostics:
            print(f"{diag.severity}: {diag}")
        print("valid" if report.ok else f"invalid: {len(report.errors)} error(s)")
    return 0 if report.ok else 1


def _fix(doc: GraphDocument, path: str) -> list[str]:
    """Apply the data fixes to `doc` and save it over `path` when any was made; what was done."""
    from ..config import TrainingConfig
    from ..data.describe import describe_dataset
    from ..data_fixes import apply_data_fixes
    from ..fileformat import save_document

    config = TrainingConfig.from_dict(doc.training)
    info = describe_dataset(config.dataset, config.seed, Path(path).resolve().parent, samples=0)
    fixed, _ = apply_data_fixes(doc, info)
    if fixed:
        save_document(doc, path)
    return fixed


def _print_stats(doc, stats: GraphStats) -> None:
    timed = stats.step_seconds is not None
    time_column = f" {'time/step':>12}" if timed else ""
    print(f"  {'node':<20} {'type':<20} {'params':>10} {'MACs':>10} {'activations':>12}{time_column}"
          f"   (batch {stats.batch_size})")
    def seconds(value: float) -> str:
        return f" {format_seconds(value):>12}" if timed else ""

    for node_id, s in stats.nodes.items():
        print(f"  {node_id:<20} {doc.nodes[node_id].type_id:<20} {format_count(s.params):>10} "
              f"{format_count(s.macs):>10} {format_bytes(s.activation_bytes):>12}{seconds(s.seconds)}")
    for node_id, reason in stats.skipped.items():
        print(f"  {node_id:<20} {doc.nodes[node_id].type_id:<20} not measured: {reason}")
    print(f"  {'total':<41} {format_count(stats.total_params):>10} {format_count(stats.total_macs):>10} "
          f"{format_bytes(stats.total_activation_bytes):>12}{seconds(stats.step_seconds or 0.0)}")
    print(f"  training memory (Adam, fp32): ≈ {format_bytes(stats.training_memory_bytes)} + framework overhead")
    if timed:
        print(f"  time per training step: ≈ {format_seconds(stats.step_seconds)} on {stats.timed_on} "
              "(forward, backward, Adam; data loading on top)")
