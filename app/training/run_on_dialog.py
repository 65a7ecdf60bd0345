"""Training ▸ Run on…: train the open graph on this machine's GPUs, or write a launch bundle for a cluster.

"This machine" starts N processes under torchrun (one per GPU the worker found; on a machine with
no GPU, N CPU processes with gloo — for trying multi-process training out, not for speed). "A
cluster" asks for what `layerloom launch` asks (nodes, GPUs per node, rendezvous endpoint, restarts,
strategy, folders) and shows what was written: every file's path and the torchrun command to copy.

The dialog only asks and shows: it emits what was chosen, and the caller (run_on.py) starts the run
or writes the bundle with the engine's own code (engine/launch/bundle.py) and hands the result back
to `show_bundle` or `show_error`.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.launch.bundle import DEFAULT_PORT, FILES, STRATEGIES, Bundle, LaunchPlan

from .settings_panel import device_list

DEFAULT_CPU_PROCESSES = 2
ERROR_STYLE = "border: 1px solid #e5484d;"
FILE_ROLES = {"launch.json": "what was asked for, and each host's command",
              "graph.json": "the graph (dataset paths absolute)",
              "config.json": "its training settings, resolved",
              "torchrun.sh": "sh torchrun.sh on every host",
              "skypilot.yaml": "sky launch -c layerloom skypilot.yaml",
              "slurm.sbatch": "sbatch slurm.sbatch"}


class RunOnDialog(QDialog):
    local_requested = Signal(int, str, str)  # processes, device ("cuda" | "cpu"), strategy
    bundle_requested = Signal(object, object)  # LaunchPlan, bundle folder (Path)
    follow_requested = Signal(object)  # Path: the written bundle's run folder

    def __init__(self, graph_name: str, ready: dict | None, bundle_folder: Path, parent=None):
        super().__init__(parent)
        self.setWindowTitle(f"Run {graph_name} on…")
        self.device = "cpu"
        self.bundle: Bundle | None = None
        self.here = QRadioButton("This machine")
        self.cluster = QRadioButton("A cluster: write a launch bundle")
        choice = QButtonGroup(self)
        for button in (self.here, self.cluster):
            choice.addButton(button)
        self.here.setChecked(True)

        self.processes = QSpinBox(minimum=1, maximum=1)
        self.unit = QLabel()
        self.device_note = QLabel(wordWrap=True)
        self.device_note.setStyleSheet("color: gray")
        local_row = QHBoxLayout()
        local_row.addWidget(self.processes)
        local_row.addWidget(self.unit, 1)
        self.local_box = _indented(local_row, self.device_note)

        d = LaunchPlan()
        self.nodes = QSpinBox(minimum=1, maximum=100_000, value=2)
        self.gpus = QSpinBox(minimum=0, maximum=64, value=d.gpus_per_node, specialValueText="0 (CPU nodes)")
        self.endpoint = QLineEdit(placeholderText=f"HOST:{DEFAULT_PORT} of the first node (optional)")
        self.endpoint.setToolTip("The first host's address for the c10d rendezvous. SkyPilot and Slurm find it "
                                 "themselves; torchrun.sh reads LAYERLOOM_RDZV_ENDPOINT when this is empty.")
        self.restarts = QSpinBox(minimum=0, maximum=1000, value=d.max_restarts)
        self.restarts.setToolTip("Times torchrun restarts a failed worker group; each restart resumes from the "
                                 "last checkpoint.")
        self.accelerator = QLineEdit(d.accelerator)
        self.accelerator.setToolTip("The GPU type SkyPilot asks for (A100, H100, L4…)")
        self.folder = QLineEdit(str(bundle_folder))
        self.run_dir = QLineEdit(placeholderText="empty: <bundle folder>/run")
        self.run_dir.setToolTip("The run folder every node writes to: put it on storage every node shares "
                                "(NFS, a bucket mount), and follow it live from here.")
        form = QFormLayout()
        form.addRow("Nodes", self.nodes)
        form.addRow("GPUs per node", self.gpus)
        form.addRow("Rendezvous endpoint", self.endpoint)
        form.addRow("Max restarts", self.restarts)
        form.addRow("Accelerator (SkyPilot)", self.accelerator)
        form.addRow("Bundle folder", _with_browse(self.folder, "Bundle folder"))
        form.addRow("Run folder", _with_browse(self.run_dir, "Run folder (shared storage)"))
        self.cluster_box = _indented(form)

        self.strategy = QComboBox()
        for name, text in zip(STRATEGIES, ("ddp — every process holds the model",
                                           "fsdp — the model is sharded across processes"), strict=True):
            self.strategy.addItem(text, name)
        strategy_row = QFormLayout()
        strategy_row.addRow("Strategy", self.strategy)

        self.error = QLabel(wordWrap=True)
        self.error.setStyleSheet("color: #e5484d")
        self.error.hide()
        self.result = self._build_result()

        self.go = QPushButton()
        self.go.setDefault(True)
        self.go.clicked.connect(self._go)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.go, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        for widget in (self.here, self.local_box, self.cluster, self.cluster_box):
            layout.addWidget(widget)
        layout.addLayout(strategy_row)
        layout.addWidget(self.error)
        layout.addWidget(self.result)
        layout.addStretch(1)
        layout.addWidget(buttons)
        choice.buttonToggled.connect(lambda *_: self._update())
        self.set_devices(ready)
        self.resize(620, self.sizeHint().height())

    def _build_result(self) -> QWidget:
        self.written = QLabel(wordWrap=True)
        self.files = QLabel(textFormat=Qt.TextFormat.RichText)  # a table: one path a row, never wrapped
        self.files.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.command = QPlainTextEdit(readOnly=True)
        self.command.setMaximumHeight(70)
        self.copy = QPushButton("Copy command", clicked=self._copy)
        self.open_folder = QPushButton("Open bundle folder", clicked=self._open_folder)
        self.follow = QPushButton("Follow the run folder", clicked=self._follow)
        self.follow.setToolTip("Watch the run live here once the cluster starts writing its events")
        row = QHBoxLayout()
        for button in (self.copy, self.open_folder, self.follow):
            row.addWidget(button)
        row.addStretch(1)
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 6, 0, 0)
        layout.addWidget(self.written)
        layout.addWidget(self.files)
        layout.addWidget(QLabel("The command every host runs (torchrun.sh):"))
        layout.addWidget(self.command)
        layout.addLayout(row)
        box.hide()
        return box

    # -- what this machine has ------------------------------------------------------------------
    def set_devices(self, ready: dict | None) -> None:
        """The worker's ready message (None: not known yet — Start waits for it)."""
        self.ready = ready
        if ready is None:
            self.unit.setText("processes")
            self.device_note.setText("Waiting for the training worker to list this machine's devices…")
        else:
            gpus = [d for d in ready.get("devices") or [] if d.get("kind") == "cuda"] or \
                (ready.get("cuda") or [] if not ready.get("cpu_only", True) else [])
            self.device = "cuda" if gpus else "cpu"
            top = len(gpus) or max(DEFAULT_CPU_PROCESSES, os.cpu_count() or 1)
            self.processes.setMaximum(top)
            self.processes.setValue(len(gpus) or DEFAULT_CPU_PROCESSES)
            self.unit.setText("GPUs, one process each (nccl)" if gpus else "CPU processes (gloo)")
            note = device_list(ready)
            if not gpus:
                note += " — CPU processes are for trying multi-process training out, not for speed."
            self.device_note.setText(note)
        self._update()

    # -- acting ---------------------------------------------------------------------------------
    def _update(self) -> None:
        local = self.here.isChecked()
        self.local_box.setEnabled(local)
        self.cluster_box.setEnabled(not local)
        self.go.setText("Start" if local else "Write bundle")
        self.go.setEnabled(not local or self.ready is not None)
        self.go.setToolTip("Train with torchrun on this machine, in a new run of this graph" if local else
                           "Write the torchrun, SkyPilot and Slurm files into the bundle folder")
        self._clear_error()

    def plan(self) -> LaunchPlan:
        return LaunchPlan(nodes=self.nodes.value(), gpus_per_node=self.gpus.value(),
                          rdzv_endpoint=self.endpoint.text().strip() or None, max_restarts=self.restarts.value(),
                          strategy=self.strategy.currentData(), accelerator=self.accelerator.text().strip(),
                          run_dir=self.run_dir.text().strip() or None)

    def _go(self) -> None:
        self._clear_error()
        if self.here.isChecked():
            self.local_requested.emit(self.processes.value(), self.device, self.strategy.currentData())
            self.accept()
        elif not self.folder.text().strip():
            self.show_error("Bundle folder: choose where to write the bundle.")
        else:
            self.result.hide()  # until this bundle is written
            self._fit()
            self.bundle_requested.emit(self.plan(), Path(self.folder.text().strip()).expanduser())

    def show_error(self, text: str) -> None:
        """A problem with the plan or the folder; a message that names an option marks its field."""
        fields = {"--nodes": (self.nodes, "Nodes"), "--gpus-per-node": (self.gpus, "GPUs per node"),
                  "--rdzv-endpoint": (self.endpoint, "Rendezvous endpoint"),
                  "--max-restarts": (self.restarts, "Max restarts"), "--strategy": (self.strategy, "Strategy"),
                  "--accelerator": (self.accelerator, "Accelerator"), "Bundle folder": (self.folder, "Bundle folder")}
        for prefix, (widget, label) in fields.items():
            if text.startswith(prefix):
                text = label + text[len(prefix):]
                widget.setStyleSheet(ERROR_STYLE)
        self.error.setText(text)
        self.error.show()

    def _clear_error(self) -> None:
        self.error.hide()
        for widget in (self.nodes, self.gpus, self.endpoint, self.restarts, self.strategy, self.accelerator,
                       self.folder):
            widget.setStyleSheet("")

    def show_bundle(self, bundle: Bundle) -> None:
        """What was written: each file's path and role, the run folder, and the command to copy."""
        self.bundle = bundle
        hosts = "this host" if bundle.plan.nodes == 1 else f"each of the {bundle.plan.nodes} hosts"
        self.written.setText(f"<b>Written:</b> a bundle for {bundle.plan.nodes} node(s) × "
                             f"{bundle.plan.procs_per_node} process(es) — start <code>sh torchrun.sh</code> on "
                             f"{hosts}, or submit the SkyPilot or Slurm file.")
        rows = [(str(bundle.path(name)), FILE_ROLES[name]) for name in FILES]
        rows.append((str(bundle.run_dir), "the run folder: every node writes here; follow it live"))
        self.files.setText("<table>" + "".join(f"<tr><td><code>{path}</code></td><td style='color:gray'>"
                                               f"&nbsp;&nbsp;{role}</td></tr>" for path, role in rows) + "</table>")
        self.command.setPlainText(bundle.commands[0])
        self.result.show()
        self._fit()

    def _fit(self) -> None:
        """As tall as the content: taller with the bundle's files shown, short again without them."""
        self.layout().activate()
        hint = self.sizeHint()
        self.resize(max(self.width(), hint.width()), hint.height())

    def _copy(self) -> None:
        QGuiApplication.clipboard().setText(self.command.toPlainText())

    def _open_folder(self) -> None:
        if self.bundle is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.bundle.folder)))

    def _follow(self) -> None:
        if self.bundle is not None:
            self.follow_requested.emit(self.bundle.run_dir)
            self.accept()


def _indented(*parts) -> QWidget:
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(24, 0, 0, 6)
    for part in parts:
        if isinstance(part, QWidget):
            layout.addWidget(part)
        else:
            layout.addLayout(part)
    return box


def _with_browse(field: QLineEdit, title: str) -> QWidget:
    box = QWidget()
    row = QHBoxLayout(box)
    row.setContentsMargins(0, 0, 0, 0)
    row.addWidget(field, 1)
    browse = QPushButton("Browse…")
    browse.clicked.connect(lambda: _browse(field, title))
    row.addWidget(browse)
    return box


def _browse(field: QLineEdit, title: str) -> None:
    folder = QFileDialog.getExistingDirectory(field, title, field.text() or str(Path.home()))
    if folder:
        field.setText(folder)
