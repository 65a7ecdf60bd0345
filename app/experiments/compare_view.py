"""Training ▸ Compare runs…: two runs of the open graph side by side (engine/experiments/compare.py).

Left, what differed: every resolved setting, then the structure (nodes added, removed, changed; wires;
blocks) — "Show on canvas" draws that on the open graph, as halos with what changed (or, for the same
structure, a heat of how far each node's weights moved), until the dialog closes. Right, the two runs' curves
overlaid (validation loss and accuracy per epoch), their final metrics, and for the same structure a
bar per node of how far its weights moved from A to B (relative L2), coloured from cool to hot, so the
nodes where the two trainings diverged stand out. Reading two run folders needs no torch.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.inspect.marks import NodeMarks
from app.training.plot_theme import apply_plot_theme
from engine.errors import LayerloomError
from engine.experiments.compare import Comparison, compare_runs
from engine.runs import RunInfo

COLOURS = {"a": (80, 170, 255), "b": (255, 150, 60)}
METRICS = ("train_loss", "val_loss", "train_accuracy", "val_accuracy")


class CompareDialog(QDialog):
    def __init__(self, window, runs: list[RunInfo], pair: tuple[Path, Path] | None = None):
        super().__init__(window)
        self.setWindowTitle("Compare runs")
        self.resize(1100, 680)
        self.window_, self.runs = window, runs
        self.result: Comparison | None = None
        self.choices = [QComboBox(), QComboBox()]
        for combo in self.choices:
            for run in runs:
                combo.addItem(f"{run.label} · {run.date} · {run.state} · {run.best_text()}", str(run.path))
        picked = pair or tuple(r.path for r in runs[-2:])
        for combo, path in zip(self.choices, picked, strict=False):
            combo.setCurrentIndex(max(0, combo.findData(str(path))))
            combo.currentIndexChanged.connect(self.refresh)
        top = QHBoxLayout()
        for name, combo in zip("AB", self.choices, strict=True):
            top.addWidget(QLabel(f"<b style='color: rgb{COLOURS[name.lower()]}'>{name}</b>"))
            top.addWidget(combo, 1)

        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["what", "A", "B"])
        self.tree.setColumnWidth(0, 220)
        self.show_button = QPushButton("Show on canvas", clicked=self.show_on_canvas)
        self.show_button.setToolTip("Draw on the open graph what differs between the two runs (or, for the same "
                                    "structure, how far each node's weights moved) and select those nodes")
        left = QWidget()
        left_box = QVBoxLayout(left)
        left_box.setContentsMargins(0, 0, 0, 0)
        left_box.addWidget(self.tree, 1)
        left_box.addWidget(self.show_button)

        self.plots = pg.GraphicsLayoutWidget()
        self.loss_plot = self.plots.addPlot(title="loss per epoch")
        self.accuracy_plot = self.plots.addPlot(title="accuracy per epoch")
        self.plots.nextRow()
        self.weights_plot = self.plots.addPlot(title="weights moved A → B (relative L2)", colspan=2)
        for plot in (self.loss_plot, self.accuracy_plot):
            plot.addLegend(offset=(-5, 5))
            plot.setLabel("bottom", "epoch")
        apply_plot_theme(self.plots, [self.loss_plot, self.accuracy_plot, self.weights_plot], window.theme)
        self.metrics = QTableWidget(len(METRICS), 2)
        self.metrics.setHorizontalHeaderLabels(["A", "B"])
        self.metrics.setVerticalHeaderLabels(list(METRICS))
        self.metrics.setMaximumHeight(150)
        self.note = QLabel(wordWrap=True)
        right = QWidget()
        grid = QGridLayout(right)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(self.plots, 0, 0)
        grid.addWidget(self.metrics, 1, 0)
        grid.addWidget(self.note, 2, 0)

        split = QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([420, 680])
        box = QVBoxLayout(self)
        box.addLayout(top)
        box.addWidget(split, 1)
        self.refresh()

    def refresh(self) -> None:
        a, b = (Path(combo.currentData()) for combo in self.choices)
        try:
            self.result = compare_runs(a, b)
        except LayerloomError as exc:
            self.result = None
            self.tree.clear()
            self.note.setText(f"<b>Cannot compare:</b> {exc}")
            return
        self._fill_tree(self.result)
        self._plot_curves(self.result)
        self._fill_metrics(self.result)
        self._plot_weights(self.result)

    def changed_nodes(self) -> list[str]:
        r = self.result
        if r is None:
            return []
        return [n["id"] for n in (*r.nodes_changed, *r.nodes_added, *r.nodes_removed)]

    def show_on_canvas(self) -> None:
        """Draw the difference on the graph: a halo on each node that differs (green: only in B, red: only in
        A, amber: changed, with what changed) — or, for the same structure, a heat of how far each node's
        weights moved — and select those nodes."""
        marks = self.canvas_marks()
        marks.clear()
        for node_id, (text, colour) in canvas_diff(self.result).items():
            marks.set(node_id, text, colour)
        present = [node for node in self.changed_nodes() if node in self.window_.doc.nodes]
        self.window_.scene.select_nodes(present)
        if present:
            self.window_.view.center_on_node(present[0])

    def canvas_marks(self) -> NodeMarks:
        return NodeMarks(self.window_.scene, "compare", "halo")

    def done(self, result: int) -> None:
        self.canvas_marks().clear()  # the diff belongs to this comparison: it goes when the dialog does
        super().done(result)

    # -- the parts ----------------------------------------------------------------------------------
    def _fill_tree(self, r: Comparison) -> None:
        self.tree.clear()
        settings = QTreeWidgetItem(self.tree, [f"settings that differ ({len(r.settings)})"])
        for row in r.settings:
            QTreeWidgetItem(settings, [row["key"], _shown(row["a"]), _shown(row["b"])])
        structure = QTreeWidgetItem(self.tree, ["structure"])
        for node in r.nodes_added:
            QTreeWidgetItem(structure, [f"+ {node['id']}", "—", node["type"]])
        for node in r.nodes_removed:
            QTreeWidgetItem(structure, [f"− {node['id']}", node["type"], "—"])
        for node in r.nodes_changed:
            if node["type"]:
                QTreeWidgetItem(structure, [f"~ {node['id']} type", *node["type"]])
            for name, (va, vb) in node["params"].items():
                QTreeWidgetItem(structure, [f"~ {node['id']}.{name}", _shown(va), _shown(vb)])
        for edge in r.edges_added:
            QTreeWidgetItem(structure, ["+ wire", "—", edge])
        for edge in r.edges_removed:
            QTreeWidgetItem(structure, ["− wire", edge, "—"])
        for name in r.blocks_changed:
            QTreeWidgetItem(structure, [f"~ block {name}", "", ""])
        if not structure.childCount():
            structure.setText(0, "structure: the same")
        self.tree.expandAll()
        self.show_button.setEnabled(bool(canvas_diff(r)))

    def _plot_curves(self, r: Comparison) -> None:
        for plot, fields in ((self.loss_plot, ("train_loss", "val_loss")),
                             (self.accuracy_plot, ("train_accuracy", "val_accuracy"))):
            plot.clear()
            for run in ("a", "b"):
                curves = r.curves[run]
                for name in fields:
                    points = [(e, v) for e, v in zip(curves["epoch"], curves[name], strict=True) if v is not None]
                    if points:
                        style = Qt.PenStyle.SolidLine if name.startswith("val") else Qt.PenStyle.DotLine
                        plot.plot(*zip(*points, strict=True), pen=pg.mkPen(COLOURS[run], width=2, style=style),
                                  symbol="o", symbolSize=5, symbolBrush=COLOURS[run], symbolPen=None,
                                  name=f"{run.upper()} {name}")

    def _fill_metrics(self, r: Comparison) -> None:
        for row, name in enumerate(METRICS):
            for column, run in enumerate(("a", "b")):
                value = r.final[run].get(name)
                text = "—" if value is None else (f"{value:.2%}" if "accuracy" in name else f"{value:.4g}")
                self.metrics.setItem(row, column, QTableWidgetItem(text))

    def _plot_weights(self, r: Comparison) -> None:
        self.weights_plot.clear()
        if r.weights is None:
            self.note.setText(f"Weights not compared: {r.weights_note}.")
            return
        names = list(r.weights)
        values = [r.weights[n] for n in names]
        top = max(values) or 1.0
        brushes = [pg.mkBrush(pg.colormap.get("inferno").map(0.25 + 0.7 * v / top, mode="qcolor")) for v in values]
        self.weights_plot.addItem(pg.BarGraphItem(x=list(range(len(names))), height=values, width=0.7,
                                                  brushes=brushes))
        self.weights_plot.getAxis("bottom").setTicks([list(enumerate(names))])
        most = max(names, key=r.weights.__getitem__)
        self.note.setText(f"Weights compared from the {r.weights_note}: {most} moved most "
                          f"({r.weights[most]:.3g} of its norm in A).")


DIFF_COLOURS = {"added": "#3fb950", "removed": "#f85149", "changed": "#d29922"}


def canvas_diff(result: Comparison | None) -> dict[str, tuple[str, str]]:
    """node id → (label, colour) for the canvas: what differs, or with the same structure how far the node's
    weights moved (relative L2, coloured cool to hot against the largest move)."""
    if result is None:
        return {}
    marks = {n["id"]: ("only in B", DIFF_COLOURS["added"]) for n in result.nodes_added}
    marks |= {n["id"]: ("only in A", DIFF_COLOURS["removed"]) for n in result.nodes_removed}
    for node in result.nodes_changed:
        what = (f"{node['type'][0]} → {node['type'][1]}" if node["type"] else
                ", ".join(f"{name} {_shown(a)} → {_shown(b)}" for name, (a, b) in node["params"].items()))
        marks[node["id"]] = (what, DIFF_COLOURS["changed"])
    if not marks and result.weights:
        top = max(result.weights.values()) or 1.0
        for node_id, moved in result.weights.items():
            heat = moved / top
            colour = pg.mkColor(int(60 + 195 * heat), int(120 * (1 - heat) + 60), int(220 * (1 - heat) + 30))
            marks[node_id] = (f"moved {moved:.3g}", colour.name())
    return marks


def _shown(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)
