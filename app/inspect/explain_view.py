"""Why this prediction, in the try-it panel: the sample with its Grad-CAM or saliency map laid over it.

The worker's evaluation sends each image sample's maps (engine/inspect/gradcam.py: H × W, 0…1); this
only draws them — the sample in grey, the map in the plasma colours on top, the more opaque the stronger
the evidence, so the pixels the prediction rests on stand out and the rest still shows the sample.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QComboBox, QLabel, QVBoxLayout, QWidget

MAPS = {"Grad-CAM": "gradcam", "saliency": "saliency"}
SIZE = 128
ALPHA = (0.25, 0.6)  # opacity of the map's colour: at 0, and how much more at 1


def overlay(values, shape: list[int], heat) -> QImage:
    """The (C, H, W) sample in grey with the (H, W) map (0…1) in colour over it, as an RGB image."""
    sample = np.asarray(values, dtype=np.float64).reshape(shape).mean(0)
    low, high = sample.min(), sample.max()
    grey = (sample - low) / (high - low if high > low else 1.0)
    heat = np.asarray(heat, dtype=np.float64)
    colours = pg.colormap.get("plasma").map(heat, mode="float")[..., :3]
    alpha = (ALPHA[0] + ALPHA[1] * heat)[..., None]
    rgb = (1 - alpha) * grey[..., None] + alpha * colours
    pixels = np.ascontiguousarray((rgb * 255).round().astype(np.uint8))
    height, width = pixels.shape[:2]
    return QImage(pixels.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


class ExplainView(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.sample: dict | None = None
        self.layer: str | None = None
        self.choice = QComboBox()
        self.choice.addItems(list(MAPS))
        self.choice.currentTextChanged.connect(lambda _: self._draw())
        self.picture = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.picture.setFixedSize(SIZE, SIZE)
        self.caption = QLabel(wordWrap=True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (self.choice, self.picture, self.caption):
            layout.addWidget(widget)
        self.clear()

    def show_sample(self, sample: dict, layer: str | None) -> None:
        """Show the maps of `sample` (hidden when it has none: not an image classifier's)."""
        self.sample, self.layer = sample, layer
        self.setVisible("gradcam" in sample)
        self._draw()

    def _draw(self) -> None:
        if self.sample is None or "gradcam" not in self.sample:
            return
        key = MAPS[self.choice.currentText()]
        image = overlay(self.sample["x"], self.sample["shape"], self.sample[key])
        self.picture.setPixmap(QPixmap.fromImage(image).scaled(SIZE, SIZE, Qt.AspectRatioMode.KeepAspectRatio,
                                                               Qt.TransformationMode.FastTransformation))
        if key == "saliency":
            self.caption.setText("saliency: the pixels the prediction is most sensitive to")
        elif max(map(max, self.sample[key])) > 0:
            self.caption.setText(f"Grad-CAM on {self.layer}: where the evidence for the prediction lies")
        else:  # every map's weighted sum was negative: ReLU leaves nothing
            self.caption.setText(f"Grad-CAM on {self.layer}: no positive evidence there for this prediction")

    def clear(self) -> None:
        self.sample = None
        self.picture.clear()
        self.caption.clear()
        self.hide()
