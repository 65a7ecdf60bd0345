"""The palette: every registered node type, grouped by category, filtered by a search box.

Items drag onto the canvas as `NODE_MIME` data holding the type id; double-clicking one asks for
it to be added at the centre of the view. The tree is built from `nodes.categories()`, so node
families registered later appear without changes here; a last "Blocks" category lists the block
library (app.blocks.library), whose entries travel the same way under a library id.
"""

from __future__ import annotations

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtWidgets import QLineEdit, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from nodes import NodeSpec, categories, get_spec

from .blocks import library

NODE_MIME = "application/x-layerloom-node-type"
TYPE_ROLE = Qt.ItemDataRole.UserRole
BLOCK_ROLE = Qt.ItemDataRole.UserRole + 1  # a library block's entry


def spec_matches(spec: NodeSpec, query: str) -> bool:
    """Case-insensitive match on title or type id ("conv" finds Conv1d, Conv2d, ConvTranspose2d)."""
    query = query.strip().lower()
    return not query or query in spec.title.lower() or query in spec.type_id.lower()


class _Tree(QTreeWidget):
    def mimeData(self, items) -> QMimeData:
        mime = QMimeData()
        type_ids = [i.data(0, TYPE_ROLE) for i in items if i.data(0, TYPE_ROLE)]
        if type_ids:
            mime.setData(NODE_MIME, type_ids[0].encode())
        return mime

    def mimeTypes(self) -> list[str]:
        return [NODE_MIME]


class Palette(QWidget):
    activated = Signal(str)  # type id (or library block id) double-clicked

    def __init__(self, parent=None):
        super().__init__(parent)
        self.search = QLineEdit(placeholderText="Search nodes…  (e.g. conv)", clearButtonEnabled=True)
        self.tree = _Tree(headerHidden=True, dragEnabled=True)
        self.tree.setDragDropMode(QTreeWidget.DragDropMode.DragOnly)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.search)
        layout.addWidget(self.tree)
        self.search.textChanged.connect(self.filter)
        self.tree.itemDoubleClicked.connect(self._double_clicked)
        self.rebuild()

    def rebuild(self) -> None:
        self.tree.clear()
        for category, specs in categories().items():
            group = QTreeWidgetItem(self.tree, [category])
            group.setFlags(Qt.ItemFlag.ItemIsEnabled)
            for spec in specs:
                item = QTreeWidgetItem(group, [spec.title])
                item.setData(0, TYPE_ROLE, spec.type_id)
                item.setToolTip(0, f"<b>{spec.title}</b><br>{spec.doc}")
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled)
        group = QTreeWidgetItem(self.tree, [library.CATEGORY])
        group.setFlags(Qt.ItemFlag.ItemIsEnabled)
        for entry in library.entries():
            item = QTreeWidgetItem(group, [entry.name])
            item.setData(0, TYPE_ROLE, library.palette_id(entry))
            item.setData(0, BLOCK_ROLE, entry)
            item.setToolTip(0, library.tooltip(entry))
            item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled)
        self.tree.expandAll()
        self.filter(self.search.text())

    def filter(self, query: str) -> None:
        for i in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(i)
            shown = 0
            for j in range(group.childCount()):
                child = group.child(j)
                entry = child.data(0, BLOCK_ROLE)
                matched = library.matches(entry, query) if entry else spec_matches(get_spec(child.data(0, TYPE_ROLE)),
                                                                                   query)
                child.setHidden(not matched)
                shown += matched
            group.setHidden(shown == 0)
            group.setExpanded(True)

    def visible_type_ids(self) -> list[str]:
        return [group.child(j).data(0, TYPE_ROLE)
                for i in range(self.tree.topLevelItemCount()) if not (group := self.tree.topLevelItem(i)).isHidden()
                for j in range(group.childCount())
                if not group.child(j).isHidden() and not group.child(j).data(0, BLOCK_ROLE)]

    def visible_blocks(self) -> list[str]:
        """The names of the library blocks the search leaves shown."""
        return [group.child(j).data(0, BLOCK_ROLE).name
                for i in range(self.tree.topLevelItemCount()) if not (group := self.tree.topLevelItem(i)).isHidden()
                for j in range(group.childCount())
                if not group.child(j).isHidden() and group.child(j).data(0, BLOCK_ROLE)]

    def _double_clicked(self, item: QTreeWidgetItem) -> None:
        if item.data(0, TYPE_ROLE):
            self.activated.emit(item.data(0, TYPE_ROLE))
