"""`layerloom predict` on a large CSV: peak memory (max RSS) and wall time, measured with /usr/bin/time -v.

    python bench/predict_memory.py [--mb 200] [--features 64] [--dir /tmp/layerloom-predict-bench] [--root TREE]

Trains a small classifier (Linear 16 → ReLU → Linear 3) on a 600-row CSV with `--features` numeric
columns and a label column, exports it with its preprocessing (`layerloom export --weights`), writes a
CSV of about `--mb` megabytes with the same columns (each value written with 6 decimals, like a
spreadsheet export, so 2M rows × 65 columns is about 1.4 GB), then runs `layerloom predict` on it with
its output to /dev/null and prints the peak resident memory, the wall time and the number of lines
printed. The model and CSV are kept in `--dir` and reused when the sizes match. `--root` runs the
predict of another checkout of Layerloom (e.g. an older commit unpacked with `git archive`) on the
same files, for a before/after comparison.

Streaming bounds memory by the chunk (engine.predict.CHUNK_ROWS rows), not by the file: the figure
should stay near the interpreter + onnxruntime baseline (~150 MB) whatever `--mb` is.
"""

from __future__ import annotations

import argparse
import csv
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LABELS = ["ok", "warn", "fail"]


def write_rows(path: Path, rows: int, features: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*(f"f{i}" for i in range(features)), "status"])
        for start in range(0, rows, 20_000):
            n = min(20_000, rows - start)
            labels = rng.integers(0, 3, n)
            x = rng.normal(0, 1, (n, features)) + labels[:, None]
            handle.writelines(",".join(f"{v:.6f}" for v in row) + f",{LABELS[y]}\n"
                              for row, y in zip(x, labels, strict=True))


def model(folder: Path, features: int) -> Path:
    onnx = folder / f"model{features}.onnx"
    if onnx.exists():
        return onnx
    from engine.document import Edge, GraphDocument
    from engine.export.bundle import export_all
    from engine.train import train

    write_rows(folder / "train.csv", 600, features, seed=0)
    doc = GraphDocument("bench mlp")
    doc.add_node("Input", {"shape": [features], "dtype": "float32"}, node_id="input1")
    doc.add_node("Linear", {"out_features": 16}, node_id="fc1")
    doc.add_node("ReLU", node_id="relu1")
    doc.add_node("Linear", {"out_features": 3}, node_id="fc2")
    doc.add_node("Output", node_id="output1")
    doc.add_node("Target", {"shape": [], "dtype": "int64"}, node_id="target1")
    doc.add_node("CrossEntropyLoss", node_id="loss1")
    for edge in [("input1", "out", "fc1", "in"), ("fc1", "out", "relu1", "in"), ("relu1", "out", "fc2", "in"),
                 ("fc2", "out", "output1", "in"), ("fc2", "out", "loss1", "pred"),
                 ("target1", "out", "loss1", "target")]:
        doc.add_edge(Edge(*edge))
    doc.training = {"dataset": {"name": "csv", "path": "train.csv"}, "optimizer": {"name": "adam", "lr": 0.01},
                    "epochs": 2, "batch_size": 32, "device": "cpu"}
    train(doc, folder / "run", base_dir=folder)
    export_all(doc, onnx=onnx, weights=folder / "run")
    return onnx


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=200)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/layerloom-predict-bench"))
    parser.add_argument("--root", type=Path, default=ROOT, help="the Layerloom checkout whose predict runs")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    onnx = model(args.dir, args.features)
    rows = int(args.mb * 1e6 / (9.2 * args.features + 5))  # "0.123456," or "-0.123456,"
    big = args.dir / f"big{args.features}x{rows}.csv"
    if not big.exists():
        print(f"writing {big} ({rows:,} rows)…", flush=True)
        write_rows(big, rows, args.features, seed=1)
    size = big.stat().st_size
    started = time.perf_counter()
    run = subprocess.run(["/usr/bin/time", "-v", sys.executable, "-m", "engine", "predict", str(onnx), str(big)],
                         cwd=args.root, capture_output=True, text=True)
    wall = time.perf_counter() - started
    peak = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", run.stderr).group(1)) * 1024
    lines = run.stdout.splitlines()
    print(f"csv: {size / 1e6:.0f} MB, {rows:,} rows × {args.features + 1} columns; exit {run.returncode}")
    print(f"peak memory (max RSS): {peak / 1e6:.0f} MB ({peak / size:.2f}× the file); wall {wall:.1f} s")
    print(f"printed {len(lines):,} lines; last: {lines[-1] if lines else run.stderr.strip().splitlines()[-1]}")


if __name__ == "__main__":
    main()
