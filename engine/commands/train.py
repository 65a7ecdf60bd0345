"""`layerloom train FILE`: train a graph with its training section, with a progress bar.

Exit status: 0 finished or stopped (Ctrl+C stops after the current step and checkpoints; a second
Ctrl+C aborts), 1 failed (invalid graph, bad settings or data, divergence, out of memory), 2 the
file cannot be read, nor the data (a benchmark set with no copy and no network, or a damaged file).
Under `torchrun --nproc_per_node N` every process runs this same command and trains data-parallel;
only rank 0 prints and writes.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

from ..errors import ConfigError, LayerloomError
from ..runs import RunStoreError, new_run_dir, store_for
from .common import UNREADABLE, read_graph


def add_arguments(parser) -> None:
    parser.add_argument("file", help="graph file (.json) with a training section")
    parser.add_argument("--epochs", type=int, metavar="N", help="override training.epochs")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="override training.device")
    parser.add_argument("--out", metavar="RUN_DIR",
                        help="run folder for events.jsonl, checkpoints and summary.json "
                             "(default: a new run in <graph>.runs/ beside the graph file)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    parser.add_argument("--resume-if-any", action="store_true",
                        help="continue from the last checkpoint in --out when there is one, else start (launch "
                             "bundles use it; under torchrun a restarted worker group always resumes)")
    parser.add_argument("--profile", action="store_true",
                        help="measure each node's forward/backward time and activation memory over a few steps "
                             "before training (training.profile): profile.json in the run folder")
    parser.add_argument("--strategy", choices=("ddp", "fsdp"), default="ddp",
                        help="data parallelism under torchrun: replicate (ddp) or shard (fsdp) the model")


def run(args) -> int:
    doc = read_graph(args.file)
    if doc is None:
        return UNREADABLE
    if args.resume and not args.out:
        print("error: --resume needs --out RUN_DIR naming the run to continue", file=sys.stderr)
        return 2
    from ..train import train
    from ..train.distributed import resumes

    graph_path = Path(args.file).resolve()
    try:
        if args.out:
            run_dir = Path(args.out).resolve()
        else:
            run_dir = new_run_dir(store_for(graph_path), graph_path.stem, graph_path)
    except RunStoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    progress = _Progress()
    stop = threading.Event()
    previous = _install_sigint(stop)
    try:
        resume = resumes(run_dir, args.resume, args.resume_if_any)
        result = train(doc, run_dir, epochs=args.epochs, device=args.device, resume=resume,
                       on_event=progress, stop=stop, base_dir=graph_path.parent,
                       strategy=args.strategy, graph_path=graph_path, profile=args.profile)
    except LayerloomError as exc:
        progress.close()
        where = f"{args.file}: " if isinstance(exc, ConfigError) else ""  # the training section is in this file
        print(f"error: {where}{exc}", file=sys.stderr)
        return getattr(exc, "exit_status", 1)  # 2: data that cannot be had or read (errors.DataUnavailable)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    progress.close()
    if progress.shown:
        _print_result(result)
    return 0 if result.state in ("finished", "stopped") else 1


def _install_sigint(stop: threading.Event):
    """First Ctrl+C asks the trainer to stop after this step; a second one aborts."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print("\nstopping after this step (Ctrl+C again to abort)…", file=sys.stderr)

    return signal.signal(signal.SIGINT, handler)


class _Progress:
    """Renders the event stream: a tqdm bar over steps with loss and samples/s, a line per epoch."""

    def __init__(self):
        self.bar = None
        self.shown = False  # only rank 0 receives events; other ranks stay silent

    def __call__(self, event: dict) -> None:
        from tqdm import tqdm

        self.shown = True
        kind = event["type"]
        if kind == "started":
            total = event["config"]["epochs"] * event["steps_per_epoch"]
            tqdm.write(f"{event['dataset']} · {event['params']:,} parameters · {event['device']}"
                       + (f" × {event['world_size']} processes" if event["world_size"] > 1 else ""))
            self.bar = tqdm(total=total, initial=event["resumed_step"], unit="step", dynamic_ncols=True)
        elif kind == "step" and self.bar is not None:
            self.bar.update(event["step"] - self.bar.n)
            self.bar.set_postfix(epoch=event["epoch"], loss=_fmt(event["loss"]),
                                 samples_s=f"{event['samples_per_s'] or 0:,.0f}", refresh=False)
        elif kind == "epoch":
            tqdm.write(f"epoch {event['epoch']}: " + _metrics(event))
        elif kind == "artifact" and event["tag"] == "profile":
            tqdm.write(f"profiled {event['data']['steps']} steps node by node: {event['path']} in the run folder")
        elif kind == "warning":
            tqdm.write(f"warning: {event['message']}", file=sys.stderr)
        elif kind == "status" and event["state"] in ("stopped", "failed") and event["reason"] != "error":
            # a failure for reason "error" is also raised, and run() prints it once as "error: …"
            tqdm.write(f"{event['state']}: {event['message']}", file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _print_result(result) -> None:
    if result.state == "finished":  # stopped and failed were already reported by the progress display
        print(result.message)
    if result.metrics:
        print("final " + _metrics(result.metrics))
    if result.best:
        accuracy = result.best.get("val_accuracy")  # what `evaluate` (the app's Results) scores for this checkpoint
        also = f", val_accuracy {accuracy:.1%}" if accuracy is not None and result.best["monitor"] == "val_loss" else ""
        print(f"best {result.best['monitor']} {_fmt(result.best['value'])} at epoch {result.best['epoch']}{also}")
    print(f"run folder: {result.run_dir}")


def _metrics(m: dict) -> str:
    parts = [f"{name} {_fmt(m[name])}" for name in ("train_loss", "val_loss") if m.get(name) is not None]
    parts += [f"{name} {m[name]:.1%}" for name in ("train_accuracy", "val_accuracy") if m.get(name) is not None]
    return ", ".join(parts)


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.4g}"
