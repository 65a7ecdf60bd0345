"""Compile-overhead benchmark: a compiled Layerloom graph vs the same network written by hand in PyTorch.

    python bench/compile_overhead.py [--round-s 0.2] [--repeats 15] [--threads 1] [--only MLP LSTM]

For an MLP, a CNN, an LSTM and a Transformer (the architectures of resources/examples/digits_mlp,
digits_cnn, sequence_lstm and text_transformer, built here in code so the bench is self-contained),
both versions start from the same weights (the hand-written modules use the node ids as attribute
names, so the state_dict copies across), see the same synthetic batches and train with the same
AdamW. Before timing, both are checked to compute the same logits. Then rounds of about
`--round-s` seconds (the step count is calibrated on a warm-up round) are interleaved — graph,
hand-written, graph + per-layer gradient norms — and repeated; each variant keeps its median
round, so a noisy neighbour on the machine hits all three alike. With `--threads 1` (the default)
rounds are timed in CPU time of the training thread, which time slices lost to other processes do
not inflate.

Targets: graph/hand-written samples/s ≥ 0.98; gradient-norm logging ≤ 3 % of the step time. As
in the trainer, the per-layer norms are measured (on the device, then one host sync) only at log
points: every `--log-every` steps here, more often than the trainer's ≤ 20 events/s for any
network whose step is under 5 ms. The logging cost is timed around the
norm calls themselves — an upper bound, since the first `.grad` read after backward (Python
wrappers for the new gradients, cold caches) lands there instead of in the optimizer step — and
the difference between the graph+norms and graph rounds is printed too, though on a shared
machine its noise is larger than the 3 % it should resolve.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from engine.compile import compile_graph  # noqa: E402
from engine.document import Edge, GraphDocument  # noqa: E402
from engine.gradnorms import GradNorms  # noqa: E402


def classifier_doc(name: str, sample: dict, layers: list[tuple[str, str, dict]], target_shape: list[int]
                   ) -> GraphDocument:
    """Input → layers in a chain → Output, with CrossEntropyLoss against an int64 Target."""
    doc = GraphDocument(name)
    doc.add_node("Input", sample, node_id="input1")
    previous = "input1"
    for node_id, type_id, params in layers:
        doc.add_node(type_id, params, node_id=node_id)
        doc.add_edge(Edge(previous, "out", node_id, "in"))
        previous = node_id
    doc.add_node("Output", node_id="output1")
    doc.add_node("Target", {"shape": target_shape, "dtype": "int64"}, node_id="target1")
    doc.add_node("CrossEntropyLoss", node_id="loss1")
    doc.add_edge(Edge(previous, "out", "output1", "in"))
    doc.add_edge(Edge(previous, "out", "loss1", "pred"))
    doc.add_edge(Edge("target1", "out", "loss1", "target"))
    return doc


# -- hand-written twins (attribute names = node ids) ------------------------------------------
class HandMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(64, 128), nn.Linear(128, 10)

    def forward(self, x):  # (N, 1, 8, 8) → (N, 10)
        return self.fc2(F.dropout(F.relu(self.fc1(x.flatten(1))), 0.1, self.training))


class HandCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16)
        self.conv2, self.bn2 = nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32)
        self.fc1 = nn.Linear(32 * 2 * 2, 10)

    def forward(self, x):  # (N, 1, 8, 8) → (N, 10)
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)  # (N, 16, 4, 4)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)  # (N, 32, 2, 2)
        return self.fc1(F.dropout(x.flatten(1), 0.2, self.training))


class HandLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm1, self.fc1 = nn.LSTM(4, 32, batch_first=True), nn.Linear(32, 3)

    def forward(self, x):  # (N, 20, 4) → (N, 3)
        return self.fc1(self.lstm1(x)[0][:, -1])


class HandAttention(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)

    def forward(self, x):  # (N, T, E)
        n, t, e = x.shape
        q, k, v = (z.view(n, t, self.heads, e // self.heads).transpose(1, 2) for z in self.qkv(x).split(e, dim=2))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0)
        return self.proj(y.transpose(1, 2).reshape(n, t, e))


class HandBlock(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.ln1, self.attn, self.ln2 = nn.LayerNorm(dim), HandAttention(dim, heads, dropout), nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.dropout = dropout

    def forward(self, x):
        x = x + F.dropout(self.attn(self.ln1(x)), self.dropout, self.training)
        return x + F.dropout(self.ffn(self.ln2(x)), self.dropout, self.training)


class HandTransformer(nn.Module):
    def __init__(self, vocab: int = 61, dim: int = 64, length: int = 64):
        super().__init__()
        self.emb1 = nn.Embedding(vocab, dim)
        position = torch.arange(length, dtype=torch.float32).unsqueeze(1)
        freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
        table = torch.zeros(length, dim)
        table[:, 0::2], table[:, 1::2] = torch.sin(position * freq), torch.cos(position * freq)
        self.register_buffer("pe", table, persistent=False)
        self.block1, self.block2 = HandBlock(dim, 4, 0.1), HandBlock(dim, 4, 0.1)
        self.norm1, self.fc1 = nn.LayerNorm(dim), nn.Linear(dim, vocab)

    def forward(self, tokens):  # (N, T) → (N, T, vocab)
        x = self.emb1(tokens) + self.pe[: tokens.shape[1]]
        return self.fc1(self.norm1(self.block2(self.block1(x))))


def networks() -> dict[str, tuple[GraphDocument, type[nn.Module], dict[str, str]]]:
    """name → (graph, hand-written class, state_dict key renames from graph to hand-written)."""
    block = {"num_heads": 4, "dropout": 0.1, "causal": True}
    return {
        "MLP": (classifier_doc("mlp", {"shape": [1, 8, 8]}, [
            ("flatten1", "Flatten", {}), ("fc1", "Linear", {"out_features": 128, "init": "kaiming"}),
            ("relu1", "ReLU", {}), ("dropout1", "Dropout", {"p": 0.1}), ("fc2", "Linear", {"out_features": 10}),
        ], []), HandMLP, {}),
        "CNN": (classifier_doc("cnn", {"shape": [1, 8, 8]}, [
            ("conv1", "Conv2d", {"out_channels": 16, "padding": 1, "init": "kaiming"}), ("bn1", "BatchNorm2d", {}),
            ("relu1", "ReLU", {}), ("pool1", "MaxPool2d", {"kernel_size": 2}),
            ("conv2", "Conv2d", {"out_channels": 32, "padding": 1, "init": "kaiming"}), ("bn2", "BatchNorm2d", {}),
            ("relu2", "ReLU", {}), ("pool2", "MaxPool2d", {"kernel_size": 2}), ("flatten1", "Flatten", {}),
            ("dropout1", "Dropout", {"p": 0.2}), ("fc1", "Linear", {"out_features": 10}),
        ], []), HandCNN, {}),
        "LSTM": (classifier_doc("lstm", {"shape": [20, 4]}, [
            ("lstm1", "LSTM", {"hidden_size": 32}), ("fc1", "Linear", {"out_features": 3}),
        ], []), HandLSTM, {"lstm1.rnn.": "lstm1."}),
        "Transformer": (classifier_doc("transformer", {"shape": [64], "dtype": "int64"}, [
            ("emb1", "Embedding", {"num_embeddings": 61, "embedding_dim": 64}),
            ("pos1", "PositionalEncoding", {"max_len": 64}), ("block1", "TransformerBlock", block),
            ("block2", "TransformerBlock", block), ("norm1", "LayerNorm", {}), ("fc1", "Linear", {"out_features": 61}),
        ], [64]), HandTransformer, {}),
    }


def renamed(state: dict, renames: dict[str, str]) -> dict:
    for old, new in renames.items():
        state = {key.replace(old, new, 1) if key.startswith(old) else key: value for key, value in state.items()}
    return state


def synthetic_batches(compiled, batch_size: int, count: int, vocab: int) -> list[tuple]:
    """`count` batches of the graph's input/target shapes; class and token ids drawn below `vocab`."""
    batches = []
    for _ in range(count):
        args = compiled.example_inputs(batch_size)
        batches.append(tuple(torch.randint(0, vocab, a.shape) if a.dtype == torch.int64 else a for a in args))
    return batches


def bench_network(name: str, doc: GraphDocument, hand_cls, renames, args) -> dict:
    torch.manual_seed(0)
    compiled = compile_graph(doc)
    graph, hand = compiled.module, hand_cls()
    hand.load_state_dict(renamed(graph.state_dict(), renames))  # strict: the twins have the same weights
    vocab = {"MLP": 10, "CNN": 10, "LSTM": 3, "Transformer": 61}[name]
    batches = synthetic_batches(compiled, args.batch_size, 8, vocab)
    graph.eval(), hand.eval()
    with torch.no_grad():
        torch.testing.assert_close(graph(*batches[0])["output1"], hand(batches[0][0]), rtol=1e-4, atol=1e-5)
    graph.train(), hand.train()

    graph_opt = torch.optim.AdamW(graph.parameters(), lr=1e-3)
    hand_opt = torch.optim.AdamW(hand.parameters(), lr=1e-3)
    norms = GradNorms(graph)
    logged, norm_time = [], [0.0]

    def graph_step(x, y, with_norms=False, step=0):
        graph_opt.zero_grad(set_to_none=True)
        graph(x, y)["loss"].backward()
        if with_norms and step % args.log_every == 0:  # as the trainer: measured only at log points
            start = args.clock()
            per_node, total = norms()
            logged.append((total.item(), per_node.tolist()))  # the only host sync
            norm_time[0] += args.clock() - start
        graph_opt.step()

    def hand_step(x, y):
        hand_opt.zero_grad(set_to_none=True)
        logits = hand(x)
        F.cross_entropy(logits.flatten(0, -2), y.flatten()).backward()
        hand_opt.step()

    variants = {
        "graph": lambda i, x, y: graph_step(x, y),
        "hand": lambda i, x, y: hand_step(x, y),
        "graph+norms": lambda i, x, y: graph_step(x, y, with_norms=True, step=i),
    }
    def run_round(step, steps: int) -> float:
        start = args.clock()
        for i in range(steps):
            step(i, *batches[i % len(batches)])
        return args.clock() - start

    for _ in range(2):  # the first round pays one-time costs; the second calibrates the round length
        warmup = {variant: run_round(step, args.min_steps) for variant, step in variants.items()}
    steps = max(args.min_steps, round(args.round_s * args.min_steps / warmup["graph"]))
    times: dict[str, list[float]] = {v: [] for v in variants}
    order, norm_times = list(variants), []
    for r in range(args.repeats):
        for variant in order[r % 3:] + order[: r % 3]:  # rotate so no variant always runs first
            norm_time[0] = 0.0
            times[variant].append(run_round(variants[variant], steps))
            if variant == "graph+norms":
                norm_times.append(norm_time[0])
    per_round = {v: statistics.median(t) for v, t in times.items()}
    rate = {v: args.batch_size * steps / t for v, t in per_round.items()}
    return {
        "network": name, "params": sum(p.numel() for p in graph.parameters()), "steps": steps,
        "graph": rate["graph"], "hand": rate["hand"], "ratio": rate["graph"] / rate["hand"],
        # timed around the norm calls themselves: a difference of two noisy round times hides 3 %
        "norms_share": statistics.median(norm_times) / per_round["graph"],
        "norms_us": 1e6 * statistics.median(norm_times) / steps,
        "norms_diff": per_round["graph+norms"] / per_round["graph"] - 1,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--round-s", type=float, default=0.2, help="about how long one timed round runs")
    parser.add_argument("--min-steps", type=int, default=5, help="warm-up steps, and the fewest steps per round")
    parser.add_argument("--repeats", type=int, default=15, help="timed rounds per variant (median kept)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--log-every", type=int, default=10, help="steps between gradient-norm log points")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is steadiest on a busy box)")
    parser.add_argument("--only", nargs="*", help="network names to run (MLP CNN LSTM Transformer)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    # With one thread every op (backward included, on the CPU) runs on this thread, so its CPU time
    # is the work done, unaffected by time slices other processes take; otherwise wall time.
    args.clock = time.thread_time if args.threads == 1 else time.perf_counter
    clock = "CPU time of the training thread" if args.threads == 1 else "wall time"

    print(f"torch {torch.__version__}, CPU, {args.threads} thread(s), batch {args.batch_size}, AdamW, "
          f"{args.repeats} interleaved rounds of ≈ {args.round_s:g} s per variant (median round, {clock})\n")
    print("| network | params | steps/round | graph samples/s | hand-written samples/s | graph / hand "
          "| grad-norm logging: µs/step | % of step | (round difference) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, (doc, hand_cls, renames) in networks().items():
        if args.only and name not in args.only:
            continue
        r = bench_network(name, doc, hand_cls, renames, args)
        print(f"| {r['network']} | {r['params']:,} | {r['steps']} | {r['graph']:,.0f} | {r['hand']:,.0f} "
              f"| {r['ratio']:.3f} | {r['norms_us']:.0f} | {100 * r['norms_share']:.1f} % "
              f"| {100 * r['norms_diff']:+.1f} % |", flush=True)


if __name__ == "__main__":
    main()
