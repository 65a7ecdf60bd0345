"""The inspector's "Set classes from dataset" button, shown for a classifier's head (the layer whose scores
a class loss reads, engine.data_fit.head_classes): one undoable edit sets its out_features to the dataset's
class count — how a pretrained network's head is replaced for the user's classes. The dataset is what the
training controller last had the worker describe (`set_dataset`); until then, or for any other node, the row
is hidden."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QPushButton, QWidget

from engine.data_fit import head_classes


class HeadRow(QWidget):
    def __init__(self, editor, parent=None):
        super().__init__(parent)
        self.editor = editor
        self.node_id: str | None = None
        self.dataset: dict | None = None
        self.button = QPushButton(toolTip="Give this classifier head one output per class of the training "
                                          "dataset (a new head for fine-tuning)")
        self.button.clicked.connect(self._apply)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.button)
        editor.root.subscribe(self._on_event)
        self.show_node(None)

    def set_dataset(self, info: dict | None) -> None:
        self.dataset = info
        self.show_node(self.node_id)

    def fix(self):
        """The edit the button makes, or None where it does not apply (inside a block: its nodes are shared)."""
        if self.editor.doc is not self.editor.root:
            return None
        return head_classes(self.editor.root, self.node_id, self.dataset)

    def show_node(self, node_id: str | None) -> None:
        self.node_id = node_id
        fix = self.fix()
        self.setVisible(fix is not None)
        if fix is None:
            return
        current = self.editor.root.nodes[fix.node].params.get(fix.param)
        self.button.setText(f"Set classes from dataset ({fix.value})")
        self.button.setEnabled(current != fix.value)

    def _apply(self) -> None:
        if fix := self.fix():
            self.editor.set_param(*fix)

    def _on_event(self, event: str, **payload) -> None:
        if event in ("param_changed", "edge_added", "edge_removed") and self.node_id is not None:
            self.show_node(self.node_id)
