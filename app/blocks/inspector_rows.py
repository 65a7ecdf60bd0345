"""The inspector's form for a block instance: the block's name (typing renames the block, for every
instance), Repeat (1–64, each change one undo step), one row per parameter the block exposes (edited
like any node's param, each change one undo step; an unset one shows the block's default), and
Make unique / Open block buttons."""

from __future__ import annotations

from PySide6.QtWidgets import QFormLayout, QHBoxLayout, QLineEdit, QPushButton, QSpinBox, QWidget

from engine.blocks import exposed_param, instance_repeat, instance_values
from engine.document import instance_block

from .expose import install_expose_actions

MAX_REPEAT_SPIN = 64  # the spin box's range; the engine allows more, typed into a file


def instance_doc(editor, node_id: str) -> str:
    """The inspector's description of an instance: what it is and who shares its block."""
    name = instance_block(editor.doc.nodes[node_id]) or "?"
    uses = len(editor.root.instances_of(name))
    shared = f"It is placed {uses} times: editing the block changes all of them; Make unique gives this one its " \
             "own copy." if uses > 1 else "Editing the block changes it wherever it is placed."
    return f"An instance of block {name}. {shared} Double-click it (or Open block) to edit the layers inside."


class InstanceRows:
    def __init__(self, inspector, node_id: str, form: QFormLayout):
        """`inspector` makes and shows the exposed parameters' widgets as it does a node's params."""
        editor = inspector.editor
        self.inspector, self.editor, self.node_id = inspector, editor, node_id
        self.name = QLineEdit(toolTip="The block's name (letters, digits, _); Enter renames the block for every "
                                      "instance")
        self.name.editingFinished.connect(self._rename)
        self.repeat = QSpinBox(keyboardTracking=False, toolTip="Run the block this many times in sequence, each "
                                                               "copy with its own weights (×N on the node)")
        self.repeat.valueChanged.connect(lambda value: editor.set_param(node_id, "repeat", value))
        self.make_unique = QPushButton("Make unique", toolTip="Give this instance its own copy of the block")
        self.make_unique.clicked.connect(lambda: editor.blocks.make_unique(node_id))
        self.open = QPushButton("Open block", toolTip="Edit the layers inside (double-click the node; Esc goes back)")
        self.open.clicked.connect(lambda: editor.blocks.open_block(node_id))
        buttons = QWidget()
        row = QHBoxLayout(buttons)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.make_unique)
        row.addWidget(self.open)
        form.addRow("block", self.name)
        form.addRow("repeat", self.repeat)
        node = editor.doc.nodes[node_id]
        definition = editor.root.blocks.get(instance_block(node) or "")
        self.params = {}  # exposed name → its Param (kind, range, choices; default the block's)
        for name in definition.exposed if definition is not None else ():
            param = exposed_param(editor.root.blocks, definition, name)
            if param is None:  # its target names nothing editable: validation says so on the instance
                continue
            self.params[name] = param
            widget = inspector.make_widget(param)
            widget.setToolTip(f"{name}: {param.doc} (this instance's own value; the block's default is "
                              f"{param.default!r})")
            inspector.widgets[name] = widget
            form.addRow(name, widget)
        form.addRow(buttons)
        self.exposed = list(definition.exposed) if definition is not None else []  # to rebuild when it changes
        install_expose_actions(inspector, {"block": self.name, "repeat": self.repeat,
                                           **{name: inspector.widgets[name] for name in self.params}})
        self.show()

    def show(self) -> None:
        """Show the document's values (signals blocked: showing is not editing); the block exposing other
        params (or another block chosen) rebuilds the form."""
        node = self.editor.doc.nodes[self.node_id]
        definition = self.editor.root.blocks.get(instance_block(node) or "")
        if (list(definition.exposed) if definition is not None else []) != self.exposed:
            self.inspector.show_node(self.node_id)
            return
        for widget in (self.name, self.repeat):
            widget.blockSignals(True)
        self.name.setText(instance_block(node) or "")
        self.name.setStyleSheet("")
        repeat = instance_repeat(node)
        self.repeat.setRange(1, max(MAX_REPEAT_SPIN, repeat))
        self.repeat.setValue(repeat)
        for widget in (self.name, self.repeat):
            widget.blockSignals(False)
        values = instance_values(self.editor.root.blocks, node)
        for name, param in self.params.items():
            self.inspector.show_value(param, values.get(name))
        self.make_unique.setEnabled(len(self.editor.root.instances_of(instance_block(node) or "")) > 1)

    def _rename(self) -> None:
        old = instance_block(self.editor.doc.nodes[self.node_id])
        if old and self.editor.blocks.rename_block(old, self.name.text()):
            self.name.setStyleSheet("border: 1px solid #e5484d;")
