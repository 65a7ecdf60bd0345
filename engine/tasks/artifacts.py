"""Writing a kind's artifacts: a file under `<run_dir>/artifacts/` and an `artifact` event per item.

Files are named `<tag>-epoch<NNNN>.<png|txt|json>`, so a headless run keeps every epoch's on disk and
the event's `path` (relative to the run folder) finds it. Images are drawn with Pillow. Each file is
renamed into place whole, but not synced to disk: an epoch's pictures are not worth an fsync on the
training thread every epoch (a power cut may lose the last ones; the checkpoints are synced).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..atomic import atomic_write_text

ARTIFACTS_DIR = "artifacts"
MIN_CELL_PX = 32  # small images (8×8 digits) are scaled up to at least this, pixels kept sharp
# Label colours of a scatter plot (tab10)
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf"]


class ArtifactWriter:
    """Writes one epoch's artifacts; `emit(**fields)` turns each into an artifact event."""

    def __init__(self, run_dir: Path, emit: Callable[..., None], epoch: int, step: int):
        self.run_dir, self.emit, self.epoch, self.step = Path(run_dir), emit, epoch, step

    def image(self, tag: str, image: Image.Image) -> None:
        path = self._path(tag, "png")
        image.save(self.run_dir / path)
        self.emit(kind="image", tag=tag, epoch=self.epoch, step=self.step, path=path)

    def text(self, tag: str, text: str) -> None:
        path = self._path(tag, "txt")
        atomic_write_text(self.run_dir / path, text, durable=False)
        self.emit(kind="text", tag=tag, epoch=self.epoch, step=self.step, path=path, text=text)

    def data(self, tag: str, data: Any) -> None:
        path = self._path(tag, "json")
        atomic_write_text(self.run_dir / path, json.dumps(data, allow_nan=False) + "\n", durable=False)
        self.emit(kind="data", tag=tag, epoch=self.epoch, step=self.step, path=path, data=data)

    def _path(self, tag: str, ext: str) -> str:
        (self.run_dir / ARTIFACTS_DIR).mkdir(parents=True, exist_ok=True)
        return f"{ARTIFACTS_DIR}/{tag}-epoch{self.epoch:04d}.{ext}"


def image_grid(images: torch.Tensor, columns: int, value_range: tuple[float, float] | None = None) -> Image.Image:
    """(N, C, H, W) images tiled `columns` wide, grey (C=1) or RGB (C=3; other C: the first channel),
    scaled together from their min..max — or from `value_range`, values beyond it saturating — to
    0..255 so the cells compare."""
    images = images.detach().float().cpu()
    if images.shape[1] != 3:
        images = images[:, :1]
    low, high = (images.min(), images.max()) if value_range is None else map(torch.tensor, value_range)
    images = images.clamp(low, high)
    pixels = ((images - low) / (high - low).clamp_min(1e-8) * 255).round().to(torch.uint8).numpy()
    n, channels, height, width = pixels.shape
    rows = -(-n // columns)
    sheet = np.zeros((rows * (height + 1) + 1, columns * (width + 1) + 1, channels), np.uint8)  # 1 px gaps
    for i, cell in enumerate(pixels):
        top, left = 1 + (i // columns) * (height + 1), 1 + (i % columns) * (width + 1)
        sheet[top:top + height, left:left + width] = cell.transpose(1, 2, 0)
    image = Image.fromarray(sheet[..., 0] if channels == 1 else sheet, "L" if channels == 1 else "RGB")
    zoom = max(1, -(-MIN_CELL_PX // max(height, width)))
    return image.resize((image.width * zoom, image.height * zoom), Image.NEAREST)


def scatter(points: np.ndarray, labels: np.ndarray, size: int = 320) -> Image.Image:
    """(N, 2) points as coloured dots (colour = label) on a white square, axes fitted to the points."""
    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    low, high = points.min(0), points.max(0)
    scaled = (points - low) / np.maximum(high - low, 1e-8) * (size - 20) + 10
    for (px, py), label in zip(scaled, labels, strict=True):
        colour = PALETTE[int(label) % len(PALETTE)]
        draw.ellipse((px - 3, size - py - 3, px + 3, size - py + 3), fill=colour)
    return image
