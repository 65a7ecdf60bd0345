"""`layerloom lr-find GRAPH`: the learning-rate range test (engine/experiments/lr_find.py).

Prints the suggested rate and why, with a small table of the smoothed loss per decade; `--json` prints
the whole curve as one JSON object; `--stream` prints one JSON line per step (`{"type": "point", "lr",
"loss", "smoothed"}`) and then `{"type": "result", …}` — what the app's Find learning rate dialog reads.
Nothing is written: the graph, its weights and its runs stay as they were.
Exit status 0, 1 when the graph or its settings cannot train, 2 when the file (or its data) cannot be read.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from ..errors import ConfigError, LayerloomError
from .common import UNREADABLE, read_graph


def add_arguments(parser) -> None:
    from ..experiments.lr_find import NETWORKS

    parser.add_argument("file", help="graph file (.json) with a training section")
    parser.add_argument("--start", type=float, default=1e-7, metavar="LR", help="first learning rate (1e-7)")
    parser.add_argument("--end", type=float, default=10.0, metavar="LR", help="last learning rate (10)")
    parser.add_argument("--steps", type=int, default=200, metavar="N", help="optimizer steps of the test (200)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="override training.device")
    parser.add_argument("--networks", choices=NETWORKS, default="both",
                        help="a GAN's optimizers the rate ramps on (the other keeps training.optimizer.lr)")
    parser.add_argument("--base-dir", metavar="DIR",
                        help="folder relative dataset paths are read from (default: the graph's folder)")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print the curve and the suggestion as JSON")
    output.add_argument("--stream", action="store_true", help="print one JSON line per step, then the result")


def run(args) -> int:
    doc = read_graph(args.file)
    if doc is None:
        return UNREADABLE
    from ..experiments.lr_find import find_lr

    def point(lr: float, loss: float, smoothed: float) -> None:
        print(json.dumps({"type": "point", "lr": lr, "loss": loss, "smoothed": smoothed}), flush=True)

    base_dir = Path(args.base_dir) if args.base_dir else Path(args.file).resolve().parent
    try:
        result = find_lr(doc, start_lr=args.start, end_lr=args.end, steps=args.steps, device=args.device,
                         base_dir=base_dir, networks=args.networks, on_point=point if args.stream else None)
    except LayerloomError as exc:
        where = f"{args.file}: " if isinstance(exc, ConfigError) else ""
        if args.stream:
            print(json.dumps({"type": "error", "message": f"{where}{exc}"}), flush=True)
        print(f"error: {where}{exc}", file=sys.stderr)
        return getattr(exc, "exit_status", 1)
    if args.stream or args.json:
        print(json.dumps({"type": "result", **result.to_dict()} if args.stream else result.to_dict()))
        return 0
    _print_table(result)
    if result.suggestion is None:
        print(f"no suggestion: {result.reason}")
        return 1
    print(f"suggested learning rate: {result.suggestion:.3g} — {result.reason}")
    return 0


def _print_table(result) -> None:
    """The smoothed loss at the first step of each decade of learning rate, and how the test ended."""
    shown = set()
    for lr, smoothed in zip(result.lrs, result.smoothed, strict=True):
        decade = math.floor(math.log10(lr))
        if decade not in shown:
            shown.add(decade)
            print(f"  lr {lr:9.2e}  smoothed loss {smoothed:.4g}")
    ended = {"end": f"took all {len(result.lrs)} steps",
             "diverged": f"stopped after {len(result.lrs)} steps: the loss diverged",
             "nan": f"stopped after {len(result.lrs)} steps: the loss became NaN or infinite",
             "request": "stopped as asked"}[result.stopped]
    print(ended)
