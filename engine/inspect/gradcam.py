"""Why this prediction: Grad-CAM on a convolutional node and input-gradient saliency, for image classifiers.

Both come from one forward and one backward of the tapped twin (taps.py) on a batch of images (N, C, H, W):
the score of each sample's predicted class (or `target`) is differentiated with respect to the chosen
node's feature maps A (N, K, h, w) and to the input. Grad-CAM weighs each map by its mean gradient,
keeps the positive evidence (ReLU of Σ_k w_k A_k), upsamples it to (H, W) and scales each sample's to 0…1
(Selvaraju et al., 2017); saliency is max over channels of |∂score/∂x|, scaled the same way.
"""

from __future__ import annotations

import torch

from .taps import float_tensors, layer_nodes, tapped


def spatial_nodes(module: torch.nn.Module, x: torch.Tensor) -> list[str]:
    """The nodes whose output is a map (N, K, h, w), in graph order, for the input `x`."""
    with torch.no_grad():
        taps = tapped(module)(x)["taps"]
    return [n.meta["node_id"] for n in layer_nodes(module)
            if (tensors := float_tensors(taps[n.name])) and tensors[0][1].ndim == 4]


def _scaled(maps: torch.Tensor) -> torch.Tensor:
    """Each (H, W) of (N, H, W) scaled to 0…1 (a flat map is 0)."""
    low = maps.amin((1, 2), keepdim=True)
    high = maps.amax((1, 2), keepdim=True)
    return (maps - low) / (high - low).clamp_min(1e-12)


def explain(module: torch.nn.Module, x: torch.Tensor, layer: str | None = None,
            target: torch.Tensor | None = None) -> dict:
    """{"layer", "classes" (N,), "gradcam" (N, H, W), "saliency" (N, H, W)} for images `x` (N, C, H, W) through
    an inference module (compile_graph(with_loss=False)) whose output is class scores (N, classes). `layer`
    is a node with a map output (default: the last one, the usual Grad-CAM choice)."""
    if x.ndim != 4:
        raise ValueError(f"Grad-CAM needs images (N, C, H, W), got a tensor of shape {tuple(x.shape)}")
    maps = spatial_nodes(module, x)
    if not maps:
        raise ValueError("Grad-CAM needs a node whose output is a map (N, C, H, W) — this graph has none")
    layer = layer or maps[-1]
    if layer not in maps:
        raise ValueError(f"{layer} gives no (N, C, H, W) map to explain with — choose one of {', '.join(maps)}")
    name = next(n.name for n in layer_nodes(module) if n.meta["node_id"] == layer)
    x = x.detach().clone().requires_grad_(True)
    result = tapped(module)(x)
    scores, activation = result["outputs"], float_tensors(result["taps"][name])[0][1]
    scores = scores[0] if isinstance(scores, tuple) else scores
    classes = scores.argmax(-1) if target is None else target
    picked = scores.gather(1, classes.view(-1, 1)).sum()
    grad_maps, grad_x = torch.autograd.grad(picked, [activation, x])
    weights = grad_maps.mean((2, 3), keepdim=True)  # (N, K, 1, 1)
    cam = torch.relu((weights * activation).sum(1, keepdim=True))  # (N, 1, h, w)
    cam = torch.nn.functional.interpolate(cam, size=x.shape[2:], mode="bilinear", align_corners=False)[:, 0]
    return {"layer": layer, "classes": classes.detach(), "gradcam": _scaled(cam.detach()),
            "saliency": _scaled(grad_x.detach().abs().amax(1))}
