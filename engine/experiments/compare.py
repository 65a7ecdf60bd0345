"""What differed between two runs of a graph: settings, structure, curves, final metrics and weights.

Everything is read from the two run folders (engine/runs.py): the resolved settings (config.json,
flattened to dotted keys, so `optimizer.lr` differs rather than "the optimizer section"), the graph as
trained (graph.json: nodes added, removed, changed in type or parameters; wires added or removed;
block definitions changed), the epoch events (curves), the summary's final metrics, and — when both
graphs have the same structure — the checkpoints: for every node, how far its weights moved from one
run to the other as a relative L2 distance ‖w_b − w_a‖ / ‖w_a‖ over all its tensors (a block instance is
one node: its tensors are all those under its id). safetensors files are read with numpy: no torch.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import runs

CURVE_FIELDS = ("train_loss", "val_loss", "train_accuracy", "val_accuracy")
WEIGHT_TAGS = ("best", "last")  # the checkpoint compared: best when both runs have one, else last


@dataclass
class Comparison:
    a: str  # run folders
    b: str
    settings: list[dict] = field(default_factory=list)  # {"key", "a", "b"} for each differing setting
    nodes_added: list[dict] = field(default_factory=list)  # {"id", "type"} in b only
    nodes_removed: list[dict] = field(default_factory=list)  # {"id", "type"} in a only
    nodes_changed: list[dict] = field(default_factory=list)  # {"id", "type": [a, b] | None, "params": {name: [a, b]}}
    edges_added: list[str] = field(default_factory=list)  # "src.port → dst.port"
    edges_removed: list[str] = field(default_factory=list)
    blocks_changed: list[str] = field(default_factory=list)
    curves: dict[str, dict[str, list]] = field(default_factory=dict)  # "a"/"b" → field → per-epoch values
    final: dict[str, dict[str, Any]] = field(default_factory=dict)  # "a"/"b" → final metrics (+ best)
    weights: dict[str, float] | None = None  # node id → relative L2 distance; None when not comparable
    weights_note: str = ""  # which checkpoints were compared, or why weights were not

    @property
    def same_structure(self) -> bool:
        return not (self.nodes_added or self.nodes_removed or self.edges_added or self.edges_removed
                    or self.blocks_changed or any(c["type"] for c in self.nodes_changed))

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "same_structure": self.same_structure}


def resolve_run(store: Path, ref: str) -> Path:
    """The run folder `ref` names: a path to a run folder, or the folder name or label of a run in `store`."""
    path = Path(ref).expanduser()
    if runs.is_run_dir(path):
        return path.resolve()
    found = [r.path for r in runs.list_runs(store) if ref in (r.name, r.label)]
    if len(found) == 1:
        return found[0]
    if found:
        raise runs.RunStoreError(f"{ref!r} names {len(found)} runs in {store} — give the folder name instead")
    raise runs.RunStoreError(f"{ref!r} is neither a run folder nor the name of a run in {store} — "
                             f"`layerloom runs GRAPH` lists them")


def compare_runs(a: str | Path, b: str | Path) -> Comparison:
    a, b = Path(a).resolve(), Path(b).resolve()
    result = Comparison(str(a), str(b))
    configs = [_read_config(d) for d in (a, b)]
    result.settings = [{"key": k, "a": va, "b": vb} for k, va, vb in _differences(*map(_flatten, configs))]
    graphs = [runs.run_graph(d) for d in (a, b)]
    _structure(result, *graphs)
    for name, run_dir in (("a", a), ("b", b)):
        epochs = [e for e in runs.run_events(run_dir) if e.get("type") == "epoch"]
        result.curves[name] = {"epoch": [e.get("epoch") for e in epochs],
                               **{f: [e.get(f) for e in epochs] for f in CURVE_FIELDS}}
        info = runs.read_run(run_dir)
        result.final[name] = {**{k: v for k, v in info.metrics.items() if k in (*CURVE_FIELDS, "epoch")},
                              "best": info.best, "state": info.state, "seconds": info.seconds}
    if result.same_structure:
        result.weights, result.weights_note = _weight_distances(a, b)
    else:
        result.weights_note = "the structures differ: weights are compared only between runs of the same graph"
    return result


def _read_config(run_dir: Path) -> dict:
    try:
        config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise runs.RunStoreError(f"{run_dir / 'config.json'}: cannot read the run's settings ({exc})") from None
    if not isinstance(config, dict):
        raise runs.RunStoreError(f"{run_dir / 'config.json'}: expected the settings as a JSON object")
    return config


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict) and data:
        flat = {}
        for key, value in data.items():
            flat.update(_flatten(value, f"{prefix}{key}."))
        return flat
    return {prefix[:-1]: data}


def _differences(a: dict, b: dict) -> list[tuple[str, Any, Any]]:
    missing = object()
    keys = list(dict.fromkeys([*a, *b]))
    return [(k, a.get(k), b.get(k)) for k in keys if a.get(k, missing) != b.get(k, missing)]


def _structure(result: Comparison, graph_a: dict, graph_b: dict) -> None:
    nodes_a, nodes_b = ({n["id"]: n for n in g.get("nodes", [])} for g in (graph_a, graph_b))
    result.nodes_removed = [{"id": i, "type": n["type"]} for i, n in nodes_a.items() if i not in nodes_b]
    result.nodes_added = [{"id": i, "type": n["type"]} for i, n in nodes_b.items() if i not in nodes_a]
    for node_id, node in nodes_a.items():
        other = nodes_b.get(node_id)
        if other is None:
            continue
        params = {k: [va, vb] for k, va, vb in _differences(node.get("params", {}), other.get("params", {}))}
        kind = [node["type"], other["type"]] if node["type"] != other["type"] else None
        if params or kind:
            result.nodes_changed.append({"id": node_id, "type": kind, "params": params})
    edges_a, edges_b = ([f"{e['from']} → {e['to']}" for e in g.get("edges", [])] for g in (graph_a, graph_b))
    result.edges_removed = [e for e in edges_a if e not in edges_b]
    result.edges_added = [e for e in edges_b if e not in edges_a]
    blocks_a, blocks_b = (g.get("blocks") or {} for g in (graph_a, graph_b))
    result.blocks_changed = [name for name in dict.fromkeys([*blocks_a, *blocks_b])
                             if blocks_a.get(name) != blocks_b.get(name)]


def _weight_distances(a: Path, b: Path) -> tuple[dict[str, float] | None, str]:
    from ..train.checkpoint_files import checkpoint_weights

    for tag in WEIGHT_TAGS:
        files = [checkpoint_weights(d, tag) for d in (a, b)]
        if all(files):
            break
    else:
        return None, "a run has no checkpoint to compare"
    tensors_a, tensors_b = (_read_tensors(f) for f in files)
    if tensors_a.keys() != tensors_b.keys() or any(tensors_a[k].shape != tensors_b[k].shape for k in tensors_a):
        return None, "the checkpoints hold tensors of other names or shapes (a node's size changed)"
    squares: dict[str, list[float]] = {}  # node id → [Σ (b − a)², Σ a²]
    for key, value in tensors_a.items():
        sums = squares.setdefault(key.split(".")[0], [0.0, 0.0])
        sums[0] += float(((tensors_b[key].astype("float64") - value) ** 2).sum())
        sums[1] += float((value.astype("float64") ** 2).sum())
    distances = {node: math.sqrt(diff / norm) if norm else (0.0 if not diff else math.inf)
                 for node, (diff, norm) in squares.items()}
    return distances, f"{tag} checkpoints"


def _read_tensors(path: Path) -> dict:
    """Float tensors of a checkpoint's weights, by name (integer buffers, e.g. BatchNorm's count, are left out)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        tensors = {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118 (safe_open has no __iter__)
    return {key: t for key, t in tensors.items() if t.dtype.kind == "f"}
