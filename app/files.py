"""New, open, save, templates, recent files and crash recovery for the window's one document.

Opening loads the file here and hands the loaded graph to the window's `switch_graph`, the one
sequence that moves every part of the window (canvas, file path, runs, title) to it; this object's
part is `switched_to` (the path and the undo history). A file that cannot be read is reported with
the DocumentError's text and the current document is left exactly as it was. Save As writes the new
file first and takes its path only once it is written: a failed save changes nothing.

A graph made from a template is its own on its first save: it takes the file's name and a description
naming the template it started from instead of the template's (one undoable step), so its runs, exports,
model card and `predict --json` never call a churn model "Digits MLP". A run or an export made before that
save records it as "Untitled (from <template>)" with the same description (`recorded_graph`).
"""

from __future__ import annotations

import gc
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from engine.document import GraphDocument
from engine.errors import DocumentError
from engine.fileformat import load_document, save_document, to_dict

from . import settings
from .autosave import discard_recovery, pending_recovery
from .editor import Editor
from .templates import started_from, untitled_from

FILE_FILTER = "Layerloom graph (*.json)"
Button = QMessageBox.StandardButton


class DocumentFiles(QObject):
    changed = Signal()  # the file path (and so the title) changed
    saved_as = Signal(object, object)  # (old path or None, new path): the same graph, saved at a new place

    def __init__(self, window: QWidget, editor: Editor):
        super().__init__(window)
        self.window, self.editor, self.doc, self.stack = window, editor, editor.doc, editor.stack
        self.path: Path | None = None
        self.template: tuple[str, str] | None = None  # (name, description) of the template an unsaved graph is from

    @property
    def display_name(self) -> str:
        return self.path.name if self.path else self.doc.name or "untitled"

    def recorded_graph(self) -> dict:
        """The graph as a run or an export records it (`to_dict`). A graph made from a template and not saved yet
        still wears the template's name and description, which say nothing true of this model: a run records
        "Untitled (from <template>)" and the description the first save gives it instead (the document itself
        keeps them until that save), so no churn model's card or `predict --json` calls it "Digits MLP"."""
        graph = to_dict(self.doc)
        if self.template is not None and self.path is None:
            name, text = self.template
            if graph["name"] == name:  # a name the user gave it before saving is kept
                graph["name"] = untitled_from(name)
            if graph["description"] == text:
                graph["description"] = started_from(name)
        return graph

    # -- replacing the content -------------------------------------------------------------
    def new(self) -> bool:
        return self._switch(GraphDocument(), None)

    def open(self, path: str | Path | None = None) -> bool:
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self.window, "Open graph", self._folder(), FILE_FILTER)
            if not path:
                return False
        if (refusal := self.window.switch_refusal()) or not self.maybe_save():
            return self._refused(refusal)
        loaded = self._load(Path(path))
        if loaded is None or not self.window.switch_graph(loaded, Path(path).resolve()):  # absolute: the worker
            return False                                                                # runs in another folder
        settings.add_recent(str(self.path))
        return True

    def new_from_template(self, path: Path) -> bool:
        """A template opens as a new, untitled document: saving asks where, the example stays intact."""
        if (refusal := self.window.switch_refusal()) or not self.maybe_save():
            return self._refused(refusal)
        loaded = self._load(path)
        if loaded is None or not self.window.switch_graph(loaded, None):
            return False
        self.template = (loaded.name, loaded.description)
        return True

    def adopt_unsaved(self, doc: GraphDocument) -> bool:
        """Show `doc` (an imported model) as a new document that was never saved: closing asks about it."""
        return self._switch(doc, None, saved=False)

    def _switch(self, doc: GraphDocument, path: Path | None, saved: bool = True) -> bool:
        if (refusal := self.window.switch_refusal()) or not self.maybe_save():
            return self._refused(refusal)
        return self.window.switch_graph(doc, path, saved=saved)

    def _refused(self, refusal: str | None) -> bool:
        if refusal:
            self.editor.message.emit(refusal)
        return False

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
        return self.window.switch_graph(loaded, None, saved=False)  # restored work has never been saved

    def _load(self, path: Path) -> GraphDocument | None:
        try:
            return load_document(path)
        except DocumentError as exc:
            QMessageBox.critical(self.window, "Cannot open file", str(exc))
            return None

    def switched_to(self, path: Path | None, saved: bool) -> None:
        """The window's part of switching graphs (`MainWindow.switch_graph`) that is this object's: the
        document now holds the new graph, which lives at `path` (None: never saved); `saved` False marks
        it as changes that closing asks about (an import, recovered work)."""
        self.editor.spread_pile()  # before anything paints the pile (see engine.layout.piled_up)
        _spare_from_collection()
        self.stack.clear()
        self.stack.setClean()
        if not saved:
            self.stack.resetClean()
        self.path, self.template = path, None

    # -- saving -----------------------------------------------------------------------------------
    def save(self) -> bool:
        if self.path is None:
            return self.save_as()
        return self._write(self.path)

    def save_as(self, path: str | Path | None = None) -> bool:
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self.window, "Save graph as", self._folder(), FILE_FILTER)
            if not path:
                return False
        path = Path(path).resolve()
        path = path if path.suffix else path.with_suffix(".json")
        renamed = self._name_after(path)
        if not self._write(path):
            if renamed:
                self.stack.undo()
            return False  # the title, the path and the runs stay with the file that is still this graph's
        old, self.path, self.template = self.path, path, None
        self.changed.emit()
        self.saved_as.emit(old, self.path)
        return True

    def _name_after(self, path: Path) -> bool:
        """A graph saved for the first time (untitled, or still named after its template) or still named after
        its old file takes the new file's name, so runs, exports and the model card say what it is; a name the
        user chose is kept. A template's description gives way to one naming the template. Returns whether it
        changed anything (one undoable step)."""
        default = self.path is None or self.doc.name in ("", "untitled", self.path.stem)
        template_name, template_text = self.template or ("", None)
        describe = self.doc.description == template_text
        if not (default and self.doc.name != path.stem) and not describe:
            return False
        index = self.stack.index()
        self.stack.beginMacro(f"Name the graph after {path.name}")
        if default:
            self.editor.rename_graph(path.stem)
        if describe:
            self.stack.push(DescribeGraphCommand(self.doc, started_from(template_name)))
        self.stack.endMacro()
        return self.stack.index() != index

    def _write(self, path: Path) -> bool:
        """Write the graph on screen — the window's one document, whatever block is open — to `path`."""
        assert self.doc is self.window.doc, "the files object saves the window's document"
        try:
            save_document(self.doc, path)
        except (OSError, ValueError) as exc:
            QMessageBox.critical(self.window, "Cannot save", f"{path}: {exc}")
            return False
        self.stack.setClean()
        discard_recovery()
        settings.add_recent(str(path.resolve()))
        self.editor.message.emit(f"Saved {path}")
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


class DescribeGraphCommand(QUndoCommand):
    allowed_while_locked = True  # like a rename: a run trains a snapshot, and Save As may describe the graph

    def __init__(self, doc: GraphDocument, description: str):
        super().__init__("Describe the graph")
        self.doc, self.old, self.new = doc, doc.description, description

    def redo(self) -> None:
        self.doc.description = self.new

    def undo(self) -> None:
        self.doc.description = self.old


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
