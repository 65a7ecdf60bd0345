"""New, open, save, templates, recent files and crash recovery for the window's one document.

Opening replaces the document's content in place (`GraphDocument.replace_with`), so the scene and
panels, which subscribe to that one document, simply rebuild. A file that cannot be read is
reported with the DocumentError's text and the current document is left exactly as it was.
"""

from __future__ import annotations

import gc
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from engine.document import GraphDocument
from engine.errors import DocumentError
from engine.fileformat import load_document, save_document

from . import settings
from .autosave import discard_recovery, pending_recovery
from .editor import Editor

FILE_FILTER = "Layerloom graph (*.json)"
Button = QMessageBox.StandardButton


class DocumentFiles(QObject):
    changed = Signal()  # the file path (and so the title) changed
    opened = Signal()  # new content was loaded: frame it
    saved_as = Signal(object, object)  # (old path or None, new path): the same graph, saved at a new place

    def __init__(self, window: QWidget, editor: Editor):
        super().__init__(window)
        self.window, self.editor, self.doc, self.stack = window, editor, editor.doc, editor.stack
        self.path: Path | None = None

    @property
    def display_name(self) -> str:
        return self.path.name if self.path else self.doc.name or "untitled"

    # -- replacing the content -------------------------------------------------------------
    def new(self) -> bool:
        if not self.maybe_save():
            return False
        self._adopt(GraphDocument(), None)
        return True

    def open(self, path: str | Path | None = None) -> bool:
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self.window, "Open graph", self._folder(), FILE_FILTER)
            if not path:
                return False
        if not self.maybe_save():
            return False
        loaded = self._load(Path(path))
        if loaded is None:
            return False
        self._adopt(loaded, Path(path).resolve())  # absolute: the worker process runs in another folder
        settings.add_recent(str(self.path))
        self.changed.emit()
        return True

    def new_from_template(self, path: Path) -> bool:
        """A template opens as a new, untitled document: saving asks where, the example stays intact."""
        if not self.maybe_save():
            return False
        loaded = self._load(path)
        if loaded is not None:
            self._adopt(loaded, None)
        return loaded is not None

    def adopt_unsaved(self, doc: GraphDocument) -> bool:
        """Show `doc` (an imported model) as a new document that was never saved: closing asks about it."""
        if not self.maybe_save():
            return False
        self._adopt(doc, None)
        self.stack.resetClean()
        return True

    def offer_recovery(self) -> bool:
        """If the last session left unsaved work, ask to restore it; the restored document is unsaved."""
        path = pending_recovery()
        if path is None:
            return False
        answer = QMessageBox.question(
            self.window, "Recover unsaved work",
            "Layerloom closed with unsaved changes last time. Restore them?", Button.Yes | Button.No)
        loaded = self._load(path) if answer == Button.Yes else None
        if loaded is None:
            discard_recovery()
            return False
        self._adopt(loaded, None)
        self.stack.resetClean()  # restored work has never been saved
        return True

    def _load(self, path: Path) -> GraphDocument | None:
        try:
            return load_document(path)
        except DocumentError as exc:
            QMessageBox.critical(self.window, "Cannot open file", str(exc))
            return None

    def _adopt(self, loaded: GraphDocument, path: Path | None) -> None:
        self.doc.replace_with(loaded)
        self.editor.spread_pile()  # before anything paints the pile (see engine.layout.piled_up)
        _spare_from_collection()
        self.stack.clear()
        self.stack.setClean()
        self.path = path
        self.changed.emit()
        self.opened.emit()

    # -- saving -----------------------------------------------------------------------------------
    def save(self) -> bool:
        if self.path is None:
            return self.save_as()
        try:
            save_document(self.doc, self.path)
        except (OSError, ValueError) as exc:
            QMessageBox.critical(self.window, "Cannot save", f"{self.path}: {exc}")
            return False
        self.stack.setClean()
        discard_recovery()
        settings.add_recent(str(self.path.resolve()))
        self.editor.message.emit(f"Saved {self.path}")
        return True

    def save_as(self, path: str | Path | None = None) -> bool:
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self.window, "Save graph as", self._folder(), FILE_FILTER)
            if not path:
                return False
        path = Path(path).resolve()
        old, self.path = self.path, path if path.suffix else path.with_suffix(".json")
        self.changed.emit()
        if not self.save():
            return False
        self.saved_as.emit(old, self.path)
        return True

    def maybe_save(self) -> bool:
        """True when it is fine to drop the current content (saved, discarded, or nothing to lose)."""
        if self.stack.isClean():
            return True
        answer = QMessageBox.question(
            self.window, "Unsaved changes", f"Save the changes to {self.display_name}?",
            Button.Save | Button.Discard | Button.Cancel)
        if answer == Button.Save:
            return self.save()
        if answer == Button.Discard:
            discard_recovery()
            return True
        return False

    def _folder(self) -> str:
        return str(self.path.parent) if self.path else ""


def _spare_from_collection() -> None:
    """Take the open document and its canvas out of Python's full garbage collections, which scan every
    live object: with a 5,000-node graph's (a few hundred thousand) each took about 90 ms, a pause every
    few edits. `gc.freeze` exempts what lives now; the last document's objects are let back and collected
    first (about 0.1 s at 5,000 nodes, spared on the first open), so whatever of them is cyclic garbage
    is freed."""
    if gc.get_freeze_count():
        gc.unfreeze()
        gc.collect()
    gc.freeze()
