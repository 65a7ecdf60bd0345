"""ONNX import benchmark: is import time linear in the model's size?

    python bench/onnx_import.py [--sizes 1000 2000 5000 10000] [--repeats 3] [--kind relu|unnamed|linear|all]

Builds chains of ReLU nodes (`relu`, named as torch names them; `unnamed`, without names, so every id is
counted out), and of Linear+ReLU pairs (`linear`: a Gemm with an 8×8 weight then a Relu, so twice the
nodes for a given size), with onnx.helper, and times `import_onnx` on each: the
minimum of `--repeats` runs, with the spread (max − min) beside it. Prints seconds and milliseconds per
ONNX node; a per-node figure that stays flat as the chain grows is a linear import, one that grows with
the size is not (the last column is each size's per-node time over the smallest size's).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402

from engine.onnx_import import import_onnx  # noqa: E402

FEATURES = 8


def relu_chain(count: int, named: bool = True) -> onnx.ModelProto:
    """x (N, 8) → Relu × count → y; the nodes named as torch names them (`/act3/Relu`), or not at all."""
    names = ["x"] + [f"t{i}" for i in range(1, count)] + ["y"]
    nodes = [helper.make_node("Relu", [names[i]], [names[i + 1]], name=f"/act{i}/Relu" if named else None)
             for i in range(count)]
    return _model(nodes, [])


def unnamed_chain(count: int) -> onnx.ModelProto:
    """A ReLU chain whose nodes have no names: each Layerloom id is the first free `relu<k>`."""
    return relu_chain(count, named=False)


def linear_chain(count: int) -> onnx.ModelProto:
    """x (N, 8) → (Gemm 8×8 → Relu) × count → y: `count` weighted layers, 2·count nodes."""
    rng = np.random.default_rng(0)
    nodes, weights, current = [], [], "x"
    for i in range(count):
        weight = f"w{i}"
        weights.append(helper.make_tensor(weight, TensorProto.FLOAT, [FEATURES, FEATURES],
                                          rng.standard_normal(FEATURES * FEATURES).astype(np.float32)))
        hidden, out = f"h{i}", ("y" if i == count - 1 else f"a{i}")
        nodes += [helper.make_node("Gemm", [current, weight], [hidden], name=f"/fc{i}/Gemm", transB=1),
                  helper.make_node("Relu", [hidden], [out], name=f"/act{i}/Relu")]
        current = out
    return _model(nodes, weights)


def _model(nodes, initializers) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", FEATURES])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", FEATURES])],
                              initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])


def time_import(path: Path, repeats: int) -> tuple[float, float]:
    """(min, max) seconds of `repeats` imports of `path`."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        import_onnx(path)
        times.append(time.perf_counter() - start)
    return min(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 5000, 10000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--kind", choices=("relu", "unnamed", "linear", "all"), default="all")
    args = parser.parse_args()
    kinds = {"relu": relu_chain, "unnamed": unnamed_chain, "linear": linear_chain}
    chosen = list(kinds) if args.kind == "all" else [args.kind]
    import_onnx  # noqa: B018 — the importer's own modules are loaded by the import above, not timed
    with tempfile.TemporaryDirectory() as folder:
        warm = Path(folder) / "warm.onnx"
        onnx.save(relu_chain(10), str(warm))
        import_onnx(warm)  # first-call costs (onnxscript's rule tables) are not the model's
        print(f"{'chain':<8}{'size':>7}{'nodes':>8}{'min s':>10}{'spread s':>10}{'ms/node':>10}{'ratio':>8}")
        for kind in chosen:
            base = None
            for size in args.sizes:
                model = kinds[kind](size)
                path = Path(folder) / f"{kind}{size}.onnx"
                onnx.save(model, str(path))
                nodes = len(model.graph.node)
                best, worst = time_import(path, args.repeats)
                per_node = best / nodes
                base = base or per_node
                print(f"{kind:<8}{size:>7}{nodes:>8}{best:>10.3f}{worst - best:>10.3f}{per_node * 1e3:>10.3f}"
                      f"{per_node / base:>8.2f}", flush=True)


if __name__ == "__main__":
    main()
