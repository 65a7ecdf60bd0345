"""`layerloom validate FILE [--json]`: diagnostics and wire shapes; exit 0 valid, 1 invalid, 2 unreadable."""

from __future__ import annotations

import json
import sys

from nodes import format_shape

from ..errors import DocumentError
from ..fileformat import load_document
from ..validate import validate


def add_arguments(parser) -> None:
    parser.add_argument("file", help="graph file (.json)")
    parser.add_argument("--json", action="store_true", help="print a machine-readable report")


def run(args) -> int:
    try:
        doc = load_document(args.file)
    except DocumentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = validate(doc)
    wires = [(edge, report.edge_shape(edge)) for edge in doc.edges]
    if args.json:
        print(json.dumps({
            "file": args.file,
            "valid": report.ok,
            "diagnostics": [d.to_dict() for d in report.diagnostics],
            "edges": [{"from": f"{e.src}.{e.src_port}", "to": f"{e.dst}.{e.dst_port}",
                       "shape": list(shape) if shape is not None else None} for e, shape in wires],
        }, indent=2))
    else:
        print(f"{args.file}: {len(doc.nodes)} nodes, {len(doc.edges)} wires")
        for edge, shape in wires:
            print(f"  {str(edge):<40} {format_shape(shape) if shape is not None else '?'}")
        for diag in report.diagnostics:
            print(f"{diag.severity}: {diag}")
        print("valid" if report.ok else f"invalid: {len(report.errors)} error(s)")
    return 0 if report.ok else 1
