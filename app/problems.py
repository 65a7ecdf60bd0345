"""The problems panel: every diagnostic of the last validation; clicking one shows its node."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QListWidget, QListWidgetItem

from engine.validate import ValidationReport

NODE_ROLE = Qt.ItemDataRole.UserRole


class ProblemsPanel(QListWidget):
    node_clicked = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.itemClicked.connect(self._clicked)

    def sizeHint(self) -> QSize:
        return QSize(400, 90)  # a few lines: the canvas gets the height

    def show_report(self, report: ValidationReport) -> None:
        self.clear()
        for d in sorted(report.diagnostics, key=lambda d: d.severity != "error"):
            item = QListWidgetItem(f"{'✖' if d.severity == 'error' else '⚠'}  {d}")
            item.setData(NODE_ROLE, d.node)
            item.setForeground(QColor("#e5484d" if d.severity == "error" else "#d9a400"))
            self.addItem(item)
        if not report.diagnostics:
            self.addItem(QListWidgetItem("✔  No problems: the graph is valid."))

    def _clicked(self, item: QListWidgetItem) -> None:
        if item.data(NODE_ROLE):
            self.node_clicked.emit(item.data(NODE_ROLE))
