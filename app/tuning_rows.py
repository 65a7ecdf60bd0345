"""The inspector's fine-tuning rows for the selected node or block instance: "Freeze while training"
(training.frozen) and its learning-rate factor (training.lr_scale) — the same undoable edits as the
canvas menu's Freeze / Learning rate factor…. Shown for the document's own nodes only: inside a
block the settings would name the definition's nodes, which a run does not know by those ids."""

from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QFormLayout, QWidget

from engine.blocks import is_instance
from nodes import get_spec

from .node_item import tuning_of


class TuningRows(QWidget):
    def __init__(self, editor, parent=None):
        super().__init__(parent)
        self.editor = editor
        self.node_id: str | None = None
        self.frozen = QCheckBox("Freeze while training", toolTip="Training leaves this node's weights and "
                                "normalisation statistics as they are (fine-tuning a pretrained network)")
        self.scale = QDoubleSpinBox(decimals=4, keyboardTracking=False, minimum=0.0001, maximum=1000.0,
                                    singleStep=0.1, value=1.0, toolTip="This node trains at this many times the "
                                    "learning rate (discriminative learning rates: lower for a pretrained backbone)")
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow(self.frozen)
        form.addRow("learning rate ×", self.scale)
        self.frozen.toggled.connect(lambda on: self.editor.set_frozen([self.node_id], on))
        self.scale.valueChanged.connect(lambda factor: self.editor.set_lr_scale([self.node_id], factor))
        editor.root.subscribe(self._on_event)
        self.show_node(None)

    def show_node(self, node_id: str | None) -> None:
        shown = node_id is not None and self.editor.doc is self.editor.root and may_hold_weights(self.editor.root,
                                                                                                   node_id)
        self.node_id = node_id if shown else None
        self.setVisible(self.node_id is not None)
        if self.node_id is None:
            return
        frozen, scale = tuning_of(self.editor.root.training, self.node_id)
        for widget, value in ((self.frozen, frozen), (self.scale, 1.0 if scale is None else scale)):
            widget.blockSignals(True)
            widget.setChecked(value) if widget is self.frozen else widget.setValue(value)
            widget.blockSignals(False)
        self.scale.setEnabled(not frozen)

    def _on_event(self, event: str, **payload) -> None:
        if event == "training_changed" and payload.get("key") in ("frozen", "lr_scale"):
            self.show_node(self.node_id)


def may_hold_weights(doc, node_id: str) -> bool:
    """A block instance, or a node built as a module of its own (not a function such as ReLU, not an Input)."""
    node = doc.nodes.get(node_id)
    if node is None:
        return False
    if is_instance(node):
        return True
    spec = get_spec(node.type_id)
    return spec is not None and spec.role == "layer" and spec.build is not None and spec.function is None

