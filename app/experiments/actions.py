"""The Training menu's experiment entries: Find learning rate…, Sweep…, Compare runs…."""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction


class Experiments(QObject):
    def __init__(self, controller):
        super().__init__(controller)
        self.c = controller
        self.dialog = None
        self.sweep_dialog = None  # kept while the window lives: closing it never ends a running sweep
        self.actions = [
            QAction("Find &learning rate…", self, triggered=self.find_lr,
                    toolTip="Train a copy briefly at growing learning rates and suggest one (the range test)"),
            QAction("S&weep…", self, triggered=self.sweep,
                    toolTip="Train many variants (settings and node parameters) with Optuna and see which mattered"),
            QAction("&Compare runs…", self, triggered=self.compare,
                    toolTip="What differed between two runs of this graph: settings, structure, curves, weights"),
        ]
        controller.window.graph_parts.append(("experiment windows", self.graph_switched))

    def graph_switched(self) -> None:
        """Another graph on screen: the range test and comparison of the last one close, and so does its
        Sweep window unless its sweep still runs (it goes on; its best trial applies only to its own graph)."""
        if self.dialog is not None:
            self.dialog.close()
            self.dialog = None
        if self.sweep_dialog is not None and self.sweep_dialog.process is None:
            self.sweep_dialog.close()
            self.sweep_dialog = None

    def find_lr(self) -> None:
        from .lr_find_dialog import LrFindDialog

        self._show(LrFindDialog(self.c.window, self.c._base_dir()))

    def sweep(self) -> None:
        """The saved graph's sweeps; a sweep trains the file, so unsaved edits must be saved first."""
        from .sweep_dialog import SweepDialog

        path = self.c.window.files.path
        if path is None or not self.c.window.editor.stack.isClean():
            self.c._say("Save the graph first: a sweep trains the saved file (File ▸ Save).", error=True)
            return
        if self.sweep_dialog is None or self.sweep_dialog.graph_path != path:
            if self.sweep_dialog is not None and self.sweep_dialog.process is not None:
                self.c._say("A sweep of another graph is still running — stop it in its Sweep window first.", True)
                self.sweep_dialog.show()
                return
            self.sweep_dialog = SweepDialog(self.c.window, path)
            self.sweep_dialog.view.run_requested.connect(self._show_run)
        self.sweep_dialog.show()
        self.sweep_dialog.raise_()

    def _show_run(self, run_dir) -> None:
        panel = self.c.runs_panel
        panel.refresh()
        panel.select(run_dir)
        self.c.runs_dock.raise_()

    def compare(self) -> None:
        """The two ticked runs of the Runs list, else the last two."""
        from engine.runs import list_runs

        from .compare_view import CompareDialog

        runs = list_runs(self.c.store)
        if len(runs) < 2:
            self.c._say("Compare runs needs two runs of this graph — train it twice (with a change between).")
            return
        ticked = self.c.runs_panel.ticked()
        self._show(CompareDialog(self.c.window, runs, tuple(ticked) if len(ticked) == 2 else None))

    def _show(self, dialog) -> None:
        """One experiment dialog at a time: opening another closes the last (and ends its process)."""
        if self.dialog is not None:
            self.dialog.close()
        self.dialog = dialog
        dialog.show()


def install_experiments(controller) -> Experiments:
    controller.experiments = Experiments(controller)
    return controller.experiments
