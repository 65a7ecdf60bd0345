"""Training → Profile's answer: each node's measured time and memory, beside the closed-form estimates,
and the canvas coloured by either (a toggle, and a legend from the cheapest to the dearest node).

The numbers are profile.json's (engine/inspect/profile.py), measured by the worker over a few training
steps; the colour is a halo around each node card (marks.py), so the node's own colours stay readable.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.stats import format_bytes

from .marks import NodeMarks

COLUMNS = ("node", "forward", "backward", "memory (measured)", "memory (estimated)", "time (estimated)")
MODES = {"off": None, "time": "time", "memory": "memory"}


def measured(record: dict | None) -> dict[str, tuple[float, int]]:
    """{node: (forward + backward seconds, activation bytes)} of a profile.json record ({} for none): what the
    canvas is coloured by and what the Analysis dock lists beside its estimates."""
    if record is None:
        return {}
    return {n: (v["forward_s"] + v["backward_s"], v["activation_bytes"]) for n, v in record["nodes"].items()}


def _ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1e3:.3f} ms"


class ProfilePanel(QWidget):
    node_requested = Signal(str)

    def __init__(self, scene, parent=None):
        super().__init__(parent)
        self.marks = NodeMarks(scene, "profile", "halo")
        self.colormap = pg.colormap.get("plasma")
        self.record: dict | None = None
        self.mode = QComboBox()
        self.mode.addItems(list(MODES))
        self.mode.setCurrentText("time")
        self.mode.currentTextChanged.connect(lambda _: self.colour())
        self.legend = QLabel()
        self.summary = QLabel("Training → Profile measures each node's time and memory over a few steps.",
                              wordWrap=True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSortingEnabled(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.cellClicked.connect(lambda row, _: self.node_requested.emit(self.table.item(row, 0).text()))
        top = QHBoxLayout()
        top.addWidget(QLabel("Colour nodes by"))
        top.addWidget(self.mode)
        top.addWidget(self.legend, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)

    def show_profile(self, record: dict) -> None:
        self.record = record
        nodes = record["nodes"]
        self.summary.setText(f"{record['steps']} steps of batch {record['batch_size']} on {record['device']}: "
                             f"{record['step_s'] * 1e3:.2f} ms a step, run node by node")
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(nodes))
        for row, (node_id, n) in enumerate(nodes.items()):
            estimated = n.get("estimated_activation_bytes")
            cells = (node_id, _ms(n["forward_s"]), _ms(n["backward_s"]), format_bytes(n["activation_bytes"]),
                     format_bytes(estimated) if estimated is not None else "—", _ms(n.get("estimated_s")))
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                self.table.setItem(row, column, item)
        self.table.setSortingEnabled(True)
        self.colour()

    def values(self) -> dict[str, float]:
        """What the canvas is coloured by: seconds (forward + backward) or measured bytes, per node."""
        if MODES[self.mode.currentText()] is None:
            return {}
        column = 0 if self.mode.currentText() == "time" else 1
        return {n: float(pair[column]) for n, pair in measured(self.record).items()}

    def colour(self) -> None:
        self.marks.clear()
        values = self.values()
        if not values:
            self.legend.clear()
            return
        low, high = min(values.values()), max(values.values())
        time = self.mode.currentText() == "time"
        label = (lambda v: _ms(v)) if time else (lambda v: format_bytes(int(v)))
        for node_id, value in values.items():
            fraction = (value - low) / (high - low) if high > low else 1.0
            self.marks.set(node_id, label(value), self.colormap.map(fraction, mode="qcolor").name())
        stops = [self.colormap.map(f, mode="qcolor").name() for f in (0.0, 0.5, 1.0)]
        self.legend.setText(f"<span style='color:{stops[0]}'>■</span> {label(low)} … "
                            f"<span style='color:{stops[1]}'>■</span> … "
                            f"<span style='color:{stops[2]}'>■</span> {label(high)}")

    def clear(self) -> None:
        self.record = None
        self.marks.clear()
        self.table.setRowCount(0)
        self.legend.clear()
