"""Weights from elsewhere mapped onto a graph by name: a state_dict (`.safetensors`, or a `.pth`/`.pt`
read with torch's `weights_only` loader — never a general unpickler), a Layerloom run folder or
weights file, matched to the graph's own parameter names (`fc1.weight`, `block3.0.conv1.weight`).

    source = read_state_dict("resnet.pth")
    match = match_state(source, graph_shapes(doc), renames=[("model.", "")])
    match.matched      # {graph key: source key}, shapes equal
    match.wrong_shape  # [(graph key, source key, source shape, graph shape)]
    match.missing      # graph keys nothing in the source names
    match.unused       # source keys that found no place in the graph

A source key matches a graph key when they are equal, or equal once the dots of their module paths
are read as underscores — PyTorch's `layer1.0.conv1.weight` is the graph node `layer1_0_conv1`'s
`weight` (node ids cannot hold dots) — or when torch's own layer names the tensor differently
(`LAYER_RENAMES`). Shapes must agree but for leading 1s (a (1, 1, D) class token fills a Parameter of
shape (1, D)). Prefixes a whole checkpoint carries (`module.` from
DistributedDataParallel, `_orig_mod.` from torch.compile) are dropped; `renames` swap other prefixes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import WeightsError

if TYPE_CHECKING:
    import torch

    from .document import GraphDocument

WRAPPER_PREFIXES = ("module.", "_orig_mod.")  # DistributedDataParallel, torch.compile
PTH_SUFFIXES = {".pth", ".pt", ".bin", ".ckpt"}
LAYER_RENAMES = {"in_proj_weight": "qkv.weight", "in_proj_bias": "qkv.bias",  # torch.nn.MultiheadAttention
                 "out_proj.weight": "proj.weight", "out_proj.bias": "proj.bias"}
SINGLE_TENSOR_LEAVES = {"value", "pe"}  # Parameter / Constant nodes, learned position tables
NESTED_STATE_KEYS = ("state_dict", "model_state_dict", "model")  # training scripts' checkpoint layouts


@dataclass
class WeightMatch:
    matched: dict[str, str] = field(default_factory=dict)
    wrong_shape: list[tuple[str, str, tuple, tuple]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)
    shapes: dict[str, tuple] = field(default_factory=dict)  # a matched graph key's own shape

    def lines(self, source: str = "the file") -> list[str]:
        """The report a user reads: what matched, and every tensor that did not, by name."""
        out = [f"{len(self.matched)} tensors matched"]
        out += [f"wrong shape: {key} is {list(have)} in {source}, the graph needs {list(want)} (from {name})"
                for key, name, have, want in self.wrong_shape]
        out += [f"missing: {key} — nothing in {source} names it; it keeps its initial values" for key in self.missing]
        out += [f"unused: {name} — no parameter of the graph has this name" for name in self.unused]
        return out


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The named tensors in `path`: a safetensors file, a run folder (its best weights), or a `.pth`-style
    file read with `torch.load(weights_only=True)`; WeightsError (naming the file) when it holds none."""
    import torch

    from .export.weights import read_weights, resolve_weights

    path = resolve_weights(path)
    if path.suffix.lower() not in PTH_SUFFIXES:
        return read_weights(path)
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # the weights-only unpickler refuses anything but tensors and plain containers
        raise WeightsError(f"{path}: not a state_dict torch can read safely (weights_only): {exc}") from None
    for key in NESTED_STATE_KEYS:
        if isinstance(loaded, dict) and isinstance(loaded.get(key), dict):
            loaded = loaded[key]
            break
    tensors = {str(k): v for k, v in loaded.items() if isinstance(v, torch.Tensor)} if isinstance(loaded, dict) else {}
    if not tensors:
        raise WeightsError(f"{path}: holds no named tensors (expected a state_dict)")
    return tensors


def graph_shapes(doc: GraphDocument) -> dict[str, tuple[int, ...]]:
    """Every parameter and buffer of the compiled `doc` with its shape, by state_dict key."""
    from .compile import compile_graph

    module = compile_graph(doc, with_loss=False).module
    return {key: tuple(tensor.shape) for key, tensor in module.state_dict().items()}


def match_state(source: dict[str, torch.Tensor], shapes: dict[str, tuple[int, ...]],
                renames: list[tuple[str, str]] = ()) -> WeightMatch:
    """Which tensor of `source` fills which graph key of `shapes` (see the module docstring)."""
    names = {_renamed(_unwrapped(key, source), renames): key for key in source}
    by_flat = {}
    for name in names:
        by_flat.setdefault(_flat(name), []).append(name)
    match = WeightMatch()
    used = set()
    for key, want in shapes.items():
        name = next((n for n in _candidates(key, names, by_flat) if n not in used), None)
        if name is None:
            if not key.endswith("num_batches_tracked"):  # a counter, not a weight: nothing to miss
                match.missing.append(key)
            continue
        used.add(name)
        original = names[name]
        have = tuple(source[original].shape)
        if _unbatched(have) == _unbatched(want):
            match.matched[key] = original
            match.shapes[key] = want
        else:
            match.wrong_shape.append((key, original, have, want))
    match.unused = [names[name] for name in names if name not in used]
    return match


def mapped_tensors(source: dict[str, torch.Tensor], match: WeightMatch) -> dict[str, torch.Tensor]:
    """The matched tensors under the graph's names and in its shapes: what the graph's weight file holds."""
    return {key: source[name].reshape(match.shapes[key]) for key, name in match.matched.items()}


def _candidates(key: str, names: dict[str, str], by_flat: dict[str, list[str]]):
    """Source names that may hold graph tensor `key`, best first: the same name, the same module path read
    flat, the name torch's own layer gives it (MultiheadAttention's `in_proj_weight` is the attention
    node's `qkv.weight`), and for a node holding one tensor (a Parameter's `value`, a position table's
    `pe`) the module's lone parameter or its `weight` (`class_token`, `pos.weight`)."""
    if key in names:
        yield key
    yield from _one(by_flat, _flat(key))
    path, _, leaf = key.rpartition(".")
    for theirs, ours in LAYER_RENAMES.items():
        if key.endswith("." + ours):
            yield from _one(by_flat, _flat(key[: -len(ours)] + theirs))
    if leaf in SINGLE_TENSOR_LEAVES and path:
        yield from _one(by_flat, path.replace(".", "_"))
        yield from _one(by_flat, _flat(f"{path}.weight"))


def _one(by_flat: dict[str, list[str]], flat: str):
    found = by_flat.get(flat, [])
    if len(found) == 1:
        yield found[0]


def _unbatched(shape: tuple) -> tuple:
    """A shape without its leading 1s: a (1, 1, D) class token is the Parameter node's (1, D)."""
    shape = tuple(shape)
    while shape and shape[0] == 1:
        shape = shape[1:]
    return shape


def _unwrapped(key: str, source: dict) -> str:
    for prefix in WRAPPER_PREFIXES:
        if all(k.startswith(prefix) for k in source):
            key = key[len(prefix):]
    return key


def _renamed(key: str, renames) -> str:
    for old, new in renames:
        if key.startswith(old):
            return new + key[len(old):]
    return key


def _flat(key: str) -> str:
    """`layer1.0.conv1.weight` → `layer1_0_conv1.weight`: the module path as one node id."""
    path, _, leaf = key.rpartition(".")
    return f"{path.replace('.', '_')}.{leaf}" if path else leaf


