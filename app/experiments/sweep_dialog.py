"""Training ▸ Sweep…: start, resume, stop and watch sweeps of the open graph (`layerloom sweep`).

The form takes one `--param` per line in the command line's own grammar (`nodes.fc1.out_features=
int:32:256`), so what a user learns here works in a terminal too; the lines are checked against the
graph before anything starts. The sweep runs the saved graph file as `layerloom sweep` in a process of
its own (its trials in worker processes under it), and the view below reads the sweep's folder, live.
Stop ends it after the current trials (SIGTERM); Start on an existing sweep's name resumes it. Earlier
sweeps of the graph (`<graph>.sweeps/`) are listed to open.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from engine.errors import LayerloomError
from engine.experiments.sweep import SAMPLERS, SPEC_FILE, sweeps_folder
from engine.experiments.sweep_params import SweepParam, check_params

from .sweep_view import SweepView

EXAMPLE = "training.optimizer.lr=log:1e-4:1e-1\n"


class SweepDialog(QDialog):
    def __init__(self, window, graph_path: Path):
        super().__init__(window)
        self.setWindowTitle("Sweep")
        self.resize(1150, 820)
        self.window_, self.graph_path = window, graph_path
        self.process = None
        self.params = QPlainTextEdit(EXAMPLE + _width_example(window.doc))
        self.params.setToolTip("One per line: training.KEY…=KIND:ARGS or nodes.ID.PARAM=KIND:ARGS, KIND one of "
                               "log:LOW:HIGH, float:LOW:HIGH[:STEP], int:LOW:HIGH[:STEP], choice:A,B,…")
        self.params.setMaximumHeight(90)
        self.trials = QSpinBox(minimum=1, maximum=10_000, value=20)
        self.parallel = QSpinBox(minimum=1, maximum=64, value=1)
        self.epochs = QSpinBox(minimum=0, maximum=100_000, value=0, specialValueText="as the graph says")
        self.sampler = QComboBox()
        self.sampler.addItems(SAMPLERS)
        self.name = QLineEdit(placeholderText="sweep-DATE-TIME")
        form = QFormLayout()
        form.addRow("parameters", self.params)
        numbers = QHBoxLayout()
        for label, widget in (("trials", self.trials), ("at a time", self.parallel), ("epochs", self.epochs),
                              ("sampler", self.sampler), ("name", self.name)):
            numbers.addWidget(QLabel(label))
            numbers.addWidget(widget)
        form.addRow(numbers)
        self.start_button = QPushButton("Start", clicked=self.start)
        self.stop_button = QPushButton("Stop", clicked=self.stop, enabled=False)
        self.existing = QComboBox()
        self.existing.activated.connect(lambda _: self.open_sweep(self.existing.currentData()))
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.stop_button)
        buttons.addStretch(1)
        buttons.addWidget(QLabel("open a sweep"))
        buttons.addWidget(self.existing)
        form.addRow(buttons)
        self.status = QLabel(wordWrap=True)
        form.addRow(self.status)
        top = QWidget()
        top.setLayout(form)
        self.view = SweepView(window)
        self.view.graph_path = graph_path
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(self.view)
        split.setSizes([230, 590])
        box = QVBoxLayout(self)
        box.addWidget(split)
        self._list_sweeps()
        if self.existing.count():  # the newest
            self.existing.setCurrentIndex(self.existing.count() - 1)
            self.open_sweep(self.existing.currentData())

    # -- sweeps ------------------------------------------------------------------------------------------
    def arguments(self) -> list[str]:
        """`layerloom sweep` arguments from the form, checked against the graph (LayerloomError if not)."""
        lines = [line.strip() for line in self.params.toPlainText().splitlines() if line.strip()]
        name = self.name.text().strip()
        if not lines and not name:
            raise LayerloomError("give a parameter to sweep, or the name of a sweep to resume")
        check_params(self.window_.doc, [SweepParam.parse(line) for line in lines])
        arguments = ["sweep", str(self.graph_path), "--parallel", str(self.parallel.value())]
        if lines:
            arguments += [*(part for line in lines for part in ("--param", line)), "--trials",
                          str(self.trials.value()), "--sampler", self.sampler.currentText()]
            if self.epochs.value():
                arguments += ["--epochs", str(self.epochs.value())]
        return arguments + (["--name", name] if name else [])

    def start(self) -> None:
        from .process import EngineProcess

        try:
            arguments = self.arguments()
        except LayerloomError as exc:
            self.status.setText(f"<b>Cannot start:</b> {_escape(str(exc))}")
            return
        before = set(self._sweep_folders())
        self.process = EngineProcess(arguments, self)
        self.process.ended.connect(self._ended)
        self.process.start()
        self.start_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.status.setText("Sweeping… (trials are runs in the Runs list; Stop ends after the current trials)")
        self._follow_new(before)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.status.setText("Stopping after the current trials…")

    def open_sweep(self, folder: str | Path | None) -> None:
        self.view.set_folder(Path(folder) if folder else None)

    def _follow_new(self, before: set[Path], tries: int = 40) -> None:
        """Show the sweep just started once its folder appears (or the one named, when it resumes one)."""
        named = self.name.text().strip()
        fresh = [f for f in self._sweep_folders() if f not in before or f.name == named]
        if fresh:
            self._list_sweeps()
            self.existing.setCurrentIndex(self.existing.findData(str(fresh[0])))
            self.open_sweep(fresh[0])
        elif tries and self.process is not None:
            QTimer.singleShot(250, lambda: self._follow_new(before, tries - 1))

    def _ended(self, code: int, stderr: str) -> None:
        self.process = None
        self.start_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        last = stderr.splitlines()[-1] if stderr else ""
        self.status.setText("The sweep ended." if code == 0 else f"<b>The sweep failed</b> (exit {code}): "
                                                                  f"{_escape(last)}")
        self.view.reload()

    def _sweep_folders(self) -> list[Path]:
        root = sweeps_folder(self.graph_path)
        if not root.is_dir():
            return []
        return sorted((p for p in root.iterdir() if (p / SPEC_FILE).is_file()),
                      key=lambda p: (p / SPEC_FILE).stat().st_mtime)  # oldest first: the newest is the default

    def _list_sweeps(self) -> None:
        self.existing.clear()
        for folder in self._sweep_folders():
            self.existing.addItem(folder.name, str(folder))

    def done(self, result: int) -> None:
        """Closing hides the dialog: a running sweep goes on (Training ▸ Sweep… shows it again)."""
        if self.process is None:
            self.view.timer.stop()
        super().done(result)


def _width_example(doc) -> str:
    """A node parameter line for the graph's first Linear, as an example of sweeping structure."""
    linear = next((node_id for node_id, node in doc.nodes.items() if node.type_id == "Linear"), None)
    return f"nodes.{linear}.out_features=int:16:256\n" if linear else ""


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
