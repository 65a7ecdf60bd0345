"""The breadcrumb bar above the canvas while a block is open: `graph › block1 › block3`.

Each crumb goes back to that level; the bar also says which block is being edited and that every
instance of it changes. On the graph itself the bar is hidden.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

if TYPE_CHECKING:
    from .scene import BlockScene

SEPARATOR = "›"


class Breadcrumb(QWidget):
    def __init__(self, scene: BlockScene, parent=None):
        super().__init__(parent)
        self.scene = scene
        self.setObjectName("BlockBreadcrumb")
        self.row = QHBoxLayout(self)
        self.row.setContentsMargins(8, 3, 8, 3)
        self.buttons: list[QToolButton] = []
        self.note = QLabel()
        scene.scope_changed.connect(self.refresh)
        self.refresh()

    def text(self) -> str:
        """The crumbs as shown, `graph › block1 › block3`."""
        return f" {SEPARATOR} ".join(b.text() for b in self.buttons)

    def refresh(self) -> None:
        while self.row.count():
            widget = self.row.takeAt(0).widget()
            if widget is not None and widget is not self.note:
                widget.deleteLater()
        self.buttons = []
        crumbs = self.scene.crumbs()
        if len(crumbs) == 1:
            self.hide()
            return
        for depth, (label, block) in enumerate(crumbs):
            if depth:
                self.row.addWidget(QLabel(SEPARATOR))
            button = QToolButton(text=label, autoRaise=True)
            last = depth == len(crumbs) - 1
            button.setEnabled(not last)
            button.setToolTip("This block" if last else (f"Back to {label} (block {block})" if block else
                                                         f"Back to the graph {label} (Esc goes up one level)"))
            button.clicked.connect(lambda _=False, d=depth: self.scene.go_to(d))
            self.buttons.append(button)
            self.row.addWidget(button)
        name = crumbs[-1][1]
        uses = len(self.scene.root.instances_of(name))
        self.note.setText(f"editing block <b>{name}</b> — changes apply to {'all ' * (uses > 1)}"
                          f"{uses} instance{'s' * (uses != 1)}")
        self.row.addSpacing(12)
        self.row.addWidget(self.note)
        self.row.addStretch(1)
        self.show()


class CanvasWithBreadcrumb(QWidget):
    """The canvas with its breadcrumb bar above it: the window's central widget."""

    def __init__(self, view: QWidget, scene: BlockScene, parent=None):
        super().__init__(parent)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        self.breadcrumb = Breadcrumb(scene, self)
        column.addWidget(self.breadcrumb)
        column.addWidget(view, 1)
