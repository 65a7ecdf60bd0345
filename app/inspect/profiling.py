"""Training → Profile: ask the worker to measure each node's time and memory over a few training steps of
the graph on screen (engine/inspect/profile.py), into a new folder of the graph's run store, and show the
answer in the Profile dock, as colours on the canvas (profile_panel.py) and beside the Analysis dock's
estimates. A run profiled at its start (training.profile) is shown the same way, live from its `profile`
artifact or from its folder's profile.json when it is selected.

It listens to the worker's messages itself, for the answers to its own requests only.
"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget

from engine.inspect import PROFILE_FILE, PROFILE_TAG

from .profile_panel import ProfilePanel, measured

STEPS = 5


class Profiling(QObject):
    def __init__(self, controller):
        super().__init__(controller)
        self.controller, window = controller, controller.window
        self.panel = ProfilePanel(window.scene)
        self.panel.node_requested.connect(window.show_node)
        self.dock = QDockWidget("Profile", window)
        self.dock.setObjectName("Profile")
        self.dock.setWidget(self.panel)
        window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.dock)
        window.tabifyDockWidget(controller.results_dock, self.dock)
        window.panels_menu.addAction(self.dock.toggleViewAction())  # every dock has its toggle under Panels
        controller.live_dock.raise_()
        self.action = QAction("&Profile nodes", self)
        self.action.setToolTip("Measure each node's forward/backward time and activation memory over a few steps")
        self.action.triggered.connect(self.profile)
        self.actions = [self.action]
        self.request = f"{controller.token}:profile"
        controller.client.message.connect(self._message)
        controller.doc.subscribe(self._doc_event)

    def profile(self) -> None:
        c = self.controller
        run_dir = c._new_run_dir()  # refuses (and says why) while a run trains or the graph has errors
        if run_dir is None:
            return
        self.panel.summary.setText(f"<i>Profiling {STEPS} training steps…</i>")
        self.dock.raise_()
        c.client.send(cmd="profile", id=self.request, graph=c.window.files.recorded_graph(), run_dir=str(run_dir),
                      base_dir=c._base_dir(), steps=STEPS)

    def _message(self, message: dict) -> None:
        if message.get("id") != self.request:
            return
        if message.get("type") == "profile":
            self.show(message["profile"])
            self.controller.runs_panel.refresh()
        else:
            self.panel.summary.setText(f"Profiling failed: {message.get('message', '')}")

    def add(self, event: dict) -> None:
        """An event of the run on screen: its start's profile, when it was profiled (training.profile)."""
        if event.get("type") == "artifact" and event.get("tag") == PROFILE_TAG:
            self.show(event["data"])

    def show_run(self, run_dir: Path) -> None:
        """A run chosen in the Runs list: its profile.json, when it has one (else what is shown stays)."""
        try:
            record = json.loads((Path(run_dir) / PROFILE_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            self.panel.summary.setText(f"{run_dir / PROFILE_FILE} cannot be read: {exc}")
            return
        self.show(record)

    def show(self, record: dict) -> None:
        self.panel.show_profile(record)
        self.controller.window.analysis.show_measured(measured(record))

    def _doc_event(self, event: str, **_) -> None:
        if event not in ("node_moved", "nodes_moved", "name_changed"):
            self.panel.clear()  # the colours described the graph as profiled
            self.controller.window.analysis.show_measured({})


def install_profiling(controller) -> Profiling:
    controller.profiling = Profiling(controller)
    return controller.profiling



