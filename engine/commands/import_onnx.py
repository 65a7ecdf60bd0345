"""`layerloom import MODEL.onnx [--out GRAPH.json]`: a graph file plus `GRAPH.safetensors` weights.

The import refuses a model it cannot reproduce (exit 1, every unsupported op listed) rather than
write a graph that would not validate; a missing or corrupt file exits 2. The folder of `--out` is
created when missing.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import LayerloomError, OnnxUnreadable
from ..fileformat import save_document
from .common import UNREADABLE


def add_arguments(parser) -> None:
    parser.add_argument("model", help="ONNX model (.onnx)")
    parser.add_argument("--out", help="graph file to write (default: MODEL.json beside the model)")


def run(args) -> int:
    from safetensors.numpy import save_file

    from ..onnx_import import import_onnx

    out = Path(args.out) if args.out else Path(args.model).with_suffix(".json")
    try:
        imported = import_onnx(args.model)
    except OnnxUnreadable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return UNREADABLE
    except LayerloomError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    weights = out.with_suffix(".safetensors")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        save_document(imported.document, out)
        save_file(imported.weights, str(weights))
    except OSError as exc:
        print(f"error: cannot write {exc.filename or out}: {exc.strerror or exc}", file=sys.stderr)
        return UNREADABLE
    print(f"wrote {out} ({len(imported.document.nodes)} nodes) and {weights} ({len(imported.weights)} tensors)")
    print(f"add a Target and a loss node to train it; export with: layerloom export {out} --weights {weights} …")
    return 0
