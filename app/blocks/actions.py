"""What the block gestures do: each method is one undoable edit (or a move through the canvas).

Group, ungroup, make unique, rename and placing a library block run the engine's operation on the
document and push a `DocumentEditCommand` recording it, so each is a single undo step; a refused
operation (the engine says why) leaves the document as it was and explains itself in the status bar.
The operations apply where the canvas is: in the graph, or inside the open block's definition.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from PySide6.QtCore import QObject, QPointF, Signal

from engine import block_edit, block_library
from engine.blocks import is_instance
from engine.document import block_name_problem, instance_block
from engine.errors import DocumentError

from .commands import DocumentEditCommand, DocumentState

if TYPE_CHECKING:
    from ..editor import Editor

T = TypeVar("T")


class BlockActions(QObject):
    library_changed = Signal()  # a block was saved to the library: the palette lists it

    def __init__(self, editor: Editor):
        super().__init__(editor)
        self.editor, self.scene, self.root = editor, editor.scene, editor.root
        self.scene.scope_changed.connect(self._lay_out_opened_block)

    # -- edits ------------------------------------------------------------------------------------
    def group(self, node_ids: list[str] | None = None) -> str | None:
        """The selected nodes (or `node_ids`) become a new block and one instance in their place."""
        chosen = self.scene.selected_node_ids() if node_ids is None else node_ids
        if not chosen:
            self.editor.message.emit("Select the nodes to group into a block (Ctrl+G).")
            return None
        instance = self._edit("Group into block", lambda inside: block_edit.group(self.root, chosen, inside=inside))
        if instance is not None:
            self.scene.select_nodes([instance])
            name = instance_block(self.editor.doc.nodes[instance])
            self.editor.message.emit(f"Grouped {len(chosen)} node(s) into block {name} ({instance}); rename it in "
                                     "the inspector, double-click to open it.")
        return instance

    def ungroup(self, instance_id: str | None = None) -> list[str] | None:
        """Put the instance's layers back in its place (the selected instance by default)."""
        instance_id = instance_id or self._selected_instance("ungroup")
        if instance_id is None:
            return None
        ids = self._edit(f"Ungroup {instance_id}",
                         lambda inside: block_edit.ungroup(self.root, instance_id, inside=inside))
        if ids is not None:
            self.scene.select_nodes(ids)
        return ids

    def make_unique(self, instance_id: str) -> str | None:
        """Give one instance its own copy of the block, to edit without changing the others."""
        return self._edit(f"Make {instance_id} unique",
                          lambda inside: block_edit.make_unique(self.root, instance_id, inside=inside))

    def rename_block(self, old: str, new: str) -> str | None:
        """Rename definition `old` (every instance follows) as one undo step; returns why not."""
        new = new.strip()
        if new == old:
            return None
        problem = f"a block named {new!r} already exists" if new in self.root.blocks else block_name_problem(new)
        if problem:
            self.editor.message.emit(f"Cannot rename block {old}: {problem}")
            return problem

        def rename(_inside):
            self.root.add_block(new, block_edit.copy_definition(self.root.block(old)),
                                list(self.root.blocks).index(old) + 1)
            for where, node_id in self.root.instances_of(old):
                (self.root if where is None else self.root.block(where)).set_param(node_id, "block", new)
            self.root.remove_block(old)

        self._edit(f"Rename block {old} to {new}", rename)
        return None

    def expose(self, node_id: str, param: str, name: str) -> bool:
        """Expose `node_id.param` of the open block as its instances' param `name` (one undo step)."""
        block = self.scene.scope()
        if block is None:
            self.editor.message.emit("Open a block to expose its layers' params on it.")
            return False
        done = self._edit(f"Expose {node_id}.{param} as {name}",
                          lambda inside: block_edit.expose(self.root, inside, node_id, param, name) or True)
        if done:
            self.editor.message.emit(f"Every instance of {block} now sets {name} ({node_id}.{param}); the "
                                     "inspector shows it on each instance.")
        return bool(done)

    def unexpose(self, name: str, target: str) -> bool:
        """Stop exposing `target` of the open block under `name` (one undo step)."""
        done = self._edit(f"Stop exposing {target}",
                          lambda inside: block_edit.unexpose(self.root, inside, name, target) or True)
        return bool(done)

    def place_from_library(self, entry: block_library.LibraryBlock, pos: QPointF) -> str | None:
        """An instance of a library block at `pos` (its definitions come along)."""
        position = self.scene.snapped(pos)
        instance = self._edit(f"Place block {entry.name}", lambda inside: block_library.place_block(
            self.root, entry, position, inside=inside))
        if instance is not None:
            self.scene.select_nodes([instance])
        return instance

    def save_to_library(self, instance_id: str, description: str = "") -> bool:
        """Write the instance's block to the user's library (no document change)."""
        name = instance_block(self.editor.doc.nodes[instance_id])
        try:
            path = block_library.save_block(self.root, name, description=description)
        except (DocumentError, OSError) as exc:
            self.editor.message.emit(f"Cannot save block {name} to the library: {exc}")
            return False
        self.editor.message.emit(f"Saved block {name} to the library ({path}); the palette's Blocks list has it.")
        self.library_changed.emit()
        return True

    # -- moving through blocks ------------------------------------------------------------------
    def open_block(self, instance_id: str | None = None) -> bool:
        instance_id = instance_id or self._selected_instance("open")
        if instance_id is None:
            return False
        if not self.scene.open_block(instance_id):
            self.editor.message.emit(f"Cannot open {instance_id}: its block definition is missing.")
            return False
        return True

    def _lay_out_opened_block(self) -> None:
        """A graph is laid out one level at a time: a definition whose nodes pile up on a few spots (one
        written without positions) is laid out when it is opened, like a file when it opens."""
        if self.scene.path:
            self.editor.spread_pile()

    # -- helpers --------------------------------------------------------------------------------------
    def _selected_instance(self, verb: str) -> str | None:
        selected = self.scene.selected_node_ids()
        if len(selected) == 1 and is_instance(self.editor.doc.nodes[selected[0]]):
            return selected[0]
        self.editor.message.emit(f"Select one block to {verb} it.")
        return None

    def _edit(self, text: str, operation: Callable[[str | None], T]) -> T | None:
        """Run `operation(inside)` on the document and push it as one undo step; None when refused."""
        stack = self.editor.stack
        if stack.locked_reason:
            stack.refused.emit(f"{text} refused: {stack.locked_reason}")
            return None
        before = DocumentState.capture(self.root)
        try:
            result = operation(self.scene.scope())
        except DocumentError as exc:
            before.restore(self.root)  # whatever the operation did before it stopped
            self.editor.message.emit(f"Cannot {text[0].lower()}{text[1:]}: {exc}")
            return None
        stack.push(DocumentEditCommand(self.root, before, DocumentState.capture(self.root), text))
        return result

