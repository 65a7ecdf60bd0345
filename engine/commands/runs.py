"""`layerloom runs GRAPH [--json]`: the runs in the graph's run store (`<graph>.runs/` beside it).

One line per run, oldest first: folder, label, date, state, epochs, best metric, training time.
`--compare A B` (run folders, or names of the graph's runs) says instead what differed between two runs:
every resolved setting, the graph's structure, final metrics, and for the same structure how far each
node's weights moved (engine/experiments/compare.py).
Exit status 0 (also when there are no runs yet), 1 when a run to compare is not found, 2 when the graph
file cannot be read.

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
    parser.add_argument("--json", action="store_true", help="print the runs (or the comparison) as JSON")
    parser.add_argument("--compare", nargs=2, metavar=("A", "B"),
                        help="what differed between two runs: run folders, or folder names or labels of runs")


def run(args) -> int:
    from ..runs import list_runs, store_for

    if read_graph(args.file) is None:
        return UNREADABLE
    store = store_for(args.file)
    if args.compare:
        return _compare(store, *args.compare, as_json=args.json)
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


def _compare(store, a: str, b: str, *, as_json: bool) -> int:
    from ..experiments.compare import compare_runs, resolve_run
    from ..runs import RunStoreError

    try:
        result = compare_runs(resolve_run(store, a), resolve_run(store, b))
    except RunStoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps(result.to_dict(), indent=2, default=str))
        return 0
    print(f"A: {shown(result.a)}\nB: {shown(result.b)}")
    print(f"settings that differ ({len(result.settings)}):" if result.settings else "settings: the same")
    for row in result.settings:
        print(f"  {shown(row['key'])}: {shown(_value(row['a']))} → {shown(_value(row['b']))}")
    lines = [f"  + {shown(n['id'])} ({shown(n['type'])})" for n in result.nodes_added]
    lines += [f"  - {shown(n['id'])} ({shown(n['type'])})" for n in result.nodes_removed]
    for node in result.nodes_changed:
        kind = f" type {shown(node['type'][0])} → {shown(node['type'][1])}" if node["type"] else ""
        params = ", ".join(f"{shown(k)} {shown(_value(va))} → {shown(_value(vb))}" for k, (va, vb) in
                           node["params"].items())
        lines.append(f"  ~ {shown(node['id'])}:{kind} {params}".rstrip())
    lines += [f"  + wire {shown(e)}" for e in result.edges_added]
    lines += [f"  - wire {shown(e)}" for e in result.edges_removed]
    lines += [f"  ~ block {shown(name)}" for name in result.blocks_changed]
    print("\n".join([f"structure that differs ({len(lines)}):", *lines]) if lines else "structure: the same")
    print("final metrics:                A            B")
    for key in ("train_loss", "val_loss", "train_accuracy", "val_accuracy"):
        values = [result.final[run].get(key) for run in ("a", "b")]
        if any(v is not None for v in values):
            print(f"  {key:<22}" + "".join(f"{_number(v):>13}" for v in values))
    if result.weights is None:
        print(f"weights: not compared — {shown(result.weights_note)}")
        return 0
    print(f"weights moved from A to B (relative L2, {result.weights_note}):")
    for node, distance in sorted(result.weights.items(), key=lambda item: -item[1]):
        print(f"  {shown(node):<20} {distance:.4g}")
    return 0


def _value(value) -> str:
    return json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value


def _number(value) -> str:
    return "—" if value is None else f"{value:.4g}"
