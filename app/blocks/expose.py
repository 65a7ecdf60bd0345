"""Exposing an inner param on its block, from the inspector while a block is open.

Inside a definition, right-clicking a param's label in the inspector offers "Expose on the block…":
it asks the name the instances set it by (an existing name makes that one drive this param too — one
`channels` for conv1 and conv2) and is one undo step (`BlockActions.expose`). A param already exposed
offers "Stop exposing" instead, and its label says under which name the instances set it.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QInputDialog, QLabel, QWidget


def install_expose_actions(inspector, rows: dict[str, QWidget]) -> None:
    """Give each row's label (`rows`: param → its widget in the inspector's form) the expose entries,
    when the inspector shows a node inside an open block."""
    editor = inspector.editor
    block = editor.scene.scope()
    if block is None or inspector.node_id is None:
        return
    exposed = editor.root.block(block).exposed
    for param, widget in rows.items():
        label = inspector.form.labelForField(widget)
        if not isinstance(label, QLabel):
            continue
        target = f"{inspector.node_id}.{param}"
        name = next((name for name, targets in exposed.items() if target in targets), None)
        if name is None:
            action = QAction("Expose on the block…", label)
            action.triggered.connect(lambda _=False, p=param: ask_expose(inspector, p))
            label.setToolTip(f"Right-click to expose {target} on block {block}: each instance then sets it")
        else:
            action = QAction(f"Stop exposing as {name}", label)
            action.triggered.connect(lambda _=False, n=name, t=target: editor.blocks.unexpose(n, t))
            label.setText(f"{param} ⇢ {name}")
            label.setToolTip(f"Exposed on block {block} as {name}: each instance sets it (right-click to stop)")
        label.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        label.addAction(action)


def ask_expose(inspector, param: str) -> bool:
    """Ask the name to expose `param` of the inspected node under, then expose it (one undo step)."""
    editor, node_id = inspector.editor, inspector.node_id
    block = editor.scene.scope()
    existing = list(editor.root.block(block).exposed)
    name, ok = QInputDialog.getItem(
        inspector, "Expose on the block",
        f"The name instances of {block} set {node_id}.{param} by (choose an existing name to let it drive this "
        "param too):", [param, *(n for n in existing if n != param)], 0, True)
    return ok and editor.blocks.expose(node_id, param, name.strip())
