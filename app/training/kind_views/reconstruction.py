"""Autoencoder: inputs above their reconstructions, and the bottleneck's 2-D projection (PCA).

Both are the newest epoch's PNGs (engine/tasks/reconstruction.py); vector data have no picture, so
their first samples' values are listed beside their reconstructions instead. The metric plot is the
reconstruction error.
"""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout

from ..runs import RunRecord
from .base import KindPanel, KindView
from .widgets import Picture, file_of, latest

VALUES_SHOWN = 6


class ReconstructionPanel(KindPanel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.heading = QLabel("<i>Inputs and their reconstructions appear at the end of each epoch.</i>",
                              wordWrap=True)
        self.pairs = Picture()
        self.pairs.setToolTip("Rows of validation inputs, each above what the autoencoder rebuilt from them")
        self.pca = Picture()
        self.pca.setToolTip("The bottleneck of each validation sample on its first two principal components, "
                            "coloured by label")
        self.pca_caption = QLabel("<b>Bottleneck (PCA)</b>")
        self.values = QLabel(wordWrap=True)
        pca = QVBoxLayout()
        pca.addWidget(self.pca_caption)
        pca.addWidget(self.pca, 1)
        body = QHBoxLayout()
        body.addWidget(self.pairs, 2)
        body.addLayout(pca, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.heading)
        layout.addLayout(body, 1)
        layout.addWidget(self.values)
        self.pca.hide()
        self.pca_caption.hide()

    def show_record(self, record: RunRecord) -> None:
        pairs, pca = latest(record, "reconstructions"), latest(record, "bottleneck_pca")
        if pairs is None:
            self.pairs.set_file(None)
            self.values.clear()
        elif pairs["kind"] == "image":
            self.heading.setText(f"<b>Inputs</b>, each row above its <b>reconstructions</b> · epoch "
                                 f"{pairs['epoch']}")
            self.pairs.set_file(file_of(record, pairs))
        else:
            self.heading.setText(f"<b>Inputs → reconstructions</b> · epoch {pairs['epoch']}")
            self.values.setText("<br>".join(
                f"{_values(x)} → {_values(r)}" for x, r in zip(pairs["data"]["inputs"],
                                                              pairs["data"]["reconstructions"], strict=True)))
        self.pairs.setVisible(pairs is not None and pairs["kind"] == "image")
        for widget in (self.pca, self.pca_caption):
            widget.setVisible(pca is not None)
        self.pca.set_file(file_of(record, pca) if pca is not None else None)


def _values(values) -> str:
    flat = _flatten(values)
    return "[" + ", ".join(f"{v:.3g}" for v in flat[:VALUES_SHOWN]) + (", …]" if len(flat) > VALUES_SHOWN else "]")


def _flatten(values) -> list[float]:
    return [v for item in values for v in _flatten(item)] if isinstance(values, list) else [values]


class ReconstructionView(KindView):
    name = "reconstruction"
    title = "Autoencoder"
    metric_title = "Reconstruction error"
    metrics = (("reconstruction_error", "validation MSE"),)
    results_note = ("<i>An autoencoder is judged by its reconstructions: the Live view shows inputs beside what "
                    "it rebuilt, at every epoch.</i>")

    def panel(self) -> KindPanel:
        return ReconstructionPanel()
