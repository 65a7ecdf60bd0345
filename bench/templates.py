"""Template benchmark: trains every example graph to its configured end, through the engine, on the CPU.

    python bench/templates.py [NAME ...] [--out DIR] [--epochs N] [--threads N] [--device cuda --precision bf16]

One Markdown table row per template: the metric its task kind reaches on the validation split
(accuracy for classifiers, reconstruction error for autoencoders, perplexity for language models
next to the unigram baseline — the perplexity of predicting every character by its training
frequency — and D(real), D(fake) for GANs), the wall time and torch's thread count. Each run's
folder (events, checkpoints, artifacts/: GAN sample grids, reconstructions, generated text) stays
under --out (default: a temporary folder, printed). The README gallery quotes these numbers.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from engine.data import load_dataset  # noqa: E402
from engine.fileformat import load_document  # noqa: E402
from engine.train import read_events, train  # noqa: E402

EXAMPLES = ROOT / "resources" / "examples"


def unigram_perplexity(dataset: dict, seed: int) -> float:
    """exp of the entropy of the training characters: what a model without context reaches."""
    counts = Counter(load_dataset(dataset, seed).train.tensors[1].flatten().tolist())
    total = sum(counts.values())
    return math.exp(-sum(c / total * math.log(c / total) for c in counts.values()))


def metric(doc, epoch: dict) -> str:
    """The last epoch's headline number for the template's kind."""
    metrics = epoch.get("metrics") or {}
    if "d_real" in metrics:
        return f"D(real) {metrics['d_real']:.2f}, D(fake) {metrics['d_fake']:.2f}"
    if "perplexity" in metrics:
        baseline = unigram_perplexity(doc.training["dataset"], doc.training.get("seed", 0))
        return f"perplexity {metrics['perplexity']:.2f} (unigram {baseline:.2f})"
    if "reconstruction_error" in metrics:
        return f"reconstruction MSE {metrics['reconstruction_error']:.3f}"
    if epoch.get("val_accuracy") is not None:
        return f"val accuracy {epoch['val_accuracy']:.1%}"
    return f"val loss {epoch['val_loss']:.4f}"


def bench(path: Path, out: Path, epochs: int | None, threads: int | None, device: str = "cpu",
          precision: str = "fp32") -> dict:
    doc = load_document(path)
    doc.training["device"], doc.training["precision"] = device, precision
    if threads:
        doc.training["num_threads"] = threads
    run_dir = out / path.stem
    started = time.perf_counter()
    result = train(doc, run_dir, epochs=epochs)
    seconds = time.perf_counter() - started
    epoch_events = [e for e in read_events(run_dir / "events.jsonl") if e["type"] == "epoch"]
    reached = metric(doc, epoch_events[-1]) if epoch_events else result.message
    return {"template": path.stem, "epochs": len(epoch_events), "metric": reached, "seconds": seconds,
            "state": result.state, "run": run_dir}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="template file stems (default: all)")
    parser.add_argument("--out", type=Path, help="folder for the run folders (default: a temporary one)")
    parser.add_argument("--epochs", type=int, help="override every template's epochs (quick checks)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "fp16"), help="autocast on CUDA")
    parser.add_argument("--threads", type=int, help="torch threads (default: the trainer's, one fewer than the cores)")
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="layerloom-templates-"))
    paths = [EXAMPLES / f"{name}.json" for name in args.names] or sorted(EXAMPLES.glob("*.json"))
    print(f"runs in {out}; torch {torch.__version__} (threads: each run's own, in the last column)\n")
    print("| template | epochs | metric reached | wall time | threads |")
    print("|---|---|---|---|---|")
    for path in paths:
        row = bench(path, out, args.epochs, args.threads, args.device, args.precision)
        state = "" if row["state"] == "finished" else f" ({row['state']})"
        print(f"| {row['template']} | {row['epochs']} | {row['metric']}{state} | {row['seconds']:.0f} s | "
              f"{torch.get_num_threads()} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
