"""Training from the canvas: run control, the graph lock, and the docks that show a run.

`install_training(window)` adds a Training menu and toolbar (Train F5, Pause F6, Resume F7, Stop
Shift+F5, Export… Ctrl+E) and four docks — settings, runs, live view, results — to the main window.
A run trains a snapshot of the document in the shared worker process, into a new folder of the
graph's run store (engine/runs.py: `<graph>.runs/` beside a saved graph, the user data folder for
an unsaved one); while it runs the graph is locked, nodes carry gradient-norm badges and the live
view plots the event stream. When it ends the graph unlocks, the badges keep the last norms until
the graph is edited, and the worker is asked for the validation confusion matrix and predictions.

Everything shown about runs comes from the open graph's store: opening another graph re-reads the
store and clears every run view, so no run of one graph ever shows on another. Resume (F7) continues
a paused run, or the stopped/failed run on screen, from its last checkpoint in the same folder.
Training ▸ Run on… and Follow a run folder… (run_on.py) put runs that train outside the worker — torchrun
on this machine's GPUs, a cluster's run on shared storage — on screen the same way, read from their folder.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QStandardPaths, Qt, QTimer
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QDockWidget, QMessageBox, QScrollArea, QVBoxLayout, QWidget

from engine import runs as run_store
from engine.data_fit import data_checks

from ..experiments import install_experiments
from ..inspect.layer_panel import install_layer_panel
from ..inspect.profiling import install_profiling
from ..inspect.telemetry import CanvasTelemetry
from ..problems import apply_fix
from ..workspace import Workspaces
from .badges import GradientBadges
from .client import TrainingClient, shared_client
from .download_dialog import DownloadDialog
from .evaluation import ResultsPanel
from .export_dialog import ExportDialog
from .live_view import LiveView
from .lock import GraphLock
from .run_list import RunsPanel
from .run_on import RunOn
from .runs import TERMINAL, RunRecord
from .settings_panel import TrainingSettingsPanel

WARM_START_MS = 1500  # after the window first shows: the first paint never waits for the worker
SIDE_DOCK_WIDTH = 340  # px: the settings form's values are readable at this width
LIVE_CHROME = 60  # px of the live dock around its view (title bar, tabs, margins)
RUNS_WIDTH = 430  # px of the Runs list beside the live view: its columns, and the live view keeps the rest
NARROW_WINDOW = 1200  # px: a window narrower than this (a laptop's 1024-pixel screen) tabs the Runs list
BADGE_HZ = 4
STREAM = ("status", "started", "step", "epoch", "checkpoint", "artifact")


class TrainingController(QObject):
    def __init__(self, window, client: TrainingClient | None = None):
        super().__init__(window)
        self.window, self.doc = window, window.doc
        self.client = client or shared_client()
        self.token = uuid.uuid4().hex[:8]  # tags this window's requests to the shared worker
        self.record: RunRecord | None = None  # the run on screen: training now, or chosen in the Runs list
        self.paused = False
        self.stop_pending = False  # Stop pressed before the run started (the worker still loading torch)
        self.epochs_override: int | None = None  # benchmarks and tests shorten runs without editing the graph
        # An unsaved graph's store, named once per graph: renaming the graph must not move its runs away.
        self.unsaved_key = _unsaved_key(self.doc.name)
        self.pending_move: tuple[Path, Path] | None = None  # (unsaved store, file's store): runs still to move
        self.dataset_info: dict | None = None  # the open graph's dataset as the worker described it
        self.trained_graph: dict | None = None  # the graph of the run on screen, as it was trained
        self.export_dialog: ExportDialog | None = None
        self.download: DownloadDialog | None = None  # a benchmark set's first download, before the run starts
        self.settings_panel = TrainingSettingsPanel(window.editor)
        self.runs_panel = RunsPanel()
        self.live = LiveView()
        self.results = ResultsPanel()
        self.badges = GradientBadges(window.scene)
        self.telemetry = CanvasTelemetry(window.scene, window.problems)  # what the run's instruments found
        self.live.apply_theme(window.theme)
        self.live.set_compact(True)  # no run yet: the canvas gets the room
        self._add_docks()
        self.lock = GraphLock(window, extra_widgets=(self.settings_panel,))
        self.workspaces = Workspaces(window, self.live_dock, self._live_height)  # Edit / Train arrangements
        self._add_actions()
        self.client.message.connect(self._message)
        self.client.crashed.connect(self._crashed)
        self.client.owner_changed.connect(self._update_actions)
        self.client.ready.connect(self._ready)
        if self.client.info:
            self._ready(self.client.info)
        self.settings_panel.preview_requested.connect(self._preview)
        self.live.node_requested.connect(window.show_node)
        self.live.worker_request.connect(self._kind_request)
        self.runs_panel.selected.connect(self._run_selected)
        self.runs_panel.overlays_changed.connect(self._overlays_changed)
        self.runs_panel.resume_requested.connect(self.resume_run)
        window.graph_parts.append(("runs and live view", self.graph_switched))
        window.scene.validated.connect(lambda _: self._check_data())
        window.problems.fix_requested.connect(lambda fix: apply_fix(window, fix))
        window.files.saved_as.connect(self._saved_as)
        self.doc.subscribe(self._doc_event)
        self.runs_panel.set_store(self.store)
        # Badges repaint the canvas: on their own slower timer, so a canvas paint and a plot paint
        # never fall into the same event-loop turn (that pair was the longest stall measured).
        self.badge_timer = QTimer(self, interval=1000 // BADGE_HZ)
        self.badge_timer.timeout.connect(self._update_badges)
        self.badge_timer.start()
        if window.isVisible():  # installed after the window showed (the app defers it past the first paint)
            self._first_shown()
        else:
            window.installEventFilter(self)
        self._update_actions()

    # -- building -------------------------------------------------------------------------------
    def _add_docks(self) -> None:
        w = self.window
        inspector, problems = (w.findChild(QDockWidget, name) for name in ("Inspector", "Problems"))
        scroll = QScrollArea(widgetResizable=True)  # the form never forces the right dock wider
        scroll.setWidget(self.settings_panel)
        self.settings_dock = self._dock("Training settings", scroll, Qt.DockWidgetArea.RightDockWidgetArea)
        live = QScrollArea(widgetResizable=True)  # on a short screen it scrolls instead of making the window taller
        live.setWidget(_holding(self.live))
        self.live_dock = self._dock("Live view", live, Qt.DockWidgetArea.BottomDockWidgetArea)
        results = QScrollArea(widgetResizable=True)  # its picture and matrix never hold the bottom docks tall
        results.setWidget(self.results)
        self.results_dock = self._dock("Results", results, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.runs_dock = self._dock("Runs", self.runs_panel, Qt.DockWidgetArea.BottomDockWidgetArea)
        if inspector is not None:
            # Split, not tabified: a tabified Inspector outlives the scene when the window is destroyed,
            # and its selectionChanged slot then calls into the deleted scene.
            w.splitDockWidget(inspector, self.settings_dock, Qt.Orientation.Vertical)
            w.resizeDocks([inspector], [SIDE_DOCK_WIDTH], Qt.Orientation.Horizontal)  # room for the settings form
        narrow = w.width() < NARROW_WINDOW
        if problems is not None:
            if narrow:  # the live view's plots and pictures need the whole width: the list is one more tab
                w.tabifyDockWidget(problems, self.runs_dock)
            else:  # the list beside the bottom tabs (Problems, Live view, Results): split first, then tabify
                w.splitDockWidget(problems, self.runs_dock, Qt.Orientation.Horizontal)
            w.tabifyDockWidget(problems, self.live_dock)
        w.tabifyDockWidget(self.live_dock, self.results_dock)
        if not narrow:
            w.resizeDocks([self.runs_dock], [RUNS_WIDTH], Qt.Orientation.Horizontal)
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
        self.run_on = RunOn(self)  # Run on… this machine's GPUs or a cluster, Follow a run folder… (run_on.py)
        toolbar.insertAction(self.actions["pause"], self.run_on.actions["run_on"])
        menu.addSeparator()
        menu.addActions(list(self.run_on.actions.values()))
        menu.addSeparator()
        menu.addActions(install_experiments(self).actions)  # Find learning rate…, Sweep…, Compare runs…
        menu.addActions(install_profiling(self).actions)  # Profile nodes: measured time and memory per node
        install_layer_panel(self)  # the Layer dock: feature maps, filters, weights of the selected node
        panels = getattr(self.window, "panels_menu", None)  # View → Panels toggles every dock
        for dock in (self.settings_dock, self.runs_dock, self.live_dock, self.results_dock):
            (panels or menu).addAction(dock.toggleViewAction())
        view = next((a.menu() for a in self.window.menuBar().actions() if a.text() == "&View"), None)
        self.workspaces.add_to(view or menu)

    def eventFilter(self, watched, event) -> bool:
        if watched is self.window and event.type() == QEvent.Type.Show:
            self.window.removeEventFilter(self)
            self._first_shown()
        return False

    def _first_shown(self) -> None:
        QTimer.singleShot(WARM_START_MS, self.client.start)
        QTimer.singleShot(0, self._arrange_first)  # the window has its size now

    def _arrange_first(self) -> None:
        """On a first start (no saved layout), once the window has its size: the Edit arrangement, and the Runs
        list at its width beside the live view (set before the window had its size, Qt split them evenly)."""
        self.workspaces.begin()
        if not getattr(self.window, "layout_restored", False) and self.runs_dock not in \
                self.window.tabifiedDockWidgets(self.live_dock):
            self.window.resizeDocks([self.runs_dock], [RUNS_WIDTH], Qt.Orientation.Horizontal)

    # -- run control ------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """This window's run trains: in the worker, or in torchrun processes it started (not a run it only watches)."""
        return self.record is not None and self.record.active and not self.run_on.watching

    def train(self) -> None:
        run_dir = self._new_run_dir()
        if run_dir is not None:
            self._start(RunRecord(run_dir.name, run_dir), self.window.files.recorded_graph(),
                        epochs=self.epochs_override, resume=False)

    def _new_run_dir(self) -> Path | None:
        """A fresh folder in the open graph's store for a new run; None, with the reason said, when a run is in
        progress, the graph has errors or the store cannot be written."""
        if self._busy():
            return None
        report = self.window.scene.validate_now()
        if not report.ok:
            self._say(f"The graph has {len(report.errors)} error(s) — fix them (see Problems) before training.",
                      error=True)
            return None
        try:
            return run_store.new_run_dir(self.store, self._run_name(), self.window.files.path)
        except run_store.RunStoreError as exc:
            self._say(str(exc), error=True)
            return None

    def resume_run(self, run_dir: Path, extra_epochs: int = 0) -> None:
        """Continue a stopped, failed or finished run from its last checkpoint, in its own folder, with the
        graph it trained; `extra_epochs` > 0 extends its planned epochs (what "Continue +N" does)."""
        if self._busy():
            return
        info = run_store.read_run(run_dir)
        if not info.resumable:
            self._say(f"{info.label} has no checkpoint to resume from ({info.state}).", error=True)
            return
        epochs = (info.total_epochs or info.epochs) + extra_epochs
        if epochs <= info.epochs:
            self._say(f"{info.label} already trained its {info.epochs} epochs — use Continue to add epochs.",
                      error=True)
            return
        try:
            graph = run_store.run_graph(run_dir)
        except run_store.RunStoreError as exc:
            self._say(str(exc), error=True)
            return
        record = RunRecord.from_file(info.path / "events.jsonl", info.label)
        self._start(record, graph, epochs=epochs, resume=True)

    def _start(self, record: RunRecord, graph: dict, *, epochs: int | None, resume: bool) -> None:
        verb = "Resuming" if resume else "Starting"
        record.state = "starting"  # a resumed run read back as stopped: from now on it is in progress (Stop works)
        self._show_starting(record, graph, f"{verb} {record.name}…" if self.client.is_ready else
                            "Starting the training worker (loading torch)…")
        self.client.owner = self
        path = self.window.files.path
        self.client.send(cmd="train", id=f"{self.token}:train", graph=graph, run_dir=str(record.run_dir),
                         base_dir=self._base_dir(), epochs=epochs, device=None, resume=resume,
                         graph_path=str(path.resolve()) if path else None)
        self._update_actions()

    def _show_starting(self, record: RunRecord, graph: dict | None, status: str, local: bool = True) -> None:
        """Put a starting run on screen; a run of this window (`local`) locks the graph until it ends."""
        self.run_on.let_go()
        self.record, self.trained_graph, self.paused, self.stop_pending = record, graph, False, False
        self.badges.clear()
        self.telemetry.show(record.events)
        self.live.show_run(record)
        self.live.set_compact(False)
        self.live.set_status(status)
        self.live_dock.raise_()
        self.workspaces.switch("train")
        if local:
            self.lock.lock()
        self.runs_panel.set_busy(local)
        self.runs_panel.refresh(keep=record.run_dir)

    def _live_height(self) -> int:
        """Most of a short window while a run trains (the graph is locked meanwhile), so that the live view
        shows its plots and pictures whole instead of scrolling them; 45 % of a tall one."""
        height = self.window.height()
        return max(int(height * 0.45), min(self.live.minimumSizeHint().height() + LIVE_CHROME, int(height * 0.7)))

    def _busy(self) -> bool:
        if self.running or self.client.owner is not None:
            self._say("A run is already in progress — stop it first (Shift+F5).", error=True)
            return True
        return False

    def pause(self) -> None:
        if self.running and self.record.state == "running" and not self.paused and self.run_on.on_screen is None:
            self.client.send(cmd="pause")

    def resume(self) -> None:
        """F7: unpause the run in progress, or continue the stopped/failed run on screen."""
        if self.running and self.paused:
            self.client.send(cmd="resume")
        elif self._resumable_on_screen():
            self.resume_run(self.record.run_dir)

    def stop(self) -> None:
        """Stop after the current step; before the run has started, as soon as it starts (a stop sent
        earlier would reach the worker before the run and be forgotten). A run read from its folder: run_on.py."""
        if self.run_on.stop() or not self.running:
            return
        if self.record.state == "running" or self.download is not None:  # a download stops at its next chunk
            self.client.send(cmd="stop")
        else:
            self.stop_pending = True
        self.live.set_status("Stopping after this step…")

    def export(self) -> None:
        chosen = self.record.run_dir if self.record is not None else None
        self.export_dialog = ExportDialog(self.client, run_store.list_runs(self.store),
                                          self.window.files.recorded_graph(), self._export_folder(), chosen,
                                          self.window, request_id=f"{self.token}:export")
        self.export_dialog.open()

    # -- worker messages ----------------------------------------------------------------------------
    def _message(self, message: dict) -> None:
        kind, mine = message.get("type"), self.client.owner is self
        request = str(message.get("id", ""))
        if kind in STREAM and mine and self.record is not None:
            self.record.add(message)
            self.telemetry.add(message)
            self.profiling.add(message)  # a run profiled at its start (training.profile)
            if self.paused and kind == "step":  # sent before the pause took hold: "Paused at step N" follows
                self.live.show_progress()
            if kind == "status" and message["state"] in ("paused", "resumed"):
                self.runs_panel.refresh()  # the run folder now records the pause (engine/runs.py)
            if kind == "started":
                self._close_download()
                if self.stop_pending:
                    self.client.send(cmd="stop")
                self.runs_panel.refresh()  # now listed as running (a resumed run read "stopped" until here)
                self._update_actions()
            if kind == "status" and message["state"] in TERMINAL:
                self._end_run()
        elif kind == "download" and mine:
            self._download_progress(message)
        elif kind == "warning" and mine:
            self.telemetry.add(message)  # a dead or saturated layer: listed in the problems panel
            self.window.statusBar().showMessage(f"Warning: {message['message']}", 30_000)
            self.live.set_status(f"<span style='color:#e8a317'>⚠ {message['message']}</span>")
        elif kind == "control" and mine and self.record is not None:
            self.paused = message["state"] == "paused"
            self.record.set_paused(self.paused)
            self.live.redraw()
            self._update_actions()
        elif kind in ("run_end", "worker_error") and mine and message.get("cmd") == "train":
            if kind == "worker_error":
                self._fail(message["message"])
            self.client.owner = None
            self._move_runs_along()  # a first Save As while it trained: now the run can follow its graph
            self._let_go_of_another_graphs_run()  # a later Save As while it trained: it stays with the old file
            self._update_actions()
        elif request == f"{self.token}:preview":
            if kind == "dataset_info":
                self.settings_panel.show_dataset_info(message)
            else:
                self.settings_panel.show_dataset_problem(message["message"])
            self._dataset_known(message if kind == "dataset_info" else None)
        elif request == self._kind_id():  # what the kind panel asked about the run on screen
            self.live.kind_reply(message)
        elif request == self._evaluation_id():  # an answer about a run no longer on screen is dropped
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

    def _download_progress(self, event: dict) -> None:
        """A benchmark set's first download: its progress in a dialog whose Cancel is Stop."""
        if self.download is None:
            self.download = DownloadDialog(self.window, self.stop)
        self.download.show_progress(event)

    def _close_download(self) -> None:
        if self.download is not None:
            self.download.hide()  # not close(): QProgressDialog's close emits canceled, which would stop the run
            self.download.deleteLater()
            self.download = None

    def _end_run(self) -> None:
        record = self.record
        self._close_download()
        self.lock.unlock()
        self.badges.update(record.latest_layer_norms())  # they stay until the graph is edited
        self.telemetry.draw()
        self.paused = False
        self.live.redraw()
        self.runs_panel.set_busy(False)
        self.runs_panel.refresh(keep=record.run_dir)
        self._say(f"Run {record.name} {record.state}: {record.message}", error=record.state == "failed")
        self._evaluate(record)
        self._update_actions()

    def _evaluate(self, record: RunRecord) -> None:
        """Ask the worker for the confusion matrix and sample predictions of the run on screen."""
        self.results.clear()
        if not self.results.expects_evaluation(record):  # the run's kind shows its results in the live view
            return
        if record.weights and record.state in ("finished", "stopped") and self.trained_graph is not None:
            self.results.summary.setText("<i>Evaluating the best checkpoint on the validation split…</i>")
            self.client.send(cmd="evaluate", id=self._evaluation_id(), graph=self.trained_graph,
                             weights=record.weights, base_dir=self._base_dir())

    def _kind_request(self, command: dict) -> None:
        """The live view's kind panel asks the worker about the run on screen (text from a language model,
        the samples of a confusion cell); the answer goes back to it."""
        if self.record is not None and self.record.run_dir is not None:
            self.client.send(**command, id=self._kind_id(), run_dir=str(self.record.run_dir),
                             graph=self.trained_graph, base_dir=self._base_dir())

    def _kind_id(self) -> str:
        run = self.record.run_dir if self.record is not None else None
        return f"{self.token}:kind:{run}"

    def _evaluation_id(self) -> str:
        run = self.record.run_dir if self.record is not None else None
        return f"{self.token}:evaluate:{run}"

    # -- the open graph's runs ----------------------------------------------------------------------
    @property
    def store(self) -> Path:
        """The open graph's run store: beside its file, or in the user data folder while unsaved."""
        path = self.window.files.path
        return run_store.store_for(path) if path else run_store.unsaved_store(self.unsaved_key)

    def graph_switched(self) -> None:
        """The window's part of showing another graph (`MainWindow.switch_graph`, never while a run trains):
        its runs and nothing of the last one's."""
        self.run_on.let_go()
        self.unsaved_key = _unsaved_key(self.doc.name)
        self.pending_move = None
        self.record, self.trained_graph, self.paused = None, None, False
        self._dataset_known(None)  # until the settings panel's preview describes the new graph's dataset
        self.badges.clear()
        self.telemetry.clear()
        self.live.clear()
        self.live.set_compact(True)
        self.results.clear()
        self.workspaces.switch("edit")  # nothing of the new graph's has trained yet: the canvas gets the room
        if self.export_dialog is not None:
            self.export_dialog.close()
            self.export_dialog = None
        self.runs_panel.set_store(self.store)
        self._update_actions()

    def _saved_as(self, old: Path | None, new: Path) -> None:
        """A graph saved for the first time takes its runs along, beside its new file (a run belongs to its
        graph); one still training follows when it ends. A saved graph saved again elsewhere is a copy: the
        runs stay with the file they were trained from."""
        if old is None:
            self.pending_move = (run_store.unsaved_store(self.unsaved_key), run_store.store_for(new))
            self._move_runs_along()
        elif not self.running:
            self._let_go_of_another_graphs_run()
        self.runs_panel.set_store(self.store)
        if self.record is not None:
            self.runs_panel.select(self.record.run_dir)

    def _move_runs_along(self) -> None:
        """Carry the runs of the store the graph had while unsaved to its file's (see `_saved_as`); called again
        when a run that was training then ends."""
        if self.pending_move is None:
            return
        source, target = self.pending_move
        training = self.record.run_dir if self.record is not None and self.client.owner is self else None
        try:
            moved = run_store.move_runs(source, target, keep=training)
        except (OSError, run_store.RunStoreError) as exc:
            self._say(f"The runs could not be moved beside the graph ({exc}); they stay in {source}.", error=True)
            self.pending_move = None
            return
        if training is None:
            self.pending_move = None
        if moved:
            self._say(f"Moved {len(moved)} run{'s' * (len(moved) != 1)} beside the graph, into {target}.")
        shown = self.record.run_dir if self.record is not None else None
        moved = {old.resolve(): new for old, new in moved.items()}
        if shown is not None and shown.resolve() in moved:
            self._show_stored_run(moved[shown.resolve()])
        self.runs_panel.set_store(self.store)
        if self.record is not None:
            self.runs_panel.select(self.record.run_dir)

    def _let_go_of_another_graphs_run(self) -> None:
        """After Save As of a saved graph (a copy: the runs stay beside the file they were trained from) the run on
        screen is the old file's: it leaves the screen, with a word on where it is."""
        record, pending = self.record, self.pending_move
        if record is None or record.run_dir is None or record.run_dir.parent == self.store:
            return
        if pending is not None and record.run_dir.parent == pending[0]:
            return  # it moves beside the new file once it can
        self._forget_run_on_screen()
        self._say(f"Run {record.name} stays with the graph it trained, in {record.run_dir.parent}; "
                  f"{self.window.files.display_name} starts its own runs.")

    def _run_selected(self, run_dir: Path | None) -> None:
        if self.running:
            return  # a run in progress keeps the live view
        if run_dir is None:
            if self.record is not None and self.record.run_dir is not None and not self.record.run_dir.is_dir():
                self._forget_run_on_screen()  # it was deleted
            return
        if self.record is None or self.record.run_dir != run_dir:
            self._show_stored_run(run_dir)

    def _forget_run_on_screen(self) -> None:
        self.run_on.let_go()
        self.record, self.trained_graph, self.paused = None, None, False
        self.badges.clear()
        self.telemetry.clear()
        self.live.clear()
        self.live.set_compact(True)
        self.results.clear()
        self._update_actions()

    def _show_stored_run(self, run_dir: Path) -> None:
        self.run_on.let_go()
        info = run_store.read_run(run_dir)
        self.record = RunRecord.from_file(run_dir / "events.jsonl", info.label) \
            if (run_dir / "events.jsonl").is_file() else RunRecord(info.label, run_dir)
        try:
            self.trained_graph = run_store.run_graph(run_dir)
        except run_store.RunStoreError:
            self.trained_graph = None
        self.live.show_run(self.record)
        self.live.set_compact(False)
        self.badges.clear()
        self.telemetry.show(self.record.events)
        self.profiling.show_run(run_dir)
        self._evaluate(self.record)
        self._update_actions()

    def _overlays_changed(self, run_dirs: list[Path]) -> None:
        self.live.set_overlays([RunRecord.from_file(d / "events.jsonl", run_store.read_run(d).label)
                                for d in run_dirs if (d / "events.jsonl").is_file()])

    def _dataset_known(self, info: dict | None) -> None:
        """The dataset was described: new Inputs take its shape, and the graph is checked against it."""
        self.dataset_info = info
        self.window.editor.input_defaults = {"shape": list(info["input_shape"]), "dtype": info["input_dtype"]} \
            if info else {}
        self.window.inspector.set_dataset_info(info)
        self._check_data()

    def _check_data(self) -> None:
        report, info = self.window.scene.report, self.dataset_info
        checks = data_checks(self.doc, report, info) if info and report is not None else []
        self.window.problems.show_checks(checks)

    def _doc_event(self, event: str, **_) -> None:
        if event not in ("node_moved", "nodes_moved", "name_changed") and not self.running:
            self.badges.clear()  # the badges describe the graph as trained; an edit makes them stale
            self.telemetry.clear()

    def _preview(self, dataset: dict) -> None:
        if not self.client.is_ready:
            return  # never start the worker early for this: `_ready` asks for the preview again
        self.client.send(cmd="describe_dataset", id=f"{self.token}:preview", dataset=dataset,
                         seed=self.settings_panel.settings()["seed"], base_dir=self._base_dir())

    # -- helpers --------------------------------------------------------------------------------------
    def _update_badges(self) -> None:
        if self.running and self.record.layer_norms:
            self.badges.update(self.record.latest_layer_norms())
            self.telemetry.draw()

    def _update_actions(self) -> None:
        running, free = self.running, self.client.owner is None
        self.actions["train"].setEnabled(not running and free)
        followed = self.run_on.on_screen  # a run read from its folder: no pause; Stop stops or lets it go
        self.actions["pause"].setEnabled(running and self.record.state == "running" and not self.paused
                                         and followed is None)
        self.actions["resume"].setEnabled((running and self.paused) or (free and self._resumable_on_screen()))
        self.actions["stop"].setEnabled(running or (followed is not None and followed.polling))
        self.actions["export"].setEnabled(not running)

    def _resumable_on_screen(self) -> bool:
        record = self.record
        return (record is not None and not record.active and record.state in ("stopped", "failed")
                and record.run_dir is not None and record.run_dir.is_dir()
                and "last" in run_store.read_run(record.run_dir).checkpoints)

    def _say(self, text: str, error: bool = False) -> None:
        self.window.statusBar().showMessage(text, 15_000)
        if not self.running:
            self.live.set_status(text, error)

    def _base_dir(self) -> str | None:
        path = self.window.files.path
        return str(path.parent) if path else None

    def _run_name(self) -> str:
        path = self.window.files.path
        return path.stem if path else self.window.files.recorded_graph()["name"]

    def _export_folder(self) -> Path:
        """`<graph>-export/` beside a saved graph, else under the user's Documents folder."""
        path = self.window.files.path
        if path is not None:
            return path.resolve().parent / f"{path.stem}-export"
        documents = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
        return Path(documents or Path.home()) / "Layerloom" / f"{run_store.slug(self.doc.name)}-export"


def install_training(window, client: TrainingClient | None = None) -> TrainingController:
    """Give the main window its Training menu, toolbar and docks; returns the controller."""
    window.training = TrainingController(window, client)
    return window.training


def _holding(widget: QWidget) -> QWidget:
    """`widget` in a plain box: a scroll area sizes a widget whose own layout has height-for-width (a wrapping
    label) to its whole preferred height; through this box it sees only the widget's `hasHeightForWidth`,
    which the live view answers no, and sizes it to the dock, scrolling below the widget's minimum."""
    holder = QWidget()
    box = QVBoxLayout(holder)
    box.setContentsMargins(0, 0, 0, 0)
    box.addWidget(widget)
    return holder


def _unsaved_key(name: str) -> str:
    """Keeps an unsaved graph's store apart from other unsaved ones'; readable by the graph's name then."""
    return f"{name}-{uuid.uuid4().hex[:8]}"
