"""Pooling that ONNX can carry whatever the sizes."""

from __future__ import annotations

import torch
from torch import nn


class AdaptiveAvgPool2d(nn.AdaptiveAvgPool2d):
    """torch's adaptive average pooling, which the ONNX exporter refuses when the output size does not
    divide the input's H and W. Such an export writes the same means as two matrix products instead,
    `rows @ x @ columns`, each matrix averaging the windows torch averages; training runs torch's own."""

    def __init__(self, output_size: int, height: int | None, width: int | None):
        super().__init__(output_size)
        self.height, self.width = height, width

    def forward(self, x):
        size = self.output_size
        if not torch.onnx.is_in_onnx_export() or None in (self.height, self.width) or (
                self.height % size == 0 and self.width % size == 0):
            return super().forward(x)
        rows = _window_means(self.height, size, x.dtype)
        return rows @ x @ _window_means(self.width, size, x.dtype).T


def _window_means(length: int, windows: int, dtype: torch.dtype) -> torch.Tensor:
    """(windows, length): row i averages torch's i-th adaptive window, [⌊i·L/n⌋, ⌈(i+1)·L/n⌉)."""
    matrix = torch.zeros(windows, length, dtype=dtype)
    for i in range(windows):
        start, end = i * length // windows, -(-(i + 1) * length // windows)
        matrix[i, start:end] = 1 / (end - start)
    return matrix
