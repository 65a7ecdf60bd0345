"""`layerloom runs GRAPH [--json]`: the runs in the graph's run store (`<graph>.runs/` beside it).

One line per run, oldest first: folder, label, date, state, epochs, best metric, training time.
Exit status 0 (also when there are no runs yet), 2 when the graph file cannot be read.

Labels, folder names and paths come from files anyone may have written: the table shows them with
control characters (ESC, newlines, …) escaped, so a label can neither drive the terminal nor forge a
line; --json escapes them as JSON does.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict

from ..text_safety import terminal_text as shown
from .common import UNREADABLE, read_graph


def add_arguments(parser) -> None:
    parser.add_argument("file", help="graph file (.json); its runs are in <graph>.runs/ beside it")
    parser.add_argument("--json", action="store_true", help="print the runs as JSON")


def run(args) -> int:
    from ..runs import list_runs, store_for

    if read_graph(args.file) is None:
        return UNREADABLE
    store = store_for(args.file)
    runs = list_runs(store)
    if args.json:
        rows = [{**asdict(r), "path": str(r.path), "checkpoints": {k: str(v) for k, v in r.checkpoints.items()}}
                for r in runs]
        print(json.dumps({"store": str(store), "runs": rows}, indent=2))
        return 0
    if not runs:
        print(f"no runs yet in {shown(store)} — train with `layerloom train {shown(args.file)}`", file=sys.stderr)
        return 0
    print(f"{len(runs)} run{'s' * (len(runs) != 1)} in {shown(store)}")
    for r in runs:
        total = f"/{r.total_epochs}" if r.total_epochs else ""
        label = f" “{shown(r.label)}”" if r.label != r.name else ""
        print(f"  {shown(r.name)}{label}  {r.date}  {shown(r.state):<8}  epoch {r.epochs}{total}  "
              f"{shown(r.best_text())}  {_duration(r.seconds)}")
    return 0


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"
