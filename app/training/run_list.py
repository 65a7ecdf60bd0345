"""The Runs dock: the open graph's runs, read from its run store (engine/runs.py), nothing else.

One row per run — name, date, state, best metric, training time — with a tick box to overlay its
loss on the live view. Selecting a row shows that run; Resume continues it from its last
checkpoint and "Continue +N" extends it by N epochs, both in the same run folder; rename, delete
and "open folder" act on the store. The list holds no run state of its own: `set_store` re-reads
the folder, so switching graphs can never leave another graph's runs on screen.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QAction, QBrush, QColor, QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMenu,
    QMessageBox,
    QSpinBox,
    QToolBar,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.runs import RunInfo, RunStoreError, delete_run, list_runs, rename_run

from .runs import format_seconds

COLUMNS = ("Run", "Date", "State", "Best", "Time")
STATE_COLORS = {"failed": "#e5484d", "stopped": "#e8a317", "running": "#4e9cf5", "paused": "#b07cf5"}
PATH_ROLE = Qt.ItemDataRole.UserRole


class RunsPanel(QWidget):
    selected = Signal(object)  # Path of the run chosen, or None
    overlays_changed = Signal(object)  # list[Path]: the ticked runs, in list order
    resume_requested = Signal(object, int)  # (run folder, extra epochs; 0 = finish the planned epochs)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.store: Path | None = None
        self.runs: list[RunInfo] = []
        self.busy = False  # a run is training: no resume, rename or delete meanwhile
        self.tree = QTreeWidget(columnCount=len(COLUMNS), rootIsDecorated=False, uniformRowHeights=True)
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setMinimumHeight(44)  # a header and a row: the dock may shrink to a strip
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._context_menu)
        self.tree.itemSelectionChanged.connect(self._selection_changed)
        self.tree.itemChanged.connect(self._item_changed)
        self.place = QLabel(wordWrap=True)
        self.place.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details = QLabel(wordWrap=True)  # the selected run: how it ended and what its folder holds
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.more = QSpinBox(minimum=1, maximum=10_000, value=5, suffix=" epochs", prefix="+")
        self.actions = {
            "resume": QAction("Resume", self, toolTip="Continue the selected run from its last checkpoint",
                              triggered=lambda: self._resume(0)),
            "continue": QAction("Continue", self, toolTip="Train the selected run for more epochs",
                                triggered=lambda: self._resume(self.more.value())),
            "rename": QAction("Rename…", self, triggered=self.rename_selected),
            "delete": QAction("Delete…", self, triggered=self.delete_selected),
            "folder": QAction("Open run folder", self, triggered=self.open_folder),
        }
        # A tool bar, not a row of buttons: in a narrow dock what does not fit goes under its » menu, where a
        # row of buttons made the dock (and so the window) wider than a 1024-pixel screen.
        buttons = QToolBar(toolButtonStyle=Qt.ToolButtonStyle.ToolButtonTextOnly)
        buttons.addActions([self.actions["resume"], self.actions["continue"]])
        buttons.addWidget(self.more)
        buttons.addSeparator()
        buttons.addActions([self.actions[key] for key in ("rename", "delete", "folder")])
        for key in self.actions:
            setattr(self, f"{key}_button", buttons.widgetForAction(self.actions[key]))
        layout = QVBoxLayout(self)
        layout.addWidget(self.place)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.details)
        layout.addWidget(buttons)
        self._update_buttons()

    # -- content ------------------------------------------------------------------------------------
    def set_store(self, store: Path | None) -> None:
        """Show the runs of another store (another graph): selection and ticks start empty."""
        self.store = store
        self.tree.clearSelection()
        self.refresh(keep=None)

    def refresh(self, keep: Path | None | bool = True) -> None:
        """Re-read the store. `keep` = True keeps the selection and ticks, a Path selects that run."""
        ticked = set(self.ticked()) if keep is not None else set()
        chosen = self.current() if keep is True else (keep if isinstance(keep, Path) else None)
        self.runs = list_runs(self.store) if self.store else []
        self.tree.blockSignals(True)
        self.tree.clear()
        for run in self.runs:
            item = QTreeWidgetItem([run.label, run.date, run.state, run.best_text(), format_seconds(run.seconds)])
            item.setData(0, PATH_ROLE, str(run.path))
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(0, Qt.CheckState.Checked if run.path in ticked else Qt.CheckState.Unchecked)
            item.setToolTip(0, f"{run.path}\n{run.message}\nTick to overlay its loss on the live view")
            item.setToolTip(2, run.message)
            if run.state in STATE_COLORS:
                item.setForeground(2, QBrush(QColor(STATE_COLORS[run.state])))
            self.tree.addTopLevelItem(item)
            if run.path == chosen:
                item.setSelected(True)
        self.tree.blockSignals(False)
        for column in range(1, len(COLUMNS)):
            self.tree.resizeColumnToContents(column)
        where = str(self.store) if self.store else "—"
        count = f"{len(self.runs)} run{'s' * (len(self.runs) != 1)}" if self.runs else "No runs yet — press Train (F5)"
        self.place.setText(f"{count} · <span style='color:gray'>{where}</span>")
        self._update_buttons()

    def set_busy(self, busy: bool) -> None:
        self.busy = busy
        self._update_buttons()

    # -- reading ------------------------------------------------------------------------------------
    def current(self) -> Path | None:
        items = self.tree.selectedItems()
        return Path(items[0].data(0, PATH_ROLE)) if items else None

    def current_info(self) -> RunInfo | None:
        path = self.current()
        return next((run for run in self.runs if run.path == path), None)

    def ticked(self) -> list[Path]:
        return [Path(item.data(0, PATH_ROLE)) for item in self._items()
                if item.checkState(0) == Qt.CheckState.Checked]

    def select(self, run_dir: Path | None) -> None:
        for item in self._items():
            item.setSelected(run_dir is not None and Path(item.data(0, PATH_ROLE)) == run_dir)

    def _items(self) -> list[QTreeWidgetItem]:
        return [self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount())]

    # -- reactions ----------------------------------------------------------------------------------
    def _selection_changed(self) -> None:
        self._update_buttons()
        self.selected.emit(self.current())

    def _item_changed(self, item: QTreeWidgetItem, column: int) -> None:
        if column == 0:
            self.overlays_changed.emit(self.ticked())

    def _update_buttons(self) -> None:
        info = self.current_info()
        self.details.setText(_details(info, self.busy) if info else "")
        can_resume = info is not None and info.resumable and not self.busy
        self.actions["resume"].setEnabled(can_resume and info.state != "finished")
        self.actions["continue"].setEnabled(can_resume)
        self.more.setEnabled(can_resume)
        for key in ("rename", "delete"):
            self.actions[key].setEnabled(info is not None and not self.busy)
        self.actions["folder"].setEnabled(info is not None)
        if info is not None and info.resumable:
            self.actions["resume"].setToolTip(f"Continue {info.label} from step {info.step} "
                                              f"(epoch {info.epochs} of {info.total_epochs})")

    def _resume(self, extra_epochs: int) -> None:
        path = self.current()
        if path is not None:
            self.resume_requested.emit(path, extra_epochs)

    def _context_menu(self, position) -> None:
        if self.tree.itemAt(position) is None:
            return
        menu = QMenu(self)
        menu.addAction(self.actions["resume"])
        menu.addAction(f"Continue +{self.more.value()} epochs",
                       lambda: self._resume(self.more.value())).setEnabled(self.actions["continue"].isEnabled())
        menu.addSeparator()
        menu.addActions([self.actions[key] for key in ("rename", "delete", "folder")])
        menu.exec(self.tree.viewport().mapToGlobal(position))

    # -- store edits --------------------------------------------------------------------------------
    def rename_selected(self) -> None:
        info = self.current_info()
        if info is None or self.busy:
            return
        label, ok = QInputDialog.getText(self, "Rename run", "Name:", text=info.label)
        if not ok:
            return
        try:
            rename_run(info.path, label)
        except (RunStoreError, OSError) as exc:
            QMessageBox.critical(self, "Cannot rename the run", str(exc))
        self.refresh()

    def delete_selected(self) -> None:
        info = self.current_info()
        if info is None or self.busy:
            return
        answer = QMessageBox.question(
            self, "Delete run", f"Delete {info.label} and everything in its folder?\n{info.path}",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        if answer != QMessageBox.StandardButton.Yes:
            return
        try:
            delete_run(info.path)
        except (RunStoreError, OSError) as exc:
            QMessageBox.critical(self, "Cannot delete the run", str(exc))
        self.refresh(keep=False)
        self.selected.emit(None)
        self.overlays_changed.emit(self.ticked())

    def open_folder(self) -> None:
        path = self.current()
        if path is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))


def _details(run: RunInfo, training: bool = False) -> str:
    """How the run ended and its artifacts: checkpoints with their epochs, logs, exports. While this window
    `training`, a run without an end is the one in progress, not one that was killed."""
    planned = f" of {run.total_epochs}" if run.total_epochs else ""
    if training and run.state == "running":
        parts = ["<b>training now</b> — the Live view follows it (Pause F6, Stop Shift+F5)"]
    elif training and run.state == "paused":
        parts = ["<b>paused</b> — the Live view shows it (Resume F7, Stop Shift+F5)"]
    else:
        parts = [f"<b>{run.state}</b> at epoch {run.epochs}{planned}, step {run.step} — {run.message}"]
    files = []
    if "best" in run.checkpoints and run.best:
        accuracy = run.best.get("val_accuracy")  # the figure Results shows for this checkpoint
        files.append(f"best checkpoint (epoch {run.best['epoch']})"
                     f"{f': validation accuracy {accuracy:.1%}' if accuracy is not None else ''}")
    if "last" in run.checkpoints:
        files.append(f"last checkpoint (epoch {run.epochs})")
    files += [name for name in ("metrics.csv", "events.jsonl", "tensorboard") if (run.path / name).exists()]
    parts.append("Artifacts: " + (" · ".join(files) if files else "none yet"))
    return "<br>".join(parts)
