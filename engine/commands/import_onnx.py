"""`layerloom import MODEL.onnx [--out GRAPH.json]`: a graph file plus `GRAPH.safetensors` weights (which
the graph's fresh runs start from: `training.init_weights`), and
`GRAPH.data.json` when the model says how raw data becomes its input (a Layerloom export: the run's
preprocessing and class names) — `layerloom export GRAPH.json --weights GRAPH.safetensors` reads it
there and builds the same preprocessing in again.

The import refuses a model it cannot reproduce (exit 1, every unsupported op listed) rather than
write a graph that would not validate; a missing or corrupt file exits 2. The folder of `--out` is
created when missing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import LayerloomError, OnnxUnreadable
from ..fileformat import save_document
from .common import UNREADABLE


def add_arguments(parser) -> None:
    parser.add_argument("model", help="ONNX model (.onnx)")
    parser.add_argument("--out", help="graph file to write (default: MODEL.json beside the model)")


def run(args) -> int:
    from ..export.run_record import data_record_path
    from ..onnx_import import import_onnx
    from ..train.checkpoint_files import save_arrays

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
    record = data_record_path(weights)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        imported.document.set_training("init_weights", weights.name)  # training starts from the model's weights
        save_document(imported.document, out)
        save_arrays(imported.weights, weights)
        if imported.data is not None:
            record.write_text(json.dumps(imported.data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        else:
            record.unlink(missing_ok=True)  # an earlier import's record would stand for this model's
    except OSError as exc:
        print(f"error: cannot write {exc.filename or out}: {exc.strerror or exc}", file=sys.stderr)
        return UNREADABLE
    print(f"wrote {out} ({len(imported.document.nodes)} nodes) and {weights} ({len(imported.weights)} tensors)")
    if imported.data is not None:
        print(f"wrote {record}: how raw data becomes {out.stem}'s input (preprocessing, class names)")
    print(f"training starts from those weights (training.init_weights); add a Target and a loss node to train it; "
          f"export with: layerloom export {out} --weights {weights} …")
    return 0
