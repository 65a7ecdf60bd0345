"""Reconstruction (an autoencoder: a graph without a Target that rebuilds its Input).

Each epoch it measures `reconstruction_error`, the mean squared difference between the validation
sample and its reconstruction, and shows the first GRID inputs beside their reconstructions: a PNG
(inputs in the top row, reconstructions below) for images, the values for anything else. For images
with labels it also draws the bottleneck — the narrowest layer's output — projected on its first two
principal components (PCA), one dot per sample coloured by its label.
"""

from __future__ import annotations

import numpy as np
import torch

from .artifacts import image_grid, scatter
from .base import Sample, TaskKind, predictions

GRID = 8  # samples shown with their reconstructions
PAIR_COLUMNS = 4  # per row: a row of inputs, then the row of their reconstructions (a squarish picture)
VALUES = 4  # vector samples written out as values


class Reconstruction(TaskKind):
    name = "reconstruction"

    def metrics(self, setup, sample: Sample) -> dict[str, float]:
        return {"reconstruction_error": float((predictions(setup, sample) - sample.x.float()).pow(2).mean())}

    def artifacts(self, setup, sample: Sample, out) -> None:
        codes, rebuilt = bottleneck(setup, sample)
        x = sample.x.float()
        if x.ndim != 4:
            out.data("reconstructions", {"inputs": x[:VALUES].tolist(), "reconstructions": rebuilt[:VALUES].tolist()})
            return
        n = min(GRID, len(x))
        rows = [part[i:i + PAIR_COLUMNS] for i in range(0, n, PAIR_COLUMNS) for part in (x, rebuilt)]
        out.image("reconstructions", image_grid(torch.cat(rows), PAIR_COLUMNS))
        if setup.data.class_names and codes is not None and len(x) > 2:
            out.image("bottleneck_pca", scatter(pca_2d(codes), sample.y.reshape(len(x), -1)[:, 0].cpu().numpy()))


def bottleneck(setup, sample: Sample) -> tuple[torch.Tensor | None, torch.Tensor]:
    """The narrowest node output below the input's size, flattened per sample ((N, K), or None when no
    layer is narrower), and the reconstruction."""
    outputs: dict[str, torch.Tensor] = {}
    module = setup.compiled.module
    hooks = [child.register_forward_hook(lambda _m, _a, result, name=name: outputs.__setitem__(name, result))
             for name, child in module.named_children()]
    try:
        rebuilt = predictions(setup, sample)
    finally:
        for hook in hooks:
            hook.remove()
    n, size = len(sample.x), sample.x[0].numel()
    flat = [t.detach().float().reshape(n, -1) for t in outputs.values()
            if isinstance(t, torch.Tensor) and t.is_floating_point() and len(t) == n]
    narrower = [t for t in flat if t.shape[1] < size]
    return min(narrower, key=lambda t: t.shape[1]) if narrower else None, rebuilt


def pca_2d(codes: torch.Tensor) -> np.ndarray:
    """(N, K) codes on their first two principal components, (N, 2) (a zero second one when K = 1)."""
    centred = codes - codes.mean(0)
    _, _, v = torch.linalg.svd(centred, full_matrices=False)
    points = centred @ v[:2].T
    if points.shape[1] == 1:
        points = torch.cat([points, torch.zeros_like(points)], 1)
    return points.cpu().numpy()
