"""File → Load weights…: a state_dict (`.safetensors`, `.pth` read weights-only, a run folder) mapped
onto the graph by name (engine/weights_map.py), its report shown before anything changes.

Accepting writes the matched tensors, under the graph's names, to a weights file — beside the graph
(`<graph>.weights.safetensors`) once it is saved, else in the user's data folder — and sets
`training.init_weights` to it as one undoable edit: fresh runs start from those weights. `offer_weights`
is that report and edit for tensors from anywhere (File → Fetch published weights…: app/fetch_weights.py). The path is
absolute, so the setting survives Save As into another folder. torch is imported only here, when
the user asks.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from engine.errors import LayerloomError
from engine.runs import slug, user_data_dir

from .training.commands import SetTrainingCommand

SOURCES = "Weights (*.safetensors *.pth *.pt *.bin *.ckpt);;All files (*)"
REPORT_LINES = 25  # a message box shows this many lines of the report; the rest are counted


def load_weights(window, path: str | None = None) -> bool:
    """Ask for a weights file (unless `path`), show what maps onto the graph, and on Yes make fresh runs
    start from it. False when nothing changed."""
    if path is None:
        path, _ = QFileDialog.getOpenFileName(window, "Load weights into the graph", "", SOURCES)
        if not path:
            return False
    QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)  # reading a big checkpoint takes seconds
    try:
        from engine.weights_map import read_state_dict

        source, problem = read_state_dict(path), ""
    except LayerloomError as exc:
        source, problem = None, str(exc)
    finally:
        QApplication.restoreOverrideCursor()
    if source is None:
        QMessageBox.critical(window, "Cannot load weights", problem)
        return False
    return offer_weights(window, source, Path(path).name)


def offer_weights(window, source: dict, label: str, title: str = "Load weights", pretrained: str = "") -> bool:
    """Map the tensors of `source` (named `label` in the report) onto the graph by name, show the report in a
    dialog called `title`, and on Yes write them and make fresh runs start from them — one undoable edit, which
    also records `pretrained` (published weights' source) when given. False when nothing changed."""
    refused = f"Cannot {title[0].lower()}{title[1:]}"
    QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)  # compiling a big graph takes a moment
    try:
        from engine.weights_map import graph_shapes, mapped_tensors, match_state

        match = match_state(source, graph_shapes(window.doc))
    except LayerloomError as exc:
        match, problem = None, str(exc)
    finally:
        QApplication.restoreOverrideCursor()
    if match is None:
        QMessageBox.critical(window, refused, problem)
        return False
    report = _shown(match.lines(label))
    if not match.matched:
        QMessageBox.critical(window, refused, f"Nothing in {label} fits this graph:\n\n{report}")
        return False
    answer = QMessageBox.question(window, title, f"{report}\n\nStart every fresh run of this graph from these weights?")
    if answer != QMessageBox.StandardButton.Yes:
        return False
    from engine.export.weights import save_weights

    target = _target(window)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        save_weights(mapped_tensors(source, match), target, {"source": label})
    except OSError as exc:
        QMessageBox.critical(window, refused, f"cannot write {target}: {exc.strerror or exc}")
        return False
    stack = window.editor.stack
    stack.beginMacro(title)
    stack.push(SetTrainingCommand(window.doc, "init_weights", str(target)))
    if pretrained:
        stack.push(SetTrainingCommand(window.doc, "pretrained", pretrained))
    stack.endMacro()
    window.statusBar().showMessage(f"Fresh runs start from {len(match.matched)} tensors of {label} ({target})", 20_000)
    return True


def _shown(lines: list[str]) -> str:
    hidden = len(lines) - REPORT_LINES
    return "\n".join(lines[:REPORT_LINES] + ([f"… and {hidden} more"] if hidden > 0 else []))


def _target(window) -> Path:
    """Where the mapped weights go: beside a saved graph, else under the user's data folder."""
    graph = window.files.path
    if graph is not None:
        return graph.resolve().with_name(graph.stem + ".weights.safetensors")
    return user_data_dir() / "weights" / f"{slug(window.doc.name or 'graph')}-{uuid.uuid4().hex[:8]}.safetensors"
