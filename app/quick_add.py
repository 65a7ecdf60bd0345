"""The quick-add popup: type a few letters, press Enter, and the node appears at the cursor.

Opened by double-clicking empty canvas, pressing Tab, or dropping a dragged wire on empty canvas
(then only node types that can take that wire are listed).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QPoint, Qt, Signal
from PySide6.QtWidgets import QFrame, QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout

from nodes import NodeSpec, all_specs, get_spec

from .palette import TYPE_ROLE, spec_matches


class QuickAdd(QFrame):
    chosen = Signal(str)  # type id

    def __init__(self, parent=None):
        super().__init__(parent, Qt.WindowType.Popup)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.search = QLineEdit(placeholderText="Add node…")
        self.list = QListWidget()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.search)
        layout.addWidget(self.list)
        self.resize(240, 300)
        self.search.textChanged.connect(self._filter)
        self.search.returnPressed.connect(self._choose_current)
        self.search.installEventFilter(self)
        self.list.itemActivated.connect(self._choose)
        self.list.itemClicked.connect(self._choose)

    def open_at(self, global_pos: QPoint, accepts: Callable[[NodeSpec], bool] = lambda spec: True) -> None:
        self.list.clear()
        for spec in all_specs():
            if accepts(spec):
                item = QListWidgetItem(f"{spec.title}   ·  {spec.category}")
                item.setData(TYPE_ROLE, spec.type_id)
                item.setToolTip(spec.doc)
                self.list.addItem(item)
        self.search.clear()
        self._filter("")
        self.move(global_pos)
        self.show()
        self.search.setFocus()

    def _filter(self, query: str) -> None:
        first = None
        for i in range(self.list.count()):
            item = self.list.item(i)
            hidden = not spec_matches(get_spec(item.data(TYPE_ROLE)), query)
            item.setHidden(hidden)
            if not hidden and first is None:
                first = item
        self.list.setCurrentItem(first)

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.Type.KeyPress and event.key() in (Qt.Key.Key_Up, Qt.Key.Key_Down):
            self._step(-1 if event.key() == Qt.Key.Key_Up else 1)
            return True
        return super().eventFilter(watched, event)

    def _step(self, direction: int) -> None:
        rows = [i for i in range(self.list.count()) if not self.list.item(i).isHidden()]
        if rows:
            current = self.list.currentRow()
            index = rows.index(current) + direction if current in rows else 0
            self.list.setCurrentRow(rows[max(0, min(index, len(rows) - 1))])

    def _choose_current(self) -> None:
        item = self.list.currentItem()
        if item is not None and not item.isHidden():
            self._choose(item)

    def _choose(self, item: QListWidgetItem) -> None:
        self.hide()
        self.chosen.emit(item.data(TYPE_ROLE))
