"""The canvas scene with blocks: instances drawn as one card, and a block's definition opened in place.

`path` is the way down from the graph: the id of an instance in the graph, then of an instance inside
that one's definition, and so on. While it is not empty the scene mirrors the definition at its end
(`doc`), whose events reach it from the graph as `block_changed`; the graph (`root`) is still what is
validated, and the canvas draws the definition's part of that report seen from the path's instance
(`engine.block_expand.definition_view`), so wires inside show the shapes that instance gets. When an
edit or an undo takes the path away (the instance deleted, the block ungrouped), the scene goes up to
where the path still leads.
"""

from __future__ import annotations

from PySide6.QtCore import Signal

from engine.block_expand import definition_view
from engine.blocks import is_instance, is_port, path_definitions
from engine.document import GraphDocument, instance_block
from engine.steps import Steps
from engine.validate import ValidationReport, validation_steps

from ..node_item import NodeItem
from ..scene import GraphScene
from .instance_item import InstanceItem, port_node_item


class BlockScene(GraphScene):
    scope_changed = Signal()  # a block was opened or left: the breadcrumb, inspector and view follow

    def __init__(self, doc: GraphDocument, theme, parent=None):
        self.root = doc
        self.path: list[str] = []
        self._names: list[str] = []  # the definitions the path leads through
        super().__init__(doc, theme, parent)

    # -- where the canvas is ---------------------------------------------------------------------
    def scope(self) -> str | None:
        """The name of the open definition, or None on the graph."""
        return self._names[-1] if self._names else None

    def crumbs(self) -> list[tuple[str, str | None]]:
        """(label, definition name) from the graph down to the open block: the breadcrumb's entries."""
        return [(self.root.name, None), *zip(self.path, self._names, strict=True)]

    def open_block(self, instance_id: str) -> bool:
        """Show the definition of instance `instance_id` (a node of the current view); False if it has none."""
        if len(self._resolve([*self.path, instance_id])) <= len(self.path):
            return False
        self.path.append(instance_id)
        self._show()
        return True

    def go_to(self, depth: int) -> None:
        """Show the graph (0) or the block `depth` levels down the path."""
        if depth < len(self.path):
            del self.path[depth:]
            self._show()

    def go_up(self) -> bool:
        if not self.path:
            return False
        self.go_to(len(self.path) - 1)
        return True

    def _resolve(self, path: list[str]) -> list[str]:
        """The definitions `path` leads through, as far as it still leads (an inner instance's block as
        the path's instances choose it through their exposed parameters)."""
        return path_definitions(self.root, path)

    def _show(self) -> None:
        self._names = self._resolve(self.path)
        del self.path[len(self._names):]
        self.doc = self.root.blocks[self._names[-1]] if self._names else self.root
        self._structure_changed = True
        self._on_reset()
        self.scope_changed.emit()

    def _follow_path(self) -> None:
        """After an edit: go up if the path no longer leads where it did (or to the same definition)."""
        names = self._resolve(self.path)
        if names != self._names or (names and self.root.blocks[names[-1]] is not self.doc):
            self._show()

    # -- document events ---------------------------------------------------------------------------
    def local_event(self, event: str, payload: dict) -> tuple[str, dict] | None:
        """A document event as the current view sees it: the graph's own events on the graph, the open
        definition's (unwrapped from block_changed) inside a block; None for the rest."""
        if not self.path:
            return None if event == "block_changed" else (event, payload)
        if event == "block_changed" and payload["block"] == self.scope():
            return payload["change"], payload["payload"]
        return None

    def _on_event(self, event: str, **payload) -> None:
        self.revision += 1  # (any scope's event: the root's, or a definition's)
        if event == "reset":
            self.path, self._names, self.doc = [], [], self.root
        if event in ("block_changed", "block_added", "block_removed"):
            self._structure_changed = True  # what an instance holds changed: validate the graph whole
        local = self.local_event(event, payload)
        if local is not None:
            super()._on_event(local[0], **local[1])
        else:
            self.schedule_validation()
        if event == "block_changed" and payload["change"] in ("node_added", "node_removed"):
            self._refresh_instances(payload["block"])  # its ports may have changed
        if event == "reset":
            self.scope_changed.emit()
        elif self.path:
            self._follow_path()

    def _on_param_changed(self, node_id: str, name: str, value) -> None:
        if name == "block" and is_instance(self.doc.nodes[node_id]):
            self._replace_item(node_id)  # another definition: other ports
        super()._on_param_changed(node_id, name, value)

    def _refresh_instances(self, block: str) -> None:
        for node_id, node in self.doc.nodes.items():
            if is_instance(node) and instance_block(node) == block and node_id in self.items_by_id:
                self._replace_item(node_id)

    def _replace_item(self, node_id: str) -> None:
        old = self.items_by_id.pop(node_id)
        selected = old.isSelected()
        self.removeItem(old)
        self._on_node_added(node_id)
        self.items_by_id[node_id].setSelected(selected)
        for edge in self._wires_of.get(node_id, ()):
            self._place_wire(self.wires[edge])

    def _make_item(self, node_id: str) -> NodeItem:
        node = self.doc.nodes[node_id]
        if is_instance(node):
            return InstanceItem(node_id, node.params, self.root.blocks.get(instance_block(node) or ""))
        if is_port(node):
            return port_node_item(node_id, node.type_id)
        return super()._make_item(node_id)

    # -- validation ----------------------------------------------------------------------------------
    def _report_steps(self) -> Steps:
        if self.path:  # the graph is validated whole; `_shown` picks the open block's part
            return (yield from validation_steps(self.root))
        return (yield from super()._report_steps())

    def _shown(self, report: ValidationReport) -> ValidationReport:
        if not self.path:
            return report
        try:
            return definition_view(self.root, report, self.path)
        except KeyError:  # the instance cannot be expanded (its problem is reported on it)
            return ValidationReport()

    def apply_param_counts(self, counts: dict[str, int]) -> None:
        """The stats count the graph's nodes (an instance: all it holds); inside a block they do not apply."""
        super().apply_param_counts(counts if not self.path else {})
