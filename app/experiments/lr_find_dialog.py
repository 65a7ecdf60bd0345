"""Training ▸ Find learning rate…: the range test of `layerloom lr-find` plotted as it runs.

The graph on screen (unsaved edits included) is written to a scratch file and tested by `layerloom
lr-find --stream` in a process of its own; each step's loss arrives as a JSON line and is drawn at once:
the smoothed loss against the learning rate on a log axis, the raw losses faint behind it. The
suggestion is marked with a vertical line and its reason; "Use this rate" sets training.optimizer.lr
as one undoable edit. The test trains a copy: the graph's weights and runs are not touched.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

from app.training.commands import SetTrainingCommand
from app.training.log_axis import LogAxis
from app.training.plot_theme import apply_plot_theme
from engine.config import TrainingConfig
from engine.errors import ConfigError
from engine.fileformat import to_dict

DEFAULT_STEPS = 200


class LrFindDialog(QDialog):
    def __init__(self, window, base_dir: str | None):
        super().__init__(window)
        self.setWindowTitle("Find learning rate")
        self.resize(760, 520)
        self.window_, self.doc, self.base_dir = window, window.doc, base_dir
        self.process = None
        self.scratch: Path | None = None
        self.lrs: list[float] = []
        self.losses: list[float] = []
        self.smoothed: list[float] = []
        self.suggestion: float | None = None

        self.steps = QSpinBox(minimum=10, maximum=5000, value=DEFAULT_STEPS, suffix=" steps")
        self.networks = QComboBox()
        self.networks.addItems(["both", "generator", "discriminator"])
        self.networks.setToolTip("A GAN's optimizers the rate ramps on; the other keeps its learning rate")
        self.start_button = QPushButton("Start", clicked=self.start)
        self.stop_button = QPushButton("Stop", clicked=self.stop, enabled=False)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Exponential ramp from 1e-7 to 10 over"))
        controls.addWidget(self.steps)
        self.networks_label = QLabel("networks")
        controls.addWidget(self.networks_label)
        controls.addWidget(self.networks)
        controls.addStretch(1)
        controls.addWidget(self.start_button)
        controls.addWidget(self.stop_button)

        self.plot_widget = pg.PlotWidget(axisItems={"bottom": LogAxis("bottom")})
        self.plot = self.plot_widget.getPlotItem()
        self.plot.setLogMode(x=True, y=False)
        self.plot.setLabel("bottom", "learning rate")
        self.plot.setLabel("left", "loss")
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.addLegend(offset=(-10, 10))
        self.raw_curve = self.plot.plot([], [], pen=pg.mkPen((140, 140, 140, 110)), name="loss")
        self.smooth_curve = self.plot.plot([], [], pen=pg.mkPen((80, 170, 255), width=2), name="smoothed loss")
        self.marker = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen((255, 170, 0), width=2,
                                                                             style=Qt.PenStyle.DashLine))
        self.marker_label = pg.TextItem(color=(255, 170, 0), anchor=(0, 1))
        self.marker.hide()
        self.marker_label.hide()
        self.plot.addItem(self.marker, ignoreBounds=True)
        self.plot.addItem(self.marker_label, ignoreBounds=True)
        apply_plot_theme(self.plot_widget, [self.plot], window.theme)

        self.status = QLabel(wordWrap=True, textInteractionFlags=Qt.TextInteractionFlag.TextSelectableByMouse)
        self.current = QLabel()
        self.use_button = QPushButton("Use this rate", clicked=self.use_rate, enabled=False)
        self.use_button.setToolTip("Set training.optimizer.lr to the suggested rate (one undoable edit)")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.addButton(self.use_button, QDialogButtonBox.ButtonRole.ActionRole)

        box = QVBoxLayout(self)
        box.addLayout(controls)
        box.addWidget(self.plot_widget, 1)
        box.addWidget(self.status)
        box.addWidget(self.current)
        box.addWidget(buttons)
        self._show_mode()
        self._show_current()
        window.editor.stack.indexChanged.connect(self._show_current)  # an undo of "Use this rate" shows too

    # -- the test ---------------------------------------------------------------------------------
    def start(self) -> None:
        from .process import EngineProcess

        self.stop()
        self._clear()
        self.scratch = Path(tempfile.mkdtemp(prefix="layerloom-lr-find-"))
        graph = self.scratch / "graph.json"
        graph.write_text(json.dumps(to_dict(self.doc)), encoding="utf-8")
        arguments = ["lr-find", str(graph), "--stream", "--steps", str(self.steps.value())]
        arguments += ["--base-dir", self.base_dir or str(Path.cwd())]
        if self.networks.isVisibleTo(self):
            arguments += ["--networks", self.networks.currentText()]
        self.process = EngineProcess(arguments, self)
        self.process.line.connect(self._line)
        self.process.ended.connect(self._ended)
        self.process.start()
        self.start_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.status.setText("Starting… (a copy of the model trains; the graph's weights are not touched)")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill_and_wait()
            self.process = None
        self._remove_scratch()
        self.start_button.setEnabled(True)
        self.stop_button.setEnabled(False)

    def _line(self, message: dict) -> None:
        kind = message.get("type")
        if kind == "point":
            self.lrs.append(message["lr"])
            self.losses.append(message["loss"])
            self.smoothed.append(message["smoothed"])
            self._redraw()
            self.status.setText(f"step {len(self.lrs)} of {self.steps.value()}: lr {message['lr']:.3g}, "
                                f"smoothed loss {message['smoothed']:.4g}")
        elif kind == "result":
            self.lrs, self.losses, self.smoothed = message["lrs"], message["losses"], message["smoothed"]
            self._redraw()
            self._show_result(message)
        elif kind == "error":
            self.status.setText(f"<b>Cannot run the test:</b> {_escape(message.get('message', ''))}")

    def _ended(self, code: int, stderr: str) -> None:
        if code != 0 and not self.status.text().startswith("<b>Cannot"):
            tail = stderr.splitlines()[-1] if stderr else "no output"
            self.status.setText(f"<b>The test ended unexpectedly</b> (exit {code}): {_escape(tail)}")
        self.process = None
        self._remove_scratch()
        self.start_button.setEnabled(True)
        self.stop_button.setEnabled(False)

    def _show_result(self, result: dict) -> None:
        self.suggestion = result.get("suggestion")
        ended = {"end": "took every step", "diverged": "stopped early: the loss diverged",
                 "nan": "stopped early: the loss became NaN or infinite",
                 "request": "stopped as asked"}.get(result.get("stopped"), "")
        if self.suggestion is None:
            self.status.setText(f"No suggestion ({ended}): {_escape(result.get('reason', ''))}")
            return
        x = math.log10(self.suggestion)
        self.marker.setValue(x)
        self.marker_label.setText(f"{self.suggestion:.3g}")
        index = min(range(len(self.lrs)), key=lambda i: abs(math.log10(self.lrs[i]) - x)) if self.lrs else None
        self.marker_label.setPos(x, self.smoothed[index] if index is not None else 0)
        self.marker.show()
        self.marker_label.show()
        self.use_button.setEnabled(True)
        self.status.setText(f"<b>Suggested learning rate {self.suggestion:.3g}</b> — "
                            f"{_escape(result.get('reason', ''))}. The test {ended} after {len(self.lrs)} steps.")

    def use_rate(self) -> None:
        """training.optimizer.lr = the suggestion: one undoable edit of the optimizer section."""
        if self.suggestion is None:
            return
        optimizer = dict(self.doc.training.get("optimizer") or {})
        optimizer["lr"] = float(f"{self.suggestion:.3g}")
        self.window_.editor.stack.push(SetTrainingCommand(self.doc, "optimizer", optimizer, "optimizer.lr"))
        self._show_current()

    # -- drawing ------------------------------------------------------------------------------------
    def _redraw(self) -> None:
        self.raw_curve.setData(self.lrs, self.losses)
        self.smooth_curve.setData(self.lrs, self.smoothed)
        if self.smoothed:  # the diverging tail would squash the interesting part: clip y at 1.5× the start
            top = max(self.smoothed[0] * 1.5, min(self.smoothed) * 1.1)
            self.plot.setYRange(min(min(self.losses), min(self.smoothed)) * 0.95, top, padding=0)

    def _clear(self) -> None:
        self.lrs, self.losses, self.smoothed, self.suggestion = [], [], [], None
        self.marker.hide()
        self.marker_label.hide()
        self.use_button.setEnabled(False)
        self._redraw()

    def _show_mode(self) -> None:
        try:
            gan = TrainingConfig.from_dict(self.doc.training).mode == "gan"
        except ConfigError:
            gan = False
        self.networks.setVisible(gan)
        self.networks_label.setVisible(gan)

    def _show_current(self) -> None:
        lr = (self.doc.training.get("optimizer") or {}).get("lr", TrainingConfig().optimizer.lr)
        self.current.setText(f"The graph's learning rate now: {lr}")

    def _remove_scratch(self) -> None:
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None

    def done(self, result: int) -> None:
        self.stop()
        super().done(result)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
