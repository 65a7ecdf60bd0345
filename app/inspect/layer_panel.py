"""Look at a layer: select a node of the graph on screen after (or during) training — its weight and
gradient histograms over the epochs show at once — and press Look: the worker draws what it gives for a
chosen validation sample with the run's newest weights (engine/inspect/feature_maps.py: a conv's feature
maps and first-layer filters, a Linear's weight matrix, an attention node's weights per head), written into
the run's artifacts folder, and this dock shows the pictures.

It listens to the worker's messages itself, for the answers to its own requests only.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from .histogram_view import HistogramView

TITLES = {"feature_maps": "feature maps (each scaled on its own)", "filters": "filters", "weights": "weight matrix",
          "attention": "attention weights (query rows × key columns, one head after another, 0…1)"}
PICTURE_PX = 360


class LayerPanel(QObject):
    def __init__(self, controller):
        super().__init__(controller)
        self.controller, window = controller, controller.window
        self.node: str | None = None
        self.widget = QWidget()
        self.hint = QLabel("Select a node of a trained graph to look at what it does.", wordWrap=True)
        self.sample = QSpinBox(prefix="validation sample ", maximum=10_000)
        self.look = QPushButton("Look", enabled=False, clicked=self.request)
        self.pictures = QVBoxLayout()
        self.histograms = HistogramView()  # the selected node's weights and gradients, epoch by epoch
        row = QHBoxLayout()
        for widget in (self.sample, self.look):
            row.addWidget(widget)
        row.addStretch(1)
        layout = QVBoxLayout(self.widget)
        layout.addWidget(self.hint)
        layout.addLayout(row)
        layout.addWidget(self.histograms)
        layout.addLayout(self.pictures)
        layout.addStretch(1)
        self.dock = QDockWidget("Layer", window)
        self.dock.setObjectName("Layer")
        scroll = QScrollArea(widgetResizable=True)  # its pictures never hold the bottom docks tall
        scroll.setWidget(self.widget)
        self.dock.setWidget(scroll)
        window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.dock)
        window.tabifyDockWidget(controller.results_dock, self.dock)
        window.panels_menu.addAction(self.dock.toggleViewAction())  # every dock has its toggle under Panels
        controller.live_dock.raise_()
        self.request_id = f"{controller.token}:layer"
        window.scene.selectionChanged.connect(self._selected)
        controller.client.message.connect(self._message)

    @property
    def weights(self) -> str | None:
        record = self.controller.record
        return record.checkpoints.get("last") or record.weights if record is not None else None

    def _selected(self) -> None:
        try:
            chosen = self.controller.window.scene.selected_node_ids()
        except RuntimeError:  # the scene is going away with the window
            return
        self.node = chosen[0] if len(chosen) == 1 else None
        record = self.controller.record
        self.histograms.show_node(self.node, record.artifacts if record is not None else [])
        ready = self.node is not None and self.weights is not None
        self.look.setEnabled(ready)
        self.look.setText(f"Look at {self.node}" if self.node else "Look")
        if self.node and not ready:
            self.hint.setText(f"{self.node}: train the graph first — the pictures use a run's weights.")

    def request(self) -> None:
        c = self.controller
        if self.node is None or self.weights is None or c.trained_graph is None:
            return
        self.hint.setText(f"<i>Drawing {self.node} for sample {self.sample.value()}…</i>")
        self.dock.raise_()
        c.client.send(cmd="layer_view", id=self.request_id, graph=c.trained_graph, weights=self.weights,
                      node=self.node, sample=self.sample.value(), run_dir=str(c.record.run_dir),
                      base_dir=c._base_dir())

    def _message(self, message: dict) -> None:
        if message.get("id") != self.request_id:
            return
        if message.get("type") != "layer_view":
            self.hint.setText(f"Cannot show it: {message.get('message', '')}")
            return
        self.show(message)

    def show(self, view: dict) -> None:
        while self.pictures.count():
            item = self.pictures.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.hint.setText(f"<b>{view['node']}</b> on validation sample {view['sample']}"
                          + ("" if view["images"] else ": nothing to draw (no map output, no weight matrix)"))
        for name, path in view["images"].items():
            self.pictures.addWidget(QLabel(TITLES.get(name, name)))
            picture = QLabel()
            picture.setObjectName(name)
            picture.setPixmap(QPixmap(path).scaled(PICTURE_PX, PICTURE_PX, Qt.AspectRatioMode.KeepAspectRatio,
                                                   Qt.TransformationMode.FastTransformation))
            self.pictures.addWidget(picture)


def install_layer_panel(controller) -> LayerPanel:
    controller.layer_panel = LayerPanel(controller)
    return controller.layer_panel
