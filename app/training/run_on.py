"""Runs that train outside the app's worker: Training ▸ Run on… and Training ▸ Follow a run folder….

Run on… (run_on_dialog.py) either starts the open graph on this machine's GPUs with torchrun
(torchrun_process.py), in a new folder of the graph's run store like any run, or writes a launch
bundle for a cluster with the engine's own code (engine/launch/bundle.py, what `layerloom launch`
writes; it imports no torch). Follow a run folder… opens a run another machine writes to shared
storage.

Either way the controller's run on screen (`controller.record`) is fed by a RunFollower reading the
folder's events.jsonl instead of the worker's messages, and ends through the controller's own
`_end_run`, so the run list, gradient badges, lock and evaluation behave as for a run in the worker.
A torchrun run on this machine locks the graph and Stop stops it after the current step; a run
elsewhere is only watched: Stop lets it go, and Train, opening a graph or choosing another run in
the list replaces it on screen.
"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication, QFileDialog

from engine import runs as run_store
from engine.errors import LayerloomError
from engine.fileformat import atomic_write_text, to_dict
from engine.launch.bundle import absolute_paths, write_bundle

from .follow import RunFollower
from .run_on_dialog import RunOnDialog
from .runs import RunRecord
from .torchrun_process import TorchrunProcess, torchrun_arguments


class RunOn(QObject):
    def __init__(self, controller):
        super().__init__(controller)
        self.c = controller
        self.follower: RunFollower | None = None
        self.dialog: RunOnDialog | None = None
        self.actions = {
            "run_on": QAction("Run &on…", self, triggered=self.open_dialog,
                              toolTip="Train on this machine's GPUs with torchrun, or write the files that train "
                                      "this graph on a cluster"),
            "follow": QAction("&Follow a run folder…", self, triggered=lambda: self.follow_folder(),
                              toolTip="Watch a run live from its folder (a cluster's run on shared storage)"),
        }
        QApplication.instance().aboutToQuit.connect(self.shutdown)

    # -- what is on screen ------------------------------------------------------------------------
    @property
    def on_screen(self) -> RunFollower | None:
        """The follower feeding the controller's run on screen, if that run is read from its folder."""
        follower = self.follower
        return follower if follower is not None and follower.record is self.c.record else None

    @property
    def watching(self) -> bool:
        """The run on screen trains elsewhere: the app only reads it (it is not this window's run)."""
        follower = self.on_screen
        return follower is not None and not follower.local

    def stop(self) -> bool:
        """Stop (Shift+F5) for a run read from its folder: torchrun stops after this step; a run elsewhere is
        let go. False when the run on screen is not one of these."""
        follower = self.on_screen
        if follower is None:
            return False
        if follower.local:
            follower.process.stop()
            self.c.live.set_status("Stopping after this step…")
        elif follower.polling:
            follower.let_go()
            self.c.live.set_status(f"Stopped following {follower.record.name} — the run itself goes on.")
            self.c._update_actions()
        return True

    def let_go(self) -> None:
        """Another run takes the screen: stop reading the one shown (torchrun processes still ending are kept)."""
        old = self.follower
        if old is None or (old.local and old.process.alive):
            return
        old.let_go()
        if old.local:
            old.process.deleteLater()
        old.deleteLater()
        self.follower = None

    def shutdown(self) -> None:
        if self.follower is not None and self.follower.local:
            self.follower.process.shutdown()

    # -- Run on… ------------------------------------------------------------------------------------
    def open_dialog(self) -> None:
        if self.dialog is not None:
            self.dialog.deleteLater()
        self.dialog = RunOnDialog(self.c.doc.name, self.c.client.info, self._bundle_folder(), self.c.window)
        self.c.client.ready.connect(self.dialog.set_devices)
        self.dialog.local_requested.connect(self.start_here)
        self.dialog.bundle_requested.connect(self.write_bundle)
        self.dialog.follow_requested.connect(self.follow)
        self.dialog.open()

    def write_bundle(self, plan, folder: Path) -> None:
        try:
            bundle = write_bundle(self.c.doc, folder, plan, base_dir=self.c._base_dir())
        except LayerloomError as exc:
            self.dialog.show_error(str(exc))
            return
        except OSError as exc:
            self.dialog.show_error(f"Bundle folder: cannot write {exc.filename or folder} ({exc.strerror or exc})")
            return
        self.dialog.show_bundle(bundle)
        self.c.window.statusBar().showMessage(f"Launch bundle written to {bundle.folder}", 15_000)

    def start_here(self, processes: int, device: str, strategy: str) -> None:
        """torchrun on this machine, in a new run of the open graph's store."""
        run_dir = self.c._new_run_dir()
        if run_dir is None:
            return
        graph = self.c.window.files.recorded_graph()
        training = graph.get("training") or {}
        if isinstance(training.get("dataset"), dict):  # the trainer reads the graph from the run folder
            graph["training"] = {**training, "dataset": absolute_paths(training["dataset"], self.c._base_dir())}
        graph_file = run_dir / "graph.json"
        try:
            arguments = torchrun_arguments(graph_file, run_dir, processes, device, strategy, self.c.epochs_override)
            atomic_write_text(graph_file, json.dumps(graph, indent=2) + "\n")
        except (LayerloomError, OSError) as exc:
            self.c._say(f"Cannot start {run_dir.name}: {exc}", error=True)
            return
        process = TorchrunProcess(arguments, self)
        what = f"{processes} GPU{'s' * (processes != 1)}" if device == "cuda" else \
            f"{processes} CPU process{'es' * (processes != 1)}"
        self._follow(RunRecord(run_dir.name, run_dir), process, graph,
                     f"Starting {run_dir.name} on {what} with torchrun (each process loads torch)…")

    def _bundle_folder(self) -> Path:
        """`<graph>-launch/` where the graph's exports go (`<graph>-export/`: beside it, or under Documents)."""
        export = self.c._export_folder()
        return export.with_name(export.name.removesuffix("-export") + "-launch")

    # -- Follow a run folder… -----------------------------------------------------------------------------
    def follow_folder(self, folder: str | Path | None = None) -> None:
        if folder is None:
            folder = QFileDialog.getExistingDirectory(self.c.window, "Follow a run folder", str(self.c.store))
            if not folder:
                return
        self.follow(Path(folder))

    def follow(self, run_dir: Path) -> None:
        """Watch the run in `run_dir` live (its events.jsonl may not exist yet: a cluster job not started)."""
        run_dir = Path(run_dir).expanduser().resolve()
        if self.c.running:
            self.c._say("A run is in progress — stop it first (Shift+F5), then follow another.", error=True)
            return
        if not run_dir.is_dir():
            self.c._say(f"{run_dir}: no such folder — the run folder is where the run writes events.jsonl.",
                        error=True)
            return
        waiting = "" if (run_dir / "events.jsonl").is_file() else " — waiting for its first events (events.jsonl)"
        self._follow(RunRecord(run_store.read_run(run_dir).label, run_dir), None, _graph(run_dir),
                     f"Following {run_dir}{waiting}")

    # -- feeding the controller -------------------------------------------------------------------------
    def _follow(self, record: RunRecord, process: TorchrunProcess | None, graph: dict | None, status: str) -> None:
        self.c._show_starting(record, graph, status, local=process is not None)  # lets the last one go
        follower = RunFollower(record, process, self)
        follower.updated.connect(lambda events, f=follower: self._updated(f, events))
        follower.ended.connect(lambda f=follower: self._ended(f))
        self.follower = follower
        self.c._update_actions()
        follower.start()

    def _updated(self, follower: RunFollower, events: list[dict]) -> None:
        if follower is not self.on_screen:
            return
        if any(event.get("type") == "started" for event in events):
            self.c.runs_panel.refresh(keep=follower.record.run_dir)  # listed as running now (if in the store)
            self.c._update_actions()

    def _ended(self, follower: RunFollower) -> None:
        if follower is not self.on_screen:
            return
        if self.c.trained_graph is None:  # a run elsewhere writes its graph.json when it starts
            self.c.trained_graph = _graph(follower.record.run_dir)
        self.c._end_run()
        if not follower.local and _nodes(self.c.trained_graph) != _nodes(to_dict(self.c.doc)):
            self.c.badges.clear()  # a run of another graph: its gradient norms say nothing about these nodes


def _graph(run_dir: Path) -> dict | None:
    try:
        return run_store.run_graph(run_dir)
    except run_store.RunStoreError:
        return None


def _nodes(graph: dict | None) -> set[tuple]:
    """A graph's (node id, type) pairs, to tell whether a followed run trained the open graph."""
    nodes = graph.get("nodes") if isinstance(graph, dict) else None
    return {(n.get("id"), n.get("type")) for n in nodes if isinstance(n, dict)} if isinstance(nodes, list) else set()
