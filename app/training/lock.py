"""The graph lock: while a run trains a snapshot of the graph, the user may look but not edit.

The edit stack refuses every push while locked, whatever asks for it; on top of that the lock
closes the doors the user edits through, so nothing looks usable that is not: the edit and file
actions (menus and shortcuts), the palette, the inspector and the training settings, and on the
canvas the gestures the view turns into edits (wire drags from ports, double-click and Tab
quick-add, arrow-key nudges, palette drops, node drags). Zoom, pan (middle mouse) and selection
stay usable. A banner over the canvas says why.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtWidgets import QGraphicsItem, QLabel, QWidget

BANNER_TEXT = "Training — graph locked"
# Menus whose every action edits or replaces the document.
LOCKED_MENUS = ("&Edit",)
# Actions elsewhere that do: File → New/Open/templates/recent/Import ONNX, View → Auto-layout.
LOCKED_ACTIONS = ("&New", "New from &template", "&Open…", "Open &recent", "&Import ONNX…", "Auto-&layout",
                  "Auto-layout")
BLOCKED_MOUSE = (QEvent.Type.MouseButtonDblClick, QEvent.Type.DragEnter, QEvent.Type.DragMove, QEvent.Type.Drop)
Movable = QGraphicsItem.GraphicsItemFlag.ItemIsMovable


class GraphLock(QObject):
    def __init__(self, window, extra_widgets: tuple[QWidget, ...] = ()):
        super().__init__(window)
        self.window, self.extra_widgets = window, extra_widgets
        self.locked = False
        self._disabled: list = []
        # A child of the view, not of its viewport: scrolling the canvas moves the viewport's children.
        self.banner = QLabel(BANNER_TEXT, window.view)
        self.banner.setObjectName("trainingBanner")
        self.banner.setStyleSheet("QLabel#trainingBanner { background: #e8a317; color: #111; padding: 4px 12px;"
                                  " border-radius: 4px; font-weight: bold; }")
        self.banner.hide()

    def lock(self) -> None:
        if self.locked:
            return
        self.locked = True
        w = self.window
        w.editor.stack.locked_reason = "the graph is locked while it trains — stop the run to edit"
        targets = [*self._locked_actions(), w.palette, w.inspector, *self.extra_widgets]
        self._disabled = [t for t in targets if t.isEnabled()]
        for target in self._disabled:
            target.setEnabled(False)
        for item in w.scene.items_by_id.values():
            item.setFlag(Movable, False)
        w.view.viewport().installEventFilter(self)
        w.view.installEventFilter(self)
        self.banner.adjustSize()
        self._place_banner()
        self.banner.show()
        self.banner.raise_()

    def unlock(self) -> None:
        if not self.locked:
            return
        self.locked = False
        self.window.editor.stack.locked_reason = None
        for target in self._disabled:
            target.setEnabled(True)
        self._disabled = []
        for item in self.window.scene.items_by_id.values():
            item.setFlag(Movable, True)
        self.window.view.viewport().removeEventFilter(self)
        self.window.view.removeEventFilter(self)
        self.banner.hide()

    def _place_banner(self) -> None:
        area = self.window.view.viewport().geometry()
        self.banner.move(area.x() + max(8, (area.width() - self.banner.width()) // 2), area.y() + 8)

    def _locked_actions(self) -> list:
        actions = []
        for top in self.window.menuBar().actions():
            menu = top.menu()
            if menu is None:
                continue
            for action in menu.actions():
                if top.text() in LOCKED_MENUS or action.text() in LOCKED_ACTIONS:
                    if not action.isSeparator():
                        actions.append(action)
        return actions

    def eventFilter(self, watched, event) -> bool:
        kind = event.type()
        if kind == QEvent.Type.Resize and watched is self.window.view:
            QTimer.singleShot(0, self._place_banner)  # the viewport is resized after the filter runs
        if kind in BLOCKED_MOUSE:
            return True
        if kind == QEvent.Type.KeyPress:
            return True  # arrows nudge, Tab quick-adds; zoom and pan are mouse gestures
        if kind == QEvent.Type.MouseButtonPress and event.button() == Qt.MouseButton.LeftButton:
            return self.window.view.port_at(event.position().toPoint()) is not None  # no wire drags
        return False
