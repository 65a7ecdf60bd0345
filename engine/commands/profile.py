"""`layerloom profile FILE [--steps N] [--device D] [--out DIR] [--json]`: measure each node's forward and
backward time and activation memory over a few training steps (engine/inspect/profile.py), print them
beside the closed-form estimates, and write `profile.json` into DIR (default: a new folder in the graph's
run store). Exit 0, 1 when the graph cannot train, 2 when the file cannot be read.
"""

from __future__ import annotations

import json
from pathlib import Path

from .. import runs
from ..errors import LayerloomError
from ..stats import format_bytes
from .common import UNREADABLE, read_graph


def add_arguments(parser) -> None:
    parser.add_argument("file", help="graph file (.json)")
    parser.add_argument("--steps", type=int, default=5, metavar="N", help="measured training steps (default 5)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="override training.device")
    parser.add_argument("--out", metavar="DIR", help="folder for profile.json (default: a new run folder)")
    parser.add_argument("--json", action="store_true", help="print profile.json instead of a table")


def run(args) -> int:
    from ..inspect.profile import PROFILE_FILE, profile_graph

    doc = read_graph(args.file)
    if doc is None:
        return UNREADABLE
    if args.steps < 1:
        print(f"error: --steps must be at least 1, got {args.steps}")
        return 1
    path = Path(args.file).resolve()
    out = Path(args.out) if args.out else runs.new_run_dir(runs.store_for(path), f"{path.stem}-profile", path)
    try:
        profile_graph(doc, out, steps=args.steps, device=args.device, base_dir=path.parent)
    except LayerloomError as exc:
        print(f"error: {exc}")
        return 1
    record = json.loads((out / PROFILE_FILE).read_text())
    if args.json:
        print(json.dumps(record, indent=2))
        return 0
    print(f"{args.file}: {record['steps']} steps of batch {record['batch_size']} on {record['device']}, "
          f"{record['step_s'] * 1e3:.2f} ms a step (node by node)")
    print(f"  {'node':<16}{'forward':>11}{'backward':>11}{'memory':>12}{'estimated':>12}")
    for node_id, n in sorted(record["nodes"].items(), key=lambda kv: -(kv[1]["forward_s"] + kv[1]["backward_s"])):
        estimated = n.get("estimated_activation_bytes")
        estimated = format_bytes(estimated) if estimated is not None else "—"
        print(f"  {node_id:<16}{n['forward_s'] * 1e3:>9.3f}ms{n['backward_s'] * 1e3:>9.3f}ms"
              f"{format_bytes(n['activation_bytes']):>12}{estimated:>12}")
    print(f"written to {out / PROFILE_FILE}")
    return 0
