"""Export benchmark: per example, ONNX export time and inference latency of onnxruntime vs torch.

    python bench/export.py [--repeats N]

Latency is the median of N runs at batch 1 and batch 64, both on the CPU, torch in eval mode under
no_grad with the same thread count as onnxruntime. Prints a Markdown table (the README has one).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402

from engine.compile import compile_graph  # noqa: E402
from engine.export.onnx_export import SampleMaker, export_onnx  # noqa: E402
from engine.fileformat import load_document  # noqa: E402


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def bench_example(path: Path, out_dir: Path, repeats: int, threads: int) -> dict:
    doc = load_document(path)
    result = export_onnx(doc, out_dir / f"{path.stem}.onnx")
    compiled = compile_graph(doc, with_loss=False)
    module = compiled.module.eval()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(result.path), options, providers=["CPUExecutionProvider"])
    samples = SampleMaker(doc, compiled)
    row = {"model": path.stem, "export_s": result.seconds, "max_abs_error": result.max_abs_error}
    for batch in (1, 64):
        args = samples.make(batch)
        feeds = {name: a.numpy() for name, a in zip(compiled.input_names, args, strict=True)}

        def run_torch(args=args):
            with torch.no_grad():
                module(*args)

        row[f"torch_{batch}"] = median_ms(run_torch, repeats)
        row[f"ort_{batch}"] = median_ms(lambda feeds=feeds: session.run(None, feeds), repeats)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    threads = torch.get_num_threads()
    examples = sorted((ROOT / "resources" / "examples").glob("*.json"))
    print(f"torch {torch.__version__}, onnxruntime {ort.__version__}, {threads} threads, median of {args.repeats}")
    print("| model | export s | max abs err | torch b1 ms | ORT b1 ms | ORT/torch b1 | torch b64 ms | ORT b64 ms "
          "| ORT/torch b64 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for path in examples:
            r = bench_example(path, Path(tmp), args.repeats, threads)
            print(f"| {r['model']} | {r['export_s']:.2f} | {r['max_abs_error']:.1e} | {r['torch_1']:.3f} | "
                  f"{r['ort_1']:.3f} | {r['ort_1'] / r['torch_1']:.2f} | {r['torch_64']:.3f} | {r['ort_64']:.3f} | "
                  f"{r['ort_64'] / r['torch_64']:.2f} |")


if __name__ == "__main__":
    main()
