"""The first few samples of the chosen dataset, under the training settings.

Image-shaped samples ((1, H, W) or (3, H, W)) become thumbnails captioned with their label; text
samples show the decoded characters; anything else shows its first values. The worker sends the
samples with the dataset's description — the GUI never loads data itself.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QGridLayout, QLabel, QVBoxLayout, QWidget

from .images import sample_image

THUMBNAIL = 48  # px
COLUMNS = 3
VALUES_SHOWN = 6
TEXT_CHARS = 40


class SamplePreview(QWidget):
    def __init__(self, parent=None, columns: int = COLUMNS):
        super().__init__(parent)
        self.columns = columns
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.entries: list[QWidget] = []  # one per sample shown

    def show_samples(self, samples: list[dict]) -> None:
        self.clear()
        for index, sample in enumerate(samples):
            image = sample_image(sample["x"], sample["shape"])
            entry = _thumbnail(image, sample["label"]) if image is not None else _text_line(sample)
            if image is not None:
                self.grid.addWidget(entry, index // self.columns, index % self.columns)
            else:
                self.grid.addWidget(entry, index, 0, 1, self.columns)
            self.entries.append(entry)

    def clear(self) -> None:
        for entry in self.entries:
            self.grid.removeWidget(entry)
            entry.deleteLater()
        self.entries = []


def _thumbnail(image, label: str) -> QWidget:
    box = QWidget()
    picture = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
    picture.setPixmap(QPixmap.fromImage(image).scaled(THUMBNAIL, THUMBNAIL, Qt.AspectRatioMode.KeepAspectRatio,
                                                      Qt.TransformationMode.FastTransformation))
    caption = QLabel(label, alignment=Qt.AlignmentFlag.AlignCenter)
    layout = QVBoxLayout(box)
    layout.setContentsMargins(2, 2, 2, 2)
    layout.addWidget(picture)
    layout.addWidget(caption)
    box.setToolTip(f"label: {label}")
    return box


def _text_line(sample: dict) -> QLabel:
    if sample.get("text") is not None:
        shown = _printable(sample["text"])
        line = f"“{shown[:TEXT_CHARS]}{'…' if len(shown) > TEXT_CHARS else ''}”"
    else:
        values = sample["x"][:VALUES_SHOWN]
        line = "[" + ", ".join(f"{v:.3g}" for v in values) + (", …]" if len(sample["x"]) > VALUES_SHOWN else "]")
        line += f" → {sample['label']}"
    label = QLabel(line, wordWrap=True)
    label.setToolTip(f"shape {tuple(sample['shape'])}, label: {_printable(sample['label'])}")
    return label


def _printable(text: str) -> str:
    return text.replace("\n", "⏎")
