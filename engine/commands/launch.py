"""`layerloom launch GRAPH --nodes N --gpus-per-node G --out DIR`: write a launch bundle for a cluster.

The bundle (engine/launch/bundle.py) holds the graph, its resolved settings and ready-to-run
torchrun, SkyPilot and Slurm files; nothing is started. Exit status: 0 written, 1 bad options or
settings (a bundle or run folder whose path holds a newline or another control character is one),
2 the graph file cannot be read. Paths are printed with control characters escaped (text_safety).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from ..errors import LayerloomError
from ..text_safety import terminal_text as shown
from .common import UNREADABLE, read_graph


def add_arguments(parser) -> None:
    from ..launch.bundle import DEFAULT_PORT, LaunchPlan

    d = LaunchPlan()
    parser.add_argument("file", help="graph file (.json) with a training section")
    parser.add_argument("--nodes", type=int, default=d.nodes, metavar="N", help="machines (default %(default)s)")
    parser.add_argument("--gpus-per-node", type=int, default=d.gpus_per_node, metavar="G",
                        help="GPUs per machine, one process each; 0 trains on CPU, one process per machine "
                             "(default %(default)s)")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the bundle (created)")
    parser.add_argument("--rdzv-endpoint", metavar="HOST:PORT",
                        help=f"the first machine's address for the c10d rendezvous, e.g. 10.0.0.1:{DEFAULT_PORT} "
                             "(default: torchrun.sh reads $LAYERLOOM_RDZV_ENDPOINT; SkyPilot and Slurm find it)")
    parser.add_argument("--max-restarts", type=int, default=d.max_restarts, metavar="K",
                        help="times torchrun restarts a failed worker group, each resuming from the last checkpoint "
                             "(default %(default)s)")
    parser.add_argument("--strategy", choices=("ddp", "fsdp"), default=d.strategy,
                        help="replicate (ddp) or shard (fsdp) the model across processes")
    parser.add_argument("--accelerator", default=d.accelerator, metavar="NAME",
                        help="GPU type for SkyPilot (default %(default)s)")
    parser.add_argument("--run-dir", metavar="RUN_DIR",
                        help="the run folder every node writes to — on shared storage (default: DIR/run)")


def run(args) -> int:
    doc = read_graph(args.file)
    if doc is None:
        return UNREADABLE
    from ..launch.bundle import LaunchPlan, write_bundle

    plan = LaunchPlan(nodes=args.nodes, gpus_per_node=args.gpus_per_node, rdzv_endpoint=args.rdzv_endpoint,
                      max_restarts=args.max_restarts, strategy=args.strategy, accelerator=args.accelerator,
                      run_dir=args.run_dir)
    try:
        bundle = write_bundle(doc, args.out, plan, base_dir=Path(args.file).resolve().parent)
    except LayerloomError as exc:
        print(f"error: {shown(exc)}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {shown(args.out)}: cannot write the bundle ({shown(exc.strerror or exc)})", file=sys.stderr)
        return 1
    hosts = "this machine" if plan.nodes == 1 else f"each of the {plan.nodes} machines"
    print(f"launch bundle: {shown(bundle.folder)}")
    print(f"run folder:    {shown(bundle.run_dir)}")
    print(f"on {hosts}:    sh {_word(bundle.path('torchrun.sh'))}")
    print(f"SkyPilot:      sky launch -c layerloom {_word(bundle.path('skypilot.yaml'))}")
    print(f"Slurm:         sbatch {_word(bundle.path('slurm.sbatch'))}")
    print("follow it live in the app: Training ▸ Follow a run folder…")
    return 0


def _word(path: Path) -> str:
    """A path in a command the user copies: one shell word, so a space or `$(…)` in it stays part of the path."""
    return shown(shlex.quote(str(path)))
