"""Help → Keyboard shortcuts: every menu action that has a key, read from the menus themselves (so
the list cannot go stale), plus the canvas gestures that have no menu entry."""

from __future__ import annotations

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QHeaderView, QTableWidget, QTableWidgetItem, QVBoxLayout

GESTURES = (
    ("Canvas", "Tab", "Add a node (wired to the selected node's output)"),
    ("Canvas", "Double-click empty canvas", "Add a node here"),
    ("Canvas", "Drag from a port", "Wire; release on empty canvas to add a wired node"),
    ("Canvas", "Drop a layer on a wire", "Insert it into the wire"),
    ("Canvas", "Wheel", "Zoom at the pointer"),
    ("Canvas", "Middle drag / Space + drag", "Pan"),
    ("Canvas", "Arrow keys", "Nudge the selection"),
    ("Canvas", "Right click", "Node or canvas menu"),
    ("Canvas", "Double-click a block", "Open it: edit its layers (every instance changes)"),
    ("Canvas", "Esc, or Backspace with nothing selected", "Inside a block: up one level"),
)


def shortcut_rows(window) -> list[tuple[str, str, str]]:
    """(menu, keys, action) for every action with a shortcut in the window's menu bar."""
    rows = []
    for top in window.menuBar().actions():
        menu = top.menu()
        if menu is None:
            continue
        for action in menu.actions():
            keys = [k.toString(QKeySequence.SequenceFormat.NativeText) for k in action.shortcuts()]
            if keys and action.text():
                rows.append((top.text().replace("&", ""), ", ".join(keys), action.text().replace("&", "")))
    return rows


class ShortcutsDialog(QDialog):
    def __init__(self, window):
        super().__init__(window)
        self.setWindowTitle("Keyboard shortcuts")
        rows = shortcut_rows(window) + list(GESTURES)
        self.table = QTableWidget(len(rows), 3)
        self.table.setHorizontalHeaderLabels(["Where", "Keys", "Does"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                self.table.setItem(r, c, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, rejected=self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(620, 560)
