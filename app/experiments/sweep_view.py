"""A sweep, read from its folder's trials.json (engine/experiments/sweep.py), live while it runs.

The table lists every trial — each swept value, the metric, state, time, why it failed or was pruned —
sortable, and a double click opens the trial's run in the Runs list. The parallel-coordinates plot draws
each finished trial as a line through one axis per swept parameter (scaled between its range's ends, on
a log scale for log ranges) to the metric's axis, coloured by the metric (bright: better), so which
parameter orders the lines is visible at once; beside it the metric against each parameter, and
Optuna's parameter importances. "Apply the best trial to the graph" sets its values on the open graph
as one undoable edit. The view polls the file's modification time (POLL_MS) and redraws when it changes.
"""

from __future__ import annotations

import math
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.commands import SetParamCommand
from app.training.commands import SetTrainingCommand
from app.training.log_axis import LogAxis
from app.training.plot_theme import apply_plot_theme
from engine.experiments.sweep import TRIALS_FILE, read_trials
from engine.experiments.sweep_params import SweepParam, set_training

POLL_MS = 1000
FINISHED = ("complete",)


class SweepView(QWidget):
    run_requested = Signal(object)  # Path of a trial's run folder

    def __init__(self, window, parent=None):
        super().__init__(parent)
        self.window_ = window
        self.folder: Path | None = None
        self.graph_path: Path | None = None  # the swept graph's file: the best trial applies to it only
        self.data: dict | None = None
        self.params: list[SweepParam] = []
        self._stamp = None
        self.header = QLabel(wordWrap=True)
        self.apply_button = QPushButton("Apply the best trial to the graph", clicked=self.apply_best, enabled=False)
        self.apply_button.setToolTip("Set the best trial's values on the open graph (one undoable edit)")
        top = QHBoxLayout()
        top.addWidget(self.header, 1)
        top.addWidget(self.apply_button)

        self.table = QTableWidget()
        self.table.setSortingEnabled(True)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.cellDoubleClicked.connect(self._open_run)
        self.plots = pg.GraphicsLayoutWidget()
        self.parallel = self.plots.addPlot(row=0, col=0, title="parallel coordinates")
        self.importance = self.plots.addPlot(row=0, col=1, title="importance (Optuna fANOVA)")
        self.plots.ci.layout.setColumnStretchFactor(0, 3)
        self.scatters: list[pg.PlotItem] = []
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.plots)
        split.addWidget(self.table)
        split.setSizes([380, 240])
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addLayout(top)
        box.addWidget(split, 1)
        self.timer = QTimer(self, interval=POLL_MS)
        self.timer.timeout.connect(self.reload)

    def set_folder(self, folder: Path | None) -> None:
        self.folder, self._stamp, self.data = folder, None, None
        self.reload()
        self.timer.start() if folder is not None else self.timer.stop()

    def reload(self) -> None:
        """Redraw when trials.json changed since the last look."""
        if self.folder is None:
            return
        try:
            stamp = (self.folder / TRIALS_FILE).stat().st_mtime_ns
        except OSError:
            stamp = None
        if stamp == self._stamp and self.data is not None:
            return
        self._stamp = stamp
        data = read_trials(self.folder)
        if data is None:
            self.header.setText(f"Sweep {self.folder.name}: no trials yet")
            return
        self.data = data
        self.params = [SweepParam.from_dict(p) for p in data["params"]]
        self._fill_header()
        self._fill_table()
        self._draw_parallel()
        self._draw_scatters()
        self._draw_importance()
        apply_plot_theme(self.plots, [self.parallel, self.importance, *self.scatters], self.window_.theme)

    # -- apply ------------------------------------------------------------------------------------------
    def apply_best(self) -> None:
        """The best trial's values on the open graph, as one undo step (a macro of settings and param edits)."""
        best = (self.data or {}).get("best")
        if not best:
            return
        if self.graph_path is not None and self.window_.files.path != self.graph_path:
            self.header.setText(f"<b>Cannot apply:</b> the open graph is not {self.graph_path.name}, the swept one "
                                f"— open it first")
            return
        doc, stack = self.window_.doc, self.window_.editor.stack
        missing = [path for path in best["values"] if path.startswith("nodes.") and path.split(".")[1] not in doc.nodes]
        if missing:
            self.header.setText(f"<b>Cannot apply:</b> the open graph has no node {missing[0].split('.')[1]} "
                                f"({missing[0]}) — it was swept on another graph")
            return
        stack.beginMacro(f"Apply sweep {self.data['name']} trial {best['number']}")
        training = doc.training
        for path, value in best["values"].items():
            if path.startswith("nodes."):
                _, node_id, name = path.split(".", 2)
                if doc.nodes[node_id].params.get(name) != value:
                    stack.push(SetParamCommand(doc, node_id, name, value))
            else:
                key = path.split(".")[1]
                training = set_training(training, path, value)
                stack.push(SetTrainingCommand(doc, key, training[key], path[len("training."):]))
        stack.endMacro()

    # -- the parts ----------------------------------------------------------------------------------------
    def _rows(self, finished: bool = False) -> list[dict]:
        rows = [t for t in self.data["trials"] if t["counted"] or t["state"] == "running"]
        return [t for t in rows if t["state"] in FINISHED and t["value"] is not None] if finished else rows

    def _fill_header(self) -> None:
        d = self.data
        done = sum(1 for t in d["trials"] if t["counted"] and t["state"] not in ("running", "waiting"))
        best = d.get("best")
        text = f"<b>Sweep {d['name']}</b>: {done} of {d['trials_wanted']} trials, {d['direction']} {d['metric']}"
        if best:
            values = ", ".join(f"{_short(k)} = {_fmt(v)}" for k, v in best["values"].items())
            text += f" — best: trial {best['number']}, {d['metric']} {_fmt(best['value'])} ({values})"
        self.header.setText(text)
        self.apply_button.setEnabled(best is not None)

    def _fill_table(self) -> None:
        rows = self._rows()
        columns = ["trial", "state", *(_short(p.path) for p in self.params), self.data["metric"], "seconds", "note"]
        self.table.setSortingEnabled(False)
        self.table.clear()
        self.table.setColumnCount(len(columns))
        self.table.setHorizontalHeaderLabels(columns)
        self.table.setRowCount(len(rows))
        for r, trial in enumerate(rows):
            cells = [trial["number"], trial["state"], *(trial["values"].get(p.path) for p in self.params),
                     trial["value"] if trial["state"] in FINISHED else None, trial["seconds"], trial["message"]]
            for c, value in enumerate(cells):
                item = QTableWidgetItem()
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    item.setData(Qt.ItemDataRole.DisplayRole, float(f"{value:.4g}"))  # sorts as a number
                else:
                    item.setText("" if value is None else str(value))
                item.setData(Qt.ItemDataRole.UserRole, trial["run_dir"])
                self.table.setItem(r, c, item)
        self.table.setSortingEnabled(True)
        self.table.resizeColumnsToContents()

    def _open_run(self, row: int, column: int) -> None:
        run_dir = self.table.item(row, column).data(Qt.ItemDataRole.UserRole)
        if run_dir:
            self.run_requested.emit(Path(run_dir))

    def _draw_parallel(self) -> None:
        plot, rows = self.parallel, self._rows(finished=True)
        plot.clear()
        axes = [*(_short(p.path) for p in self.params), self.data["metric"]]
        plot.getAxis("bottom").setTicks([list(enumerate(axes))])
        plot.getAxis("left").setTicks([[(0, "low"), (1, "high")]])
        plot.setYRange(-0.3, 1.3, padding=0)  # room for each axis's range written at its ends
        plot.setXRange(-0.25, len(axes) - 0.75, padding=0)
        for x in range(len(axes)):
            plot.addItem(pg.InfiniteLine(x, angle=90, pen=pg.mkPen((128, 128, 128), width=1)))
        if not rows:
            return
        metric = [t["value"] for t in rows]
        low, high = min(metric), max(metric)
        better_high = self.data["direction"] == "maximize"
        colours = pg.colormap.get("viridis")
        best = (self.data.get("best") or {}).get("number")
        for trial in sorted(rows, key=lambda t: t["number"] == best):  # the best on top
            ys = [_scaled(p, trial["values"].get(p.path)) for p in self.params]
            ys.append(_between(trial["value"], low, high))
            goodness = ys[-1] if better_high else 1 - ys[-1]
            pen = pg.mkPen(colours.map(goodness, mode="qcolor"), width=4 if trial["number"] == best else 1.5)
            plot.plot(list(range(len(ys))), ys, pen=pen)
        for x, param in enumerate(self.params):  # each axis's range at its ends
            ends = (param.choices[0], param.choices[-1]) if param.kind == "choice" else (param.low, param.high)
            for y, value in zip((0, 1), ends, strict=True):
                label = pg.TextItem(_fmt(value), anchor=(0.5, 1 if y else 0), color=(170, 170, 170))
                label.setPos(x, y)
                plot.addItem(label)
        for y, value in ((0, low), (1, high)):
            label = pg.TextItem(_fmt(value), anchor=(0.5, 1 if y else 0), color=(170, 170, 170))
            label.setPos(len(self.params), y)
            plot.addItem(label)

    def _draw_scatters(self) -> None:
        for plot in self.scatters:
            self.plots.removeItem(plot)
        self.scatters = []
        rows = self._rows(finished=True)
        for col, param in enumerate(self.params):
            plot = self.plots.addPlot(row=1, col=col, title=f"{self.data['metric']} vs {_short(param.path)}",
                                      axisItems={"bottom": LogAxis("bottom")})
            if param.kind == "log":
                plot.setLogMode(x=True, y=False)
            points = [(_plotted(param, t["values"].get(param.path)), t["value"]) for t in rows]
            if points:
                plot.plot(*zip(*points, strict=True), pen=None, symbol="o", symbolSize=7,
                          symbolBrush=(80, 170, 255), symbolPen=None)
            if param.kind == "choice":
                plot.getAxis("bottom").setTicks([[(i, _fmt(v)) for i, v in enumerate(param.choices)]])
            self.scatters.append(plot)

    def _draw_importance(self) -> None:
        plot = self.importance
        plot.clear()
        ranked = self.data.get("importances") or {}
        if not ranked:
            plot.setTitle("importance (Optuna fANOVA): after 3 finished trials")
            return
        plot.setTitle("importance (Optuna fANOVA)")
        names = list(ranked)
        plot.addItem(pg.BarGraphItem(x0=0, y=list(range(len(names))), height=0.6, width=[ranked[n] for n in names],
                                     brush=(255, 170, 0)))
        plot.getAxis("left").setTicks([[(i, _short(n)) for i, n in enumerate(names)]])
        plot.setXRange(0, 1)


def _short(path: str) -> str:
    """`training.optimizer.lr` → `optimizer.lr`, `nodes.fc1.out_features` → `fc1.out_features`."""
    return path.split(".", 1)[1]


def _fmt(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _plotted(param: SweepParam, value):
    """Where a value sits on a scatter's x axis: a choice at its index."""
    return param.choices.index(value) if param.kind == "choice" and value in param.choices else value


def _scaled(param: SweepParam, value) -> float:
    """A value's height on its parallel-coordinates axis: 0 at the range's low end, 1 at its high end."""
    if param.kind == "choice":
        index = param.choices.index(value) if value in param.choices else 0
        return index / max(1, len(param.choices) - 1)
    if param.kind == "log":
        return _between(math.log(value), math.log(param.low), math.log(param.high))
    return _between(value, param.low, param.high)


def _between(value: float, low: float, high: float) -> float:
    return 0.5 if high == low else (value - low) / (high - low)
