"""Two arrangements of the window's docks: Edit (the canvas first, the training docks folded to a strip)
and Train (the live view takes the room), each remembered as the user leaves it.

On a laptop's 1024 × 700 screen the training docks took most of the window and left the canvas about
370 × 200 px. Switching (View → Edit layout Ctrl+1, Train layout Ctrl+2, or F10 between them) keeps
the sizes of the dock areas as the user left them in the arrangement being left and brings back the
other's — or, the first time, a default sized to the window: a strip of tabs at the bottom for Edit,
as much of the height as the live view needs for Train. Starting a run switches to Train. Which
docks are open and where stays the user's in both (QMainWindow keeps that, and the window's saved
layout restores it); the sizes and the current arrangement survive a restart (QSettings).

Sizes, not `saveState`: Qt's restoreState on a window of unchanged size re-applies its separators
later, after a resize made on top of it, so the live view came back at another height.
"""

from __future__ import annotations

import json

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QDockWidget

from . import settings

MODES = ("edit", "train")
CANVAS_KEEPS = 150  # px of height the canvas keeps in the Train arrangement
EDIT_STRIP = 96  # px of the bottom docks in the Edit arrangement (their minimum may hold them taller)
# Each dock area and the direction its size is measured in (height at the bottom, width at the sides).
AREAS = {"bottom": (Qt.DockWidgetArea.BottomDockWidgetArea, Qt.Orientation.Vertical),
         "left": (Qt.DockWidgetArea.LeftDockWidgetArea, Qt.Orientation.Horizontal),
         "right": (Qt.DockWidgetArea.RightDockWidgetArea, Qt.Orientation.Horizontal)}


class Workspaces(QObject):
    def __init__(self, window, live_dock: QDockWidget, train_height):
        """`train_height()`: the bottom docks' first height in the Train arrangement (the live view's needs)."""
        super().__init__(window)
        self.window, self.live_dock, self.train_height = window, live_dock, train_height
        self.mode = "edit"
        self.sizes: dict[str, dict[str, int]] = {mode: _stored(mode) for mode in MODES}  # area → px, as left
        group = QActionGroup(self)
        self.actions: dict[str, QAction] = {}
        for mode, text, key in (("edit", "&Edit layout", "Ctrl+1"), ("train", "T&rain layout", "Ctrl+2")):
            action = QAction(text, self, checkable=True, shortcut=QKeySequence(key))
            action.setToolTip(f"{text.replace('&', '')} ({key}; F10 switches)")
            action.triggered.connect(lambda _=False, m=mode: self.switch(m))
            group.addAction(action)
            self.actions[mode] = action
        self.toggle = QAction("Switch Edit / Train layout", self, shortcut=QKeySequence("F10"))
        self.toggle.triggered.connect(lambda: self.switch("train" if self.mode == "edit" else "edit"))
        for action in (*self.actions.values(), self.toggle):
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            window.addAction(action)
        self.actions["edit"].setChecked(True)

    def add_to(self, menu) -> None:
        menu.addSeparator()
        menu.addActions([*self.actions.values(), self.toggle])

    def begin(self) -> None:
        """Once the window has its size: the arrangement of the last session (Edit the first time)."""
        mode = settings.settings().value("window/layout/mode")
        self.mode = mode if mode in MODES else "edit"
        self.actions[self.mode].setChecked(True)
        if not getattr(self.window, "layout_restored", False):
            self._apply(self.mode)

    def switch(self, mode: str) -> None:
        """Keep the sizes of the arrangement being left and bring back `mode`'s."""
        self.actions[mode].setChecked(True)
        if mode == self.mode:
            return
        self.sizes[self.mode] = self._measure()
        self.mode = mode
        self._apply(mode)
        self.save()

    def save(self) -> None:
        """Into the settings: each arrangement's sizes (the present one as it is now) and which one is shown."""
        self.sizes[self.mode] = self._measure()
        store = settings.settings()
        for mode, sizes in self.sizes.items():
            store.setValue(f"window/layout/{mode}", json.dumps(sizes))
        store.setValue("window/layout/mode", self.mode)

    def _measure(self) -> dict[str, int]:
        sizes = {}
        for dock in _shown_docks(self.window):
            for name, (area, orientation) in AREAS.items():
                if self.window.dockWidgetArea(dock) == area:
                    sizes.setdefault(name, dock.height() if orientation == Qt.Orientation.Vertical else dock.width())
        return sizes

    def _apply(self, mode: str) -> None:
        sizes = dict(self.sizes.get(mode) or {})
        sizes.setdefault("bottom", EDIT_STRIP if mode == "edit" else self.train_height())
        if mode == "train":
            self.live_dock.show()
            self.live_dock.raise_()
            room = self.live_dock.height() + self.window.centralWidget().height() - CANVAS_KEEPS
            _grow(self.live_dock, min(sizes.pop("bottom"), room))  # held taller, the dock would grow the window
        for name, size in sizes.items():
            area, orientation = AREAS[name]
            docks = [d for d in _shown_docks(self.window) if self.window.dockWidgetArea(d) == area]
            if docks:
                self.window.resizeDocks(docks[:1], [size], orientation)


def _grow(dock: QDockWidget, height: int) -> None:
    """Make the bottom docks `height` tall through `dock`: once the docks had been resized by hand,
    `resizeDocks` moved the separator only part of the way (asked 230 px, got 204, or nothing), so the
    height is held as the dock's minimum for one turn of the event loop while the layout settles, then let go."""
    minimum = dock.minimumHeight()
    dock.setMinimumHeight(max(height, minimum))
    QTimer.singleShot(0, lambda: dock.setMinimumHeight(minimum))


def _stored(mode: str) -> dict[str, int]:
    try:
        sizes = json.loads(settings.settings().value(f"window/layout/{mode}") or "{}")
    except (TypeError, ValueError):
        return {}
    if not isinstance(sizes, dict):
        return {}
    return {k: v for k, v in sizes.items() if k in AREAS and isinstance(v, int) and 0 < v < 100_000}


def _shown_docks(window) -> list[QDockWidget]:
    """The docks on screen: of a tab group only the tab shown (the others keep a stale size)."""
    return [dock for dock in window.findChildren(QDockWidget)
            if dock.isVisible() and not dock.visibleRegion().isEmpty()]
