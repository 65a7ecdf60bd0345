"""`layerloom import MODEL.onnx [--out GRAPH.json]`: a graph file plus `GRAPH.safetensors` weights."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import LayerloomError
from ..fileformat import save_document


def add_arguments(parser) -> None:
    parser.add_argument("model", help="ONNX model (.onnx)")
    parser.add_argument("--out", help="graph file to write (default: MODEL.json beside the model)")


def run(args) -> int:
    from safetensors.numpy import save_file

    from ..onnx_import import import_onnx

    out = Path(args.out) if args.out else Path(args.model).with_suffix(".json")
    try:
        imported = import_onnx(args.model)
    except LayerloomError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    save_document(imported.document, out)
    weights = out.with_suffix(".safetensors")
    save_file(imported.weights, str(weights))
    print(f"wrote {out} ({len(imported.document.nodes)} nodes) and {weights} ({len(imported.weights)} tensors)")
    print(f"add a Target and a loss node to train it; export with: layerloom export {out} --weights {weights} …")
    return 0
