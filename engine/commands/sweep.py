"""`layerloom sweep GRAPH --param PATH=KIND:ARGS … [--trials N] [--parallel N]`: a sweep with Optuna.

    layerloom sweep g.json --param training.optimizer.lr=log:1e-4:1e-1 --param nodes.fc1.out_features=int:32:256
    layerloom sweep g.json --name NAME                     resume a sweep (only its missing trials run)
    layerloom sweep g.json --study URL [--name NAME] --worker     one more worker on a study at a URL

The sweep lives in `<graph>.sweeps/NAME/` (engine/experiments/sweep.py); its trials are runs in
`<graph>.runs/`. `--parallel N` starts N worker processes on this machine (sharing its cores, one GPU
each when there are several), each pulling trials from the study until it is done; `--worker` is one
such process, on any machine that reaches the study's database. `--bundle DIR` (with --study) creates
the sweep and writes scripts that start workers on many machines instead (engine/launch/sweep_workers.py).
One line is printed per trial as it ends, then the best. Ctrl+C (or SIGTERM) stops after the current
trials, which are redone on resume.
Exit status 0, 1 for a bad --param or settings, 2 when the graph file cannot be read.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from ..errors import ConfigError, LayerloomError
from ..text_safety import terminal_text as shown
from .common import UNREADABLE, read_graph

DEFAULT_TRIALS = 20


def add_arguments(parser) -> None:
    from ..experiments.sweep import SAMPLERS

    parser.add_argument("file", help="graph file (.json); a --worker's copy: its runs go beside it")
    parser.add_argument("--param", action="append", default=[], metavar="PATH=KIND:ARGS",
                        help="what to sweep: training.KEY… or nodes.ID.PARAM = log:LOW:HIGH | float:LOW:HIGH[:STEP] "
                             "| int:LOW:HIGH[:STEP] | choice:A,B,…  (repeat for each)")
    parser.add_argument("--trials", type=int, metavar="N", help=f"trials in all (default {DEFAULT_TRIALS}; grid: "
                                                                "every combination)")
    parser.add_argument("--parallel", type=int, default=1, metavar="N", help="worker processes on this machine")
    parser.add_argument("--sampler", choices=SAMPLERS, default="tpe", help="how values are chosen (tpe)")
    parser.add_argument("--metric", choices=("val_loss", "val_accuracy"),
                        help="what trials are scored and pruned on (default: training.early_stopping.monitor)")
    parser.add_argument("--epochs", type=int, metavar="N", help="override training.epochs in every trial")
    parser.add_argument("--seed", type=int, default=0, help="the sampler's seed")
    parser.add_argument("--name", help="the sweep's name (default sweep-DATE-TIME); an existing one resumes")
    parser.add_argument("--study", metavar="URL", help="the study's database (default: SQLite in the sweep folder)")
    parser.add_argument("--worker", action="store_true", help="pull trials from the --study until it is done")
    parser.add_argument("--bundle", metavar="DIR", help="create the sweep in the --study and write scripts that start "
                                                        "--parallel workers on each of --nodes machines, instead of "
                                                        "running it here")
    parser.add_argument("--nodes", type=int, default=1, metavar="N", help="machines a --bundle's Slurm job uses")
    parser.add_argument("--worker-index", type=int, default=0, help=argparse.SUPPRESS)  # set by --parallel


def run(args) -> int:
    import optuna

    from ..experiments import sweep as sweeps

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per trial is printed here instead
    try:
        if args.worker:
            return _worker(args, sweeps)
        doc = read_graph(args.file)
        if doc is None:
            return UNREADABLE
        if args.bundle and not args.study:
            raise ConfigError("--bundle needs --study URL: a database every machine of the sweep reaches")
        spec, url, folder = _start(args, doc, sweeps)
        if args.bundle:
            return _bundle(args, spec, url)
    except LayerloomError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_status", 1)
    stop = _stop_on_signals()
    counted = sum(1 for t in (sweeps.read_trials(folder) or {}).get("trials", []) if t["counted"])
    print(f"sweep {shown(spec.name)}: {spec.trials} trials ({counted} done), {spec.sampler}, "
          f"{spec.direction} {spec.metric}; folder {shown(folder)}")
    if args.parallel <= 1:
        sweeps.run_worker(spec, url, folder, stop=stop.is_set, on_trial=lambda row: _print_trial(row, spec))
    else:
        _run_workers(args, spec, url, stop)
        sweeps.write_trials(optuna.load_study(study_name=spec.name, storage=sweeps.storage(url)), spec, folder)
    return _summary(spec, folder, sweeps, stopped=stop.is_set())


def _start(args, doc, sweeps):
    """The sweep's spec, its study URL and folder: a new sweep, or the one --name already names."""
    from ..experiments.sweep_params import SweepParam, check_params
    from ..fileformat import atomic_write_text, to_dict

    graph_path = Path(args.file).resolve()
    name = args.name or time.strftime("sweep-%Y%m%d-%H%M%S")
    if name != Path(name).name or name.startswith("."):
        raise ConfigError(f"--name {name!r}: a sweep's name is a folder name — no slashes, not starting with '.'")
    folder = sweeps.sweeps_folder(graph_path) / name
    url = args.study or sweeps.sqlite_url(folder)
    if not args.param:
        if not (folder / sweeps.SPEC_FILE).is_file() and not args.study:
            raise ConfigError(f"sweep: nothing to sweep — give --param PATH=KIND:ARGS, or --name of a sweep to "
                              f"resume (none at {folder})")
        spec = sweeps.load_spec(url, name)
    else:
        params = [SweepParam.parse(text) for text in args.param]
        check_params(doc, params)
        metric, direction = sweeps.metric_direction(doc.training, args.metric)
        trials = args.trials
        if args.sampler == "grid":
            size = sweeps.grid_size(params)
            if trials is not None and trials > size:
                print(f"note: the grid has {size} combinations — {size} trials, not {trials}", file=sys.stderr)
            trials = min(trials or size, size)
        if trials is not None and trials < 1:
            raise ConfigError(f"--trials: must be at least 1, got {trials}")
        if args.epochs is not None and args.epochs < 1:
            raise ConfigError(f"--epochs: must be at least 1, got {args.epochs}")
        spec = sweeps.SweepSpec(name, to_dict(doc), str(graph_path), params, trials or DEFAULT_TRIALS, args.sampler,
                                metric, direction, args.epochs, args.seed)
    spec.graph_path = str(graph_path)
    folder.mkdir(parents=True, exist_ok=True)
    sweeps.create_study(spec, url)
    atomic_write_text(folder / sweeps.SPEC_FILE, json.dumps({**spec.to_dict(), "study": url}, indent=1) + "\n")
    return spec, url, folder


def _bundle(args, spec, url: str) -> int:
    from ..launch.sweep_workers import write_sweep_workers

    if args.nodes < 1 or args.parallel < 1:
        raise ConfigError("--nodes and --parallel: must be at least 1")
    folder = write_sweep_workers(args.bundle, Path(spec.graph_path), url, spec.name, nodes=args.nodes,
                                 workers_per_node=args.parallel)
    print(f"sweep {shown(spec.name)} created in {shown(url)}: {spec.trials} trials")
    print(f"on each machine:  sh {shown(shlex.quote(str(folder / 'sweep-worker.sh')))}")
    print(f"Slurm ({args.nodes} nodes): sbatch {shown(shlex.quote(str(folder / 'sweep.sbatch')))}")
    return 0


def _worker(args, sweeps) -> int:
    if not args.study:
        raise ConfigError("--worker needs --study URL: the study the sweep's workers share")
    spec = sweeps.load_spec(args.study, args.name)
    spec.graph_path = str(Path(args.file).resolve())  # this machine's copy: its run store and data folder are here
    folder = sweeps.sweeps_folder(spec.graph_path) / spec.name
    folder.mkdir(parents=True, exist_ok=True)
    stop = _stop_on_signals()
    sweeps.run_worker(spec, args.study, folder, worker=args.worker_index, stop=stop.is_set,
                      on_trial=lambda row: _print_trial(row, spec))
    return 0


def _run_workers(args, spec, url: str, stop: threading.Event) -> None:
    """`--parallel N`: N worker processes on this machine; a stop is passed on to them (SIGTERM).

    Each is pinned to its share of the cores where the platform allows (Linux), so the trials' torch threads
    (one fewer than the usable cores, engine/train/speed.py) do not fight, and the trials' settings stay
    exactly the graph's."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    share = max(1, len(cores) // args.parallel)
    gpus = _gpu_count()
    children = []
    for index in range(args.parallel):
        env = dict(os.environ)
        if gpus > 1:
            env["CUDA_VISIBLE_DEVICES"] = str(index % gpus)
        command = [sys.executable, "-m", "engine", "sweep", spec.graph_path, "--study", url, "--name", spec.name,
                   "--worker", "--worker-index", str(index)]
        children.append(subprocess.Popen(command, env=env))
        if cores:  # before the child imports torch, which reads the cores it may use only when training starts
            mine = [cores[(index * share + k) % len(cores)] for k in range(share)]
            try:
                os.sched_setaffinity(children[-1].pid, mine)
            except OSError:  # the child already ended
                pass
    while any(child.poll() is None for child in children):
        if stop.is_set():
            for child in children:
                if child.poll() is None:
                    child.terminate()
        time.sleep(0.2)


def _gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        def handler(signum, frame):
            if not stop.is_set():
                print("\nstopping after the current trials (they are redone on resume)…", file=sys.stderr)
            stop.set()

        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)
    return stop


def _print_trial(row: dict, spec) -> None:
    values = " ".join(f"{shown(path.split('.', 1)[1])}={_fmt(value)}" for path, value in row["values"].items())
    score = f"{spec.metric} {_fmt(row['value'])}" if row["state"] == "complete" else shown(row["message"])
    seconds = f" ({row['seconds']:.0f} s)" if row["seconds"] is not None else ""
    print(f"trial {row['number']:>3} {row['state']:<8} {score}  {values}{seconds}", flush=True)


def _summary(spec, folder: Path, sweeps, *, stopped: bool) -> int:
    data = sweeps.read_trials(folder) or {}
    done = sum(1 for t in data.get("trials", []) if t["counted"] and t["state"] != "running")
    if stopped or done < spec.trials:
        print(f"stopped with {done} of {spec.trials} trials — resume with `layerloom sweep {shown(spec.graph_path)} "
              f"--name {shown(spec.name)}`")
    best = data.get("best")
    if best:
        values = " ".join(f"--param {shown(k)}={_fmt(v)}" for k, v in best["values"].items())
        print(f"best: trial {best['number']}, {spec.metric} {_fmt(best['value'])}: {values}\n"
              f"      run {shown(best['run_dir'])}")
    if data.get("importances"):
        print("importance: " + ", ".join(f"{shown(k)} {v:.2f}" for k, v in data["importances"].items()))
    return 0


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return shown(json.dumps(value) if not isinstance(value, str) else value)
