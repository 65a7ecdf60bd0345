"""Right-click menus on the canvas: one for a node (rename, duplicate, delete, disconnect; group a
selection, open/ungroup/save a block instance) and one for empty canvas (add node, paste,
auto-layout, frame all). Every entry calls the Editor or the view, so it is the same undoable edit
as its shortcut, which the menu shows beside it."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QInputDialog, QMenu, QWidget

from .blocks.menu import add_block_entries
from .node_item import NodeItem
from .tuning_rows import may_hold_weights


def node_at(view, pos: QPoint) -> NodeItem | None:
    """The node under the view position `pos` (its body, a port or a badge)."""
    for item in view.items(pos):
        while item is not None and not isinstance(item, NodeItem):
            item = item.parentItem()
        if isinstance(item, NodeItem):
            return item
    return None


def ask_rename(parent: QWidget, editor, node_id: str) -> None:
    new, ok = QInputDialog.getText(parent, "Rename node", f"New id for {node_id} (letters, digits, _):",
                                   text=node_id)
    if ok:
        editor.rename_node(node_id, new)


def canvas_menu(view, pos: QPoint) -> QMenu:
    """The menu for a right click at view position `pos`."""
    editor, menu = view.editor, QMenu(view)
    node = node_at(view, pos)
    scene_pos: QPointF = view.mapToScene(pos)

    def add(text: str, slot, shortcut: str | None = None):
        action = menu.addAction(text, slot)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))  # shown in the menu; the window's action handles the key
        return action

    if node is not None:
        node_id = node.node_id
        if node_id not in view.scene().selected_node_ids():
            view.scene().select_nodes([node_id])
        add_block_entries(add, menu, editor, node_id, view.scene().selected_node_ids())
        add(f"Rename {node_id}…", lambda: ask_rename(view, editor, node_id), "F2")
        add("Duplicate", editor.duplicate, "Ctrl+D")
        add("Disconnect", lambda: editor.disconnect_node(node_id)).setEnabled(
            any(node_id in (e.src, e.dst) for e in editor.doc.edges))
        menu.addSeparator()
        add_tuning_entries(menu, view, editor, view.scene().selected_node_ids())
        add("Delete", editor.delete_selection, "Delete")
    else:
        add("Add node…", lambda: view.open_quick_add(scene_pos), "Tab")
        add("Paste", lambda: editor.paste((scene_pos.x(), scene_pos.y())), "Ctrl+V")
        menu.addSeparator()
        add("Auto-layout", view.auto_layout, "Ctrl+L")
        add("Frame all", view.frame_all, "F")
    return menu


def add_tuning_entries(menu: QMenu, parent: QWidget, editor, node_ids: list[str]) -> None:
    """Freeze / Unfreeze and a learning-rate factor for the selected nodes (fine-tuning, top level only:
    inside a block the settings would name the definition's nodes, which the trainer does not know)."""
    if editor.doc is not editor.root or not all(may_hold_weights(editor.doc, n) for n in node_ids):
        return
    frozen = set(editor.doc.training.get("frozen") or ())
    if all(node_id in frozen for node_id in node_ids):
        menu.addAction("Unfreeze", lambda: editor.set_frozen(node_ids, False))
    else:
        menu.addAction("Freeze (keep its weights while training)", lambda: editor.set_frozen(node_ids, True))
    menu.addAction("Learning rate factor…", lambda: ask_lr_scale(parent, editor, node_ids))
    menu.addSeparator()


def ask_lr_scale(parent: QWidget, editor, node_ids: list[str]) -> None:
    scales = editor.doc.training.get("lr_scale") or {}
    current = scales.get(node_ids[0], 1.0)
    factor, ok = QInputDialog.getDouble(parent, "Learning rate factor",
                                        f"Train {', '.join(node_ids)} at this many times the learning rate "
                                        "(1 = the learning rate):", current, 0.0001, 1000.0, 4)
    if ok:
        editor.set_lr_scale(node_ids, factor)

