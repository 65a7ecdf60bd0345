"""`layerloom import MODEL.onnx|MODEL.pt2 [--out GRAPH.json]` and `layerloom import --factory
MODULE:CALLABLE [--kwargs JSON] [--input-shape C,H,W[:int64]]` (engine/torch_import): a graph file plus
`GRAPH.safetensors` weights (which the graph's fresh runs start from: `training.init_weights`), and
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
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("model", nargs="?", help="ONNX model (.onnx) or PyTorch ExportedProgram (.pt2, written by "
                                                 "torch.export.save)")
    source.add_argument("--factory", metavar="MODULE:CALLABLE",
                        help="import the nn.Module this callable returns, e.g. torchvision.models:resnet18")
    parser.add_argument("--kwargs", metavar="JSON",
                        help="keyword arguments for --factory, e.g. '{\"num_classes\": 10}'")
    parser.add_argument("--input-shape", metavar="C,H,W[:TYPE]", action="append", default=[],
                        help="one sample's input shape for --factory, :int64 for token ids (8:int64); repeat for "
                             "several inputs; default 3,224,224")
    parser.add_argument("--out", help="graph file to write (default: MODEL.json beside the model, or "
                                      "CALLABLE.json for --factory)")


def run(args) -> int:
    from ..export.run_record import data_record_path
    from ..train.checkpoint_files import save_arrays

    try:
        imported = _imported(args)
    except OnnxUnreadable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return UNREADABLE
    except LayerloomError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.out:
        out = Path(args.out)
    elif args.model:
        out = Path(args.model).with_suffix(".json")
    else:
        out = Path(args.factory.rpartition(":")[2] + ".json")
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


def _imported(args):
    """The ImportedGraph of an ONNX file, a .pt2 file, or a factory's module."""
    if args.factory:
        from ..torch_import import call_factory, import_module, input_spec

        specs = [input_spec(text) for text in args.input_shape] or [((3, 224, 224), "float32")]
        name = args.factory.rpartition(":")[2]
        return import_module(call_factory(args.factory, args.kwargs), [shape for shape, _ in specs], name,
                             [dtype for _, dtype in specs])
    if Path(args.model).suffix.lower() == ".pt2":
        from ..torch_import import import_pt2

        return import_pt2(args.model)
    from ..onnx_import import import_onnx

    return import_onnx(args.model)
