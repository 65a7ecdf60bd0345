"""`layerloom weights load GRAPH.json SOURCE [--rename OLD=NEW]… [--dry-run]`: pretrained or
imported weights mapped onto a graph by name (engine/weights_map.py), with a report of what matched,
what is missing, what has the wrong shape and what was not used.

`layerloom weights fetch GRAPH.json torchvision:resnet18[:WEIGHTS] | timm:NAME | hf:owner/name` does the
same with published weights, fetched through their library (engine/published_weights.py: downloaded
once into its cache, with its progress bar), and records the source in `training.pretrained`.

The matched tensors are written, under the graph's own names, to `GRAPH.weights.safetensors` beside
the graph (atomically), and the graph's `training.init_weights` names that file: every fresh run of the
graph starts from them. `--dry-run` prints the report and writes nothing. Exit 2 when a file cannot be
read, the library is not installed or its download fails; 1 when nothing in SOURCE fits the graph or
the source is not one a library publishes.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import LayerloomError, WeightsError
from .common import UNREADABLE, read_graph


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    load = sub.add_parser("load", help="map a state_dict (.safetensors, .pth, a run folder) onto a graph by name")
    load.add_argument("graph", help="graph file (.json)")
    load.add_argument("source", help=".safetensors, .pth/.pt (read with weights_only), or a Layerloom run folder")
    fetch = sub.add_parser("fetch", help="fetch published weights through torchvision, timm or transformers (their "
                                         "own cache) and map them onto a graph by name")
    fetch.add_argument("graph", help="graph file (.json)")
    fetch.add_argument("source", help="torchvision:resnet18[:IMAGENET1K_V1], timm:NAME or hf:owner/name")
    for action in (load, fetch):
        action.add_argument("--rename", action="append", default=[], metavar="OLD=NEW",
                            help="read source names starting with OLD as starting with NEW (repeatable), e.g. model.=")
        action.add_argument("--dry-run", action="store_true", help="print the report, write nothing")


def run(args) -> int:
    from ..fileformat import save_document
    from ..weights_map import graph_shapes, mapped_tensors, match_state, read_state_dict

    renames = []
    for item in args.rename:
        old, sep, new = item.partition("=")
        if not sep or not old:
            print(f"error: --rename {item!r}: expected OLD=NEW, e.g. --rename model.=", file=sys.stderr)
            return 1
        renames.append((old, new))
    doc = read_graph(args.graph)
    if doc is None:
        return UNREADABLE
    try:
        shapes = graph_shapes(doc)  # before any download: a graph that does not compile needs no weights
    except LayerloomError as exc:
        print(f"error: {args.graph}: {exc}", file=sys.stderr)
        return 1
    published = None
    try:
        if args.action == "fetch":
            from ..published_weights import fetch_state_dict

            fetched = fetch_state_dict(args.source)
            source, published = fetched.state, str(fetched.source)
        else:
            source = read_state_dict(args.source)
    except WeightsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_status", UNREADABLE)
    label = published or Path(args.source).name
    try:
        match = match_state(source, shapes, renames)
    except LayerloomError as exc:
        print(f"error: {args.graph}: {exc}", file=sys.stderr)
        return 1
    for line in match.lines(label):
        print(line)
    if not match.matched:
        print(f"error: nothing in {args.source} fits {args.graph} — compare the names above, or use --rename",
              file=sys.stderr)
        return 1
    if args.dry_run:
        return 0
    from ..export.weights import save_weights

    graph = Path(args.graph)
    out = graph.with_name(graph.stem + ".weights.safetensors")
    try:
        save_weights(mapped_tensors(source, match), out, {"source": label})
        doc.set_training("init_weights", out.name)
        if published:
            doc.set_training("pretrained", published)
        save_document(doc, graph)
    except OSError as exc:
        print(f"error: cannot write {exc.filename or out}: {exc.strerror or exc}", file=sys.stderr)
        return UNREADABLE
    print(f"wrote {out}; {graph.name} now starts every fresh run from it (training.init_weights)")
    return 0
