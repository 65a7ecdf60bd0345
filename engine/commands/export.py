"""`layerloom export FILE [--weights RUN_DIR|CKPT] [--onnx OUT.onnx] [--opset N] [--python OUT.py]
[--no-preprocessing] [--softmax] [--output NAME]…`.

Weights from a run folder give a deployable ONNX model: the run's preprocessing built in (unless
`--no-preprocessing`), class names in its metadata, a `probabilities` output with `--softmax`.
Prints the parity result and warns when the weights are untrained; exits 0 when every export is
written and verified, 1 when ONNX parity fails or the graph cannot be exported, 2 when a file is
unreadable.

`--output NAME` (repeatable) exports only what feeds those Output nodes: `--output fake` writes a
GAN's generator alone, an ONNX model that takes the noise and gives samples.
"""

from __future__ import annotations

import sys

from ..errors import LayerloomError
from .common import UNREADABLE, read_graph


def add_arguments(parser) -> None:
    parser.add_argument("file", help="graph file (.json)")
    parser.add_argument("--weights", help="run folder (its best checkpoint) or a .safetensors file; default: fresh")
    parser.add_argument("--onnx", metavar="OUT.onnx", help="write an ONNX model and check it with onnxruntime")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    parser.add_argument("--python", metavar="OUT.py", help="write a standalone PyTorch module and its weights")
    parser.add_argument("--no-preprocessing", dest="preprocessing", action="store_false",
                        help="export the bare network; the ONNX metadata says what to apply to raw data")
    parser.add_argument("--softmax", action="store_true",
                        help="add a 'probabilities' output (softmax over the classes) next to a classifier's logits")
    parser.add_argument("--output", dest="outputs", action="append", metavar="NAME",
                        help="export to ONNX only this Output node and what feeds it (repeatable), e.g. a GAN's "
                             "generator: --output fake")


def run(args) -> int:
    if not args.onnx and not args.python:
        print("error: say what to export: --onnx OUT.onnx and/or --python OUT.py", file=sys.stderr)
        return 2
    doc = read_graph(args.file)
    if doc is None:
        return UNREADABLE
    from ..export.bundle import export_all  # torch is imported only now

    try:
        result = export_all(doc, onnx=args.onnx, python=args.python, weights=args.weights, opset=args.opset,
                            preprocessing=args.preprocessing, softmax=args.softmax, outputs=args.outputs)
    except LayerloomError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if result.onnx:
        print(f"wrote {result.onnx.path} ({result.onnx.seconds:.1f} s)")
        for case in result.onnx.cases:
            print(f"  {case.description:<28} max abs error {case.max_abs_error:.2e}  {'ok' if case.passed else 'FAIL'}")
        print(result.onnx.summary())
    if result.python:
        print(f"wrote {result.python.code_path} and {result.python.weights_path}")
    print(f"model card: {result.card_paths[1]}")
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0 if result.onnx is None or result.onnx.passed else 1

