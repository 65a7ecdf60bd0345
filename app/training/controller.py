"""Training from the canvas: run control, the graph lock, and the docks that show a run.

`install_training(window)` adds a Training menu and toolbar (Train F5, Pause F6, Resume F7, Stop
Shift+F5, Export… Ctrl+E) and three docks — settings, live view, results — to the main window.
A run trains a snapshot of the document in the shared worker process; while it runs the graph is
locked, nodes carry gradient-norm badges and the live view plots the event stream. When it ends
the graph unlocks, the run joins the run list (for overlays) and, when it left a checkpoint, the
worker is asked for the validation confusion matrix and sample predictions.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QStandardPaths, Qt, QTimer
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QDockWidget, QMessageBox, QScrollArea

from engine.commands.train import default_run_dir
from engine.fileformat import to_dict

from .badges import GradientBadges
from .client import TrainingClient, shared_client
from .evaluation import ResultsPanel
from .export_dialog import ExportDialog
from .live_view import LiveView
from .lock import GraphLock
from .runs import TERMINAL, RunRecord
from .settings_panel import TrainingSettingsPanel

WARM_START_MS = 1500  # after the window first shows: the first paint never waits for the worker
SIDE_DOCK_WIDTH = 340  # px: the settings form's values are readable at this width
BADGE_HZ = 4
STREAM = ("status", "started", "step", "epoch", "checkpoint")


class TrainingController(QObject):
    def __init__(self, window, client: TrainingClient | None = None):
        super().__init__(window)
        self.window, self.doc = window, window.doc
        self.client = client or shared_client()
        self.token = uuid.uuid4().hex[:8]  # tags this window's requests to the shared worker
        self.record: RunRecord | None = None
        self.runs: list[RunRecord] = []
        self.paused = False
        self.epochs_override: int | None = None  # benchmarks and tests shorten runs without editing the graph
        self.runs_root: Path | None = None  # default: runs/ beside the graph file, else the app-data folder
        self.trained_graph: dict | None = None
        self.export_dialog: ExportDialog | None = None
        self.settings_panel = TrainingSettingsPanel(window.editor)
        self.live = LiveView()
        self.results = ResultsPanel()
        self.badges = GradientBadges(window.scene)
        self._add_docks()
        self.lock = GraphLock(window, extra_widgets=(self.settings_panel,))
        self._add_actions()
        self.client.message.connect(self._message)
        self.client.crashed.connect(self._crashed)
        self.client.ready.connect(self._ready)
        if self.client.info:
            self._ready(self.client.info)
        self.settings_panel.preview_requested.connect(self._preview)
        self.live.node_requested.connect(window.show_node)
        # Badges repaint the canvas: on their own slower timer, so a canvas paint and a plot paint
        # never fall into the same event-loop turn (that pair was the longest stall measured).
        self.badge_timer = QTimer(self, interval=1000 // BADGE_HZ)
        self.badge_timer.timeout.connect(self._update_badges)
        self.badge_timer.start()
        window.installEventFilter(self)
        self._update_actions()

    # -- building -------------------------------------------------------------------------------
    def _add_docks(self) -> None:
        w = self.window
        inspector, problems = (w.findChild(QDockWidget, name) for name in ("Inspector", "Problems"))
        scroll = QScrollArea(widgetResizable=True)  # the form never forces the right dock wider
        scroll.setWidget(self.settings_panel)
        self.settings_dock = self._dock("Training settings", scroll, Qt.DockWidgetArea.RightDockWidgetArea)
        self.live_dock = self._dock("Live view", self.live, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.results_dock = self._dock("Results", self.results, Qt.DockWidgetArea.BottomDockWidgetArea)
        if inspector is not None:
            # Split, not tabified: a tabified Inspector outlives the scene when the window is destroyed,
            # and its selectionChanged slot then calls into the deleted scene.
            w.splitDockWidget(inspector, self.settings_dock, Qt.Orientation.Vertical)
            w.resizeDocks([inspector], [SIDE_DOCK_WIDTH], Qt.Orientation.Horizontal)  # room for the settings form
        if problems is not None:
            w.tabifyDockWidget(problems, self.live_dock)
        w.tabifyDockWidget(self.live_dock, self.results_dock)
        self.live_dock.raise_()

    def _dock(self, title: str, widget, area) -> QDockWidget:
        dock = QDockWidget(title, self.window)
        dock.setObjectName(title)
        dock.setWidget(widget)
        self.window.addDockWidget(area, dock)
        return dock

    def _add_actions(self) -> None:
        menu = self.window.menuBar().addMenu("&Training")
        toolbar = self.window.addToolBar("Training")
        toolbar.setObjectName("Training")
        spec = (("train", "&Train", self.train, "F5"), ("pause", "&Pause", self.pause, "F6"),
                ("resume", "&Resume", self.resume, "F7"), ("stop", "&Stop", self.stop, "Shift+F5"),
                ("export", "&Export…", self.export, "Ctrl+E"))
        self.actions = {}
        for key, text, slot, shortcut in spec:
            action = menu.addAction(text)
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            action.setToolTip(f"{text.replace('&', '')} ({shortcut})")
            action.triggered.connect(slot)
            toolbar.addAction(action)
            self.actions[key] = action
        menu.addSeparator()
        for dock in (self.settings_dock, self.live_dock, self.results_dock):
            menu.addAction(dock.toggleViewAction())

    def eventFilter(self, watched, event) -> bool:
        if watched is self.window and event.type() == QEvent.Type.Show:
            self.window.removeEventFilter(self)
            QTimer.singleShot(WARM_START_MS, self.client.start)
        return False

    # -- run control ------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.record is not None and self.record.active

    def train(self) -> None:
        if self.running or self.client.owner is not None:
            self._say("A run is already in progress — stop it first (Shift+F5).", error=True)
            return
        report = self.window.scene.validate_now()
        if not report.ok:
            self._say(f"The graph has {len(report.errors)} error(s) — fix them (see Problems) before training.",
                      error=True)
            return
        run_dir = self._new_run_dir()
        self.record = RunRecord(run_dir.name, run_dir)
        self.trained_graph = to_dict(self.doc)
        self.paused = False
        self.live.show_run(self.record)
        self.live.set_status(f"Starting {run_dir.name}…" if self.client.is_ready else
                             "Starting the training worker (loading torch)…")
        self.live_dock.raise_()
        self.window.resizeDocks([self.live_dock], [int(self.window.height() * 0.45)], Qt.Orientation.Vertical)
        self.lock.lock()
        self.client.owner = self
        self.client.send(cmd="train", id=f"{self.token}:train", graph=self.trained_graph, run_dir=str(run_dir),
                         base_dir=self._base_dir(), epochs=self.epochs_override, device=None)
        self._update_actions()

    def pause(self) -> None:
        if self.running and not self.paused:
            self.client.send(cmd="pause")

    def resume(self) -> None:
        if self.running and self.paused:
            self.client.send(cmd="resume")

    def stop(self) -> None:
        if self.running:
            self.client.send(cmd="stop")
            self.live.set_status("Stopping after this step…")

    def export(self) -> None:
        weights = self._last_weights()
        folder = Path(weights).parent / "export" if weights else self._runs_root() / "export"
        self.export_dialog = ExportDialog(self.client, to_dict(self.doc), weights, folder, self.window,
                                          request_id=f"{self.token}:export")
        self.export_dialog.open()

    # -- worker messages ----------------------------------------------------------------------------
    def _message(self, message: dict) -> None:
        kind, mine = message.get("type"), self.client.owner is self
        request = str(message.get("id", ""))
        if kind in STREAM and mine and self.record is not None:
            self.record.add(message)
            if kind == "status" and message["state"] in TERMINAL:
                self._end_run()
        elif kind == "control" and mine:
            self.paused = message["state"] == "paused"
            if self.paused:
                self.live.set_status(f"Paused at step {self.record.step} — Resume (F7) or Stop (Shift+F5).")
            self._update_actions()
        elif kind in ("run_end", "worker_error") and mine and message.get("cmd") == "train":
            if kind == "worker_error":
                self._fail(message["message"])
            self.client.owner = None
            self._update_actions()
        elif request == f"{self.token}:preview":
            if kind == "dataset_info":
                self.settings_panel.show_dataset_info(message)
            else:
                self.settings_panel.show_dataset_problem(message["message"])
        elif request == f"{self.token}:evaluate":
            if kind == "evaluation":
                self.results.show_evaluation(message)
            else:
                self.results.summary.setText(f"Evaluation failed: {message['message']}")

    def _ready(self, info: dict) -> None:
        self.settings_panel.set_devices(info)
        self.settings_panel.request_preview()
        self._update_actions()

    def _crashed(self, reason: str) -> None:
        lost = self.running
        self._fail(reason)
        self._say(reason.splitlines()[0], error=True)
        if lost:
            QMessageBox.critical(self.window, "Training worker stopped", reason)
        self._update_actions()

    def _fail(self, message: str) -> None:
        if self.record is not None and self.record.active:
            self.record.fail(message)
            self._end_run()

    def _end_run(self) -> None:
        record = self.record
        self.lock.unlock()
        self.badges.clear()
        self.paused = False
        self.live.redraw()
        if record.steps and record not in self.runs:
            self.runs.append(record)
            self.live.set_runs([r for r in self.runs if r is not record] + [record])
        self._say(f"Run {record.name} {record.state}: {record.message}", error=record.state == "failed")
        if record.weights and record.state in ("finished", "stopped"):
            self.results.summary.setText("<i>Evaluating the best checkpoint on the validation split…</i>")
            self.client.send(cmd="evaluate", id=f"{self.token}:evaluate", graph=self.trained_graph,
                             weights=record.weights, base_dir=self._base_dir())
        self._update_actions()

    def _preview(self, dataset: dict) -> None:
        if not self.client.is_ready:
            return  # never start the worker early for this: `_ready` asks for the preview again
        self.client.send(cmd="describe_dataset", id=f"{self.token}:preview", dataset=dataset,
                         seed=self.settings_panel.settings()["seed"], base_dir=self._base_dir())

    # -- helpers --------------------------------------------------------------------------------------
    def _update_badges(self) -> None:
        if self.running and self.record.layer_norms:
            self.badges.update(self.record.latest_layer_norms())

    def _update_actions(self) -> None:
        running, free = self.running, self.client.owner is None
        self.actions["train"].setEnabled(not running and free)
        self.actions["pause"].setEnabled(running and not self.paused)
        self.actions["resume"].setEnabled(running and self.paused)
        self.actions["stop"].setEnabled(running)
        self.actions["export"].setEnabled(not running)

    def _say(self, text: str, error: bool = False) -> None:
        self.window.statusBar().showMessage(text, 15_000)
        if not self.running:
            self.live.set_status(text, error)

    def _last_weights(self) -> str | None:
        return next((r.weights for r in reversed(self.runs) if r.weights), None)

    def _base_dir(self) -> str | None:
        path = self.window.files.path
        return str(path.parent) if path else None

    def _runs_root(self) -> Path:
        if self.runs_root is not None:
            return self.runs_root
        if self.window.files.path is not None:
            return self.window.files.path.parent / "runs"
        data = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
        return Path(data) / "runs"

    def _new_run_dir(self) -> Path:
        base = self._runs_root() / default_run_dir(self.doc.name).name
        run_dir, n = base, 1
        while run_dir.exists():
            n += 1
            run_dir = base.with_name(f"{base.name}-{n}")
        run_dir.mkdir(parents=True)
        return run_dir


def install_training(window, client: TrainingClient | None = None) -> TrainingController:
    """Give the main window its Training menu, toolbar and docks; returns the controller."""
    window.training = TrainingController(window, client)
    return window.training

