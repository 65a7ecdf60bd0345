"""Look at a layer: what a node gives for one sample, and the weights it learned, as pictures.

`layer_view(module, x, node)` for one input sample x (1, …): a node whose output is a map (1, K, h, w) shows
its K feature maps, each scaled to 0…1 on its own (so a weak map is as readable as a strong one); a
convolution also shows its filters (out, in, kh, kw) — the first input channel of each, or RGB for an RGB
first layer; a Linear shows its weight matrix (out, in); an attention node its weights for the sample
(heads, T, S), the heads side by side (attention.py). `layer_images` draws them as PNG-ready grids
(engine/tasks/artifacts.image_grid), which the worker writes into the run's artifacts folder.
"""

from __future__ import annotations

import torch
from PIL import Image

from ..tasks.artifacts import image_grid
from .attention import attention_map, attention_nodes
from .taps import float_tensors, layer_nodes, tapped, unwrap

GRID_COLUMNS = 8


def _scaled(maps: torch.Tensor) -> torch.Tensor:
    """Each map of (K, h, w) scaled to 0…1 on its own (a flat map is 0)."""
    flat = maps.reshape(len(maps), -1)
    low, high = flat.amin(1)[:, None, None], flat.amax(1)[:, None, None]
    return (maps - low) / (high - low).clamp_min(1e-12)


def layer_view(module: torch.nn.Module, x: torch.Tensor, node: str) -> dict:
    """{"node", "feature_maps" (K, h, w) 0…1 or None, "filters" (out, c, kh, kw) or None, "weights" (out, in) or
    None, "attention" (heads, T, S) or None} for the node `node` on the one sample `x` (1, …) through an inference
    module."""
    nodes = {n.meta["node_id"]: n for n in layer_nodes(module)}
    if node not in nodes:
        raise ValueError(f"no node {node!r} in the compiled graph — choose one of {', '.join(nodes)}")
    with torch.no_grad():
        taps = tapped(module)(x)["taps"]
    tensors = float_tensors(taps[nodes[node].name])
    output = tensors[0][1] if tensors else None
    maps = _scaled(output[0].float()) if output is not None and output.ndim == 4 else None
    owner = unwrap(module).get_submodule(nodes[node].target) if nodes[node].op == "call_module" else None
    weight = getattr(owner, "weight", None)
    weight = weight.detach().float() if isinstance(weight, torch.Tensor) else None
    return {"node": node, "feature_maps": maps,
            "filters": weight if weight is not None and weight.ndim == 4 else None,
            "weights": weight if weight is not None and weight.ndim == 2 else None,
            "attention": attention_map(module, (x,), node) if node in attention_nodes(module) else None}


def layer_images(view: dict) -> dict[str, Image.Image]:
    """The view's pictures by name: "feature_maps", "filters", "weights" (those it has)."""
    images = {}
    if view["feature_maps"] is not None:
        images["feature_maps"] = image_grid(view["feature_maps"][:, None], GRID_COLUMNS, (0.0, 1.0))
    if view["filters"] is not None:
        filters = view["filters"]
        shown = filters if filters.shape[1] == 3 else filters[:, :1]
        images["filters"] = image_grid(torch.stack([_scaled(f) for f in shown]), GRID_COLUMNS, (0.0, 1.0))
    if view["weights"] is not None:
        images["weights"] = image_grid(view["weights"][None, None], 1)
    if view["attention"] is not None:  # (heads, T, S): the heads side by side, on one 0…1 scale
        images["attention"] = image_grid(view["attention"][:, None], len(view["attention"]), (0.0, 1.0))
    return images


def layer_pictures(doc, weights: str, node: str, sample: int, out_dir, base_dir=None) -> dict:
    """Look at `node` of the trained graph `doc` (its `weights`) on validation sample `sample`: the pictures
    written as `out_dir/layer-<node>-<name>.png`; returns {"node", "sample", "images": {name: path}}."""
    from pathlib import Path

    from ..compile import compile_graph
    from ..config import TrainingConfig
    from ..data import load_dataset
    from ..export.weights import load_weights

    config = TrainingConfig.from_dict(doc.training)
    compiled = compile_graph(doc, with_loss=False)
    load_weights(compiled.module, weights)
    x = load_dataset(config.dataset, config.seed, base_dir).val.tensors[0]
    if not 0 <= sample < len(x):
        raise ValueError(f"sample {sample} is not in the validation split (0…{len(x) - 1})")
    images = layer_images(layer_view(compiled.module.eval(), x[sample:sample + 1], node))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, image in images.items():
        paths[name] = str(out / f"layer-{node}-{name}.png")
        image.save(paths[name])
    return {"node": node, "sample": sample, "images": paths}
