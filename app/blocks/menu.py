"""Where the block gestures live in menus: the Edit menu's entries (with their keys) and the entries
a block instance adds to its right-click menu."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QInputDialog, QMainWindow, QMenu, QWidget

from engine.blocks import is_instance
from engine.document import instance_block


def install_block_actions(window: QMainWindow, menu: QMenu, canvas: QWidget) -> list[QAction]:
    """Group (Ctrl+G), Ungroup (Ctrl+Shift+G), Open block and Up one level (Esc, on the canvas)."""
    editor, scene = window.editor, window.scene
    actions = []
    for text, slot, keys in (("&Group into block", editor.blocks.group, "Ctrl+G"),
                             ("U&ngroup block", editor.blocks.ungroup, "Ctrl+Shift+G"),
                             ("&Open block", editor.blocks.open_block, None),
                             ("Close block (&up one level)", scene.go_up, "Esc")):
        action = QAction(text, window)
        action.triggered.connect(lambda _=False, s=slot: s())
        if keys:
            action.setShortcut(QKeySequence(keys))
        if keys == "Esc":  # only on the canvas: Esc belongs to whatever else has the focus
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            canvas.addAction(action)
        else:
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            window.addAction(action)
        menu.addAction(action)
        actions.append(action)
    return actions


def add_block_entries(add: Callable, menu: QMenu, editor, node_id: str, selected: list[str]) -> None:
    """The block entries of a node's right-click menu: group a multi-selection; open, ungroup, make
    unique and save an instance. `add(text, slot, shortcut)` adds one entry."""
    node = editor.doc.nodes[node_id]
    grouping = len(selected) > 1 and node_id in selected
    if grouping:
        add(f"Group {len(selected)} nodes into block", editor.blocks.group, "Ctrl+G")
    if is_instance(node):
        add(f"Open block {instance_block(node)}", lambda: editor.blocks.open_block(node_id))
        add("Ungroup", lambda: editor.blocks.ungroup(node_id), "Ctrl+Shift+G")
        add("Make unique", lambda: editor.blocks.make_unique(node_id))
        add("Save block to library…", lambda: ask_save(menu.parentWidget(), editor, node_id))
    if grouping or is_instance(node):
        menu.addSeparator()


def ask_save(parent: QWidget, editor, node_id: str) -> bool:
    """Ask for a one-line description, then save the instance's block to the user's library."""
    name = instance_block(editor.doc.nodes[node_id])
    definition = editor.root.blocks.get(name or "")
    description, ok = QInputDialog.getText(parent, "Save block to library",
                                           f"Description of block {name} (shown in the palette):",
                                           text=definition.description if definition else "")
    return ok and editor.blocks.save_to_library(node_id, description)
