"""GPU benchmark: compiled Layerloom graphs vs the same networks written by hand, eager and compiled, fp32 and bf16.

    python bench/gpu.py [--device cuda] [--batch-size 256] [--round-s 1.0] [--repeats 5] [--no-compile]
                        [--only ResNet32 CNN]

Networks: those of bench/compile_overhead.py (the MLP, CNN, LSTM and Transformer of the templates)
and a CIFAR-shaped ResNet-style CNN drawn as a graph (synthetic 32×32×3 images: no dataset can be
downloaded on the benchmark machines) — stem conv, three stages of two basic blocks with residual
Adds (the later stages stride 2 with a 1×1 projection), global average pool, linear. Each graph and
its hand-written twin start from the same weights and see the same batches. Modes: eager fp32,
eager bf16 autocast, and torch.compile with bf16. Rounds interleave graph and hand-written (order
alternating); samples/s is each one's median round, timed between CUDA synchronisations.

Printed per network and mode: samples/s of both, graph / hand (target ≥ 0.99), compiled / eager for
bf16 (target ≥ 1.3 where the network is big enough to gain), and the achieved TFLOP/s of the graph
— 6 × multiply-adds per sample (forward 2, backward 4; from engine.stats) × samples/s — against the
device's bf16 matrix-multiply peak measured here with an 8192³ matmul.

`--device cpu --round-s 0.05 --repeats 1 --no-compile` runs it anywhere in seconds (a smoke test).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from contextlib import nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from compile_overhead import networks, renamed, synthetic_batches  # noqa: E402
from torch import nn  # noqa: E402

from engine.compile import compile_graph  # noqa: E402
from engine.document import Edge, GraphDocument  # noqa: E402
from engine.stats import graph_stats  # noqa: E402
from engine.validate import validate  # noqa: E402

STAGES = ((32, 1), (64, 2), (128, 2))  # (channels, stride of the stage's first block)


def resnet_doc() -> GraphDocument:
    """The CIFAR-shaped ResNet as a Layerloom graph; node ids are the hand-written twin's attribute names."""
    doc = GraphDocument("resnet32x32")
    doc.add_node("Input", {"shape": [3, 32, 32]}, node_id="input1")

    def layer(node_id: str, type_id: str, params: dict, source: str, port: str = "in") -> str:
        doc.add_node(type_id, params, node_id=node_id)
        doc.add_edge(Edge(source, "out", node_id, port))
        return node_id

    def conv_bn(name: str, source: str, channels: int, stride: int, kernel: int = 3) -> str:
        conv = layer(f"{name}_conv", "Conv2d", {"out_channels": channels, "kernel_size": kernel, "stride": stride,
                                                 "padding": kernel // 2, "bias": False, "init": "kaiming"}, source)
        return layer(f"{name}_bn", "BatchNorm2d", {}, conv)

    x = layer("stem_relu", "ReLU", {}, conv_bn("stem", "input1", 32, 1))
    for s, (channels, stride) in enumerate(STAGES, start=1):
        for b in (1, 2):
            name, first = f"s{s}b{b}", b == 1 and stride != 1
            y = layer(f"{name}_relu1", "ReLU", {}, conv_bn(f"{name}a", x, channels, stride if b == 1 else 1))
            y = conv_bn(f"{name}b", y, channels, 1)
            skip = conv_bn(f"{name}p", x, channels, stride, kernel=1) if first else x
            add = layer(f"{name}_add", "Add", {}, y, "a")
            doc.add_edge(Edge(skip, "out", add, "b"))
            x = layer(f"{name}_relu2", "ReLU", {}, add)
    x = layer("pool", "AdaptiveAvgPool2d", {"output_size": 1}, x)
    x = layer("flat", "Flatten", {}, x)
    x = layer("fc", "Linear", {"out_features": 10}, x)
    layer("output1", "Output", {}, x)
    doc.add_node("Target", {"shape": [], "dtype": "int64"}, node_id="target1")
    layer("loss1", "CrossEntropyLoss", {}, x, "pred")
    doc.add_edge(Edge("target1", "out", "loss1", "target"))
    return doc


class HandResNet(nn.Module):
    """The same network written by hand (attribute names = the graph's node ids, so weights copy across)."""

    def __init__(self):
        super().__init__()

        def conv_bn(name: str, cin: int, cout: int, stride: int, kernel: int = 3) -> None:
            setattr(self, f"{name}_conv", nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False))
            setattr(self, f"{name}_bn", nn.BatchNorm2d(cout))

        conv_bn("stem", 3, 32, 1)
        cin = 32
        for s, (channels, stride) in enumerate(STAGES, start=1):
            for b in (1, 2):
                conv_bn(f"s{s}b{b}a", cin, channels, stride if b == 1 else 1)
                conv_bn(f"s{s}b{b}b", channels, channels, 1)
                if b == 1 and stride != 1:
                    conv_bn(f"s{s}b{b}p", cin, channels, stride, kernel=1)
                cin = channels
        self.fc = nn.Linear(cin, 10)

    def _cb(self, name: str, x):
        return getattr(self, f"{name}_bn")(getattr(self, f"{name}_conv")(x))

    def forward(self, x):
        x = F.relu(self._cb("stem", x))
        for s, (_, stride) in enumerate(STAGES, start=1):
            for b in (1, 2):
                name = f"s{s}b{b}"
                y = self._cb(f"{name}b", F.relu(self._cb(f"{name}a", x)))
                skip = self._cb(f"{name}p", x) if b == 1 and stride != 1 else x
                x = F.relu(y + skip)
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


def all_networks() -> dict:
    return {**networks(), "ResNet32": (resnet_doc(), HandResNet, {})}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(device: torch.device) -> float | None:
    """bf16 TFLOP/s of a large matmul: the device's practical peak for the ratio."""
    if device.type != "cuda":
        return None
    a = torch.randn(8192, 8192, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ a
    sync(device)
    start, n = time.perf_counter(), 20
    for _ in range(n):
        a @ a
    sync(device)
    return 2 * 8192**3 * n / (time.perf_counter() - start) / 1e12


def bench(name: str, doc, hand_cls, renames, mode: str, args, device) -> dict:
    torch.manual_seed(0)
    compiled = compile_graph(doc)
    graph, hand = compiled.module.to(device), hand_cls().to(device)
    hand.load_state_dict(renamed(graph.state_dict(), renames))
    vocab = {"LSTM": 3, "Transformer": 61}.get(name, 10)
    batches = [tuple(t.to(device) for t in b) for b in synthetic_batches(compiled, args.batch_size, 4, vocab)]
    bf16 = mode != "fp32"
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if bf16 else nullcontext
    optimizers = {"graph": torch.optim.AdamW(graph.parameters(), lr=1e-3),
                  "hand": torch.optim.AdamW(hand.parameters(), lr=1e-3)}
    forward = {"graph": graph, "hand": hand}
    if mode == "compiled bf16":
        forward = {k: torch.compile(m) for k, m in forward.items()}

    def step(which: str, x, y) -> None:
        optimizer = optimizers[which]
        optimizer.zero_grad(set_to_none=True)
        with autocast():
            if which == "graph":
                loss = forward["graph"](x, y)["loss"]
            else:
                logits = forward["hand"](x)
                loss = F.cross_entropy(logits.flatten(0, -2).float(), y.flatten())
        loss.backward()
        optimizer.step()

    def run_round(which: str, steps: int) -> float:
        sync(device)
        start = time.perf_counter()
        for i in range(steps):
            step(which, *batches[i % len(batches)])
        sync(device)
        return time.perf_counter() - start

    for which in ("graph", "hand"):  # warm-up: compilation, cuDNN autotuning, allocator
        run_round(which, 3)
    steps = max(3, round(args.round_s * 3 / run_round("graph", 3)))
    times = {"graph": [], "hand": []}
    for r in range(args.repeats):
        for which in (("graph", "hand") if r % 2 == 0 else ("hand", "graph")):
            times[which].append(run_round(which, steps))
    rate = {k: args.batch_size * steps / statistics.median(v) for k, v in times.items()}
    macs = graph_stats(doc, validate(doc), 1).total_macs  # per sample
    return {"network": name, "mode": mode, "graph": rate["graph"], "hand": rate["hand"],
            "tflops": 6 * macs * rate["graph"] / 1e12}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--round-s", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile mode")
    parser.add_argument("--only", nargs="*", help="network names (default: all)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        name = torch.cuda.get_device_name(device)
    else:
        name = "CPU"
    peak = matmul_peak(device)
    print(f"{name}, torch {torch.__version__}, batch {args.batch_size}"
          + (f", bf16 matmul peak {peak:.0f} TFLOP/s" if peak else ""))
    print("| network | mode | graph samples/s | hand samples/s | graph / hand | compiled / eager (bf16) | "
          "graph TFLOP/s |")
    print("|---|---|---:|---:|---:|---:|---:|")
    modes = ["fp32", "bf16"] + ([] if args.no_compile else ["compiled bf16"])
    for net, (doc, hand_cls, renames) in all_networks().items():
        if args.only and net not in args.only:
            continue
        eager_bf16 = None
        for mode in modes:
            try:
                row = bench(net, doc, hand_cls, renames, mode, args, device)
            except RuntimeError as exc:  # e.g. oneDNN has no bf16 LSTM on the CPU: say so, go on
                print(f"| {net} | {mode} | failed: {str(exc).splitlines()[0][:80]} | | | | |", flush=True)
                continue
            eager_bf16 = row["graph"] if mode == "bf16" else eager_bf16
            gain = f"{row['graph'] / eager_bf16:.2f}×" if mode == "compiled bf16" and eager_bf16 else ""
            share = f" ({row['tflops'] / peak:.0%} of peak)" if peak else ""
            print(f"| {net} | {mode} | {row['graph']:,.0f} | {row['hand']:,.0f} | {row['graph'] / row['hand']:.3f} | "
                  f"{gain} | {row['tflops']:.2f}{share} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
