"""A data sample as a picture: what the "Try it" panel and the dataset preview show."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage


def sample_image(values, shape: list[int]) -> QImage | None:
    """A (1, H, W) or (3, H, W) sample as an 8-bit grey or RGB image, None for other shapes."""
    if len(shape) != 3 or shape[0] not in (1, 3):
        return None
    array = np.asarray(values, dtype=np.float64).reshape(shape)
    low, high = float(array.min()), float(array.max())
    scaled = ((array - low) / (high - low if high > low else 1.0) * 255).astype(np.uint8)
    if shape[0] == 1:
        pixels = np.ascontiguousarray(scaled[0])
        image = QImage(pixels.data, shape[2], shape[1], shape[2], QImage.Format.Format_Grayscale8)
    else:
        pixels = np.ascontiguousarray(scaled.transpose(1, 2, 0))
        image = QImage(pixels.data, shape[2], shape[1], 3 * shape[2], QImage.Format.Format_RGB888)
    return image.copy()  # own the pixels: `pixels` is freed when this function returns
