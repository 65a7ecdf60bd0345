"""Crash recovery: the document is written to a recovery file every minute while it is dirty.

The file lives in the platform's app-data folder (`LAYERLOOM_RECOVERY_DIR` overrides it, for tests
and portable installs). It is removed when the document is saved or closed cleanly; finding one
at start-up means the last session ended with unsaved work, which the app offers to restore.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QObject, QStandardPaths, QTimer
from PySide6.QtGui import QUndoStack

from engine.document import GraphDocument
from engine.errors import DocumentError
from engine.fileformat import save_document

INTERVAL_MS = 60_000


def recovery_path() -> Path:
    folder = os.environ.get("LAYERLOOM_RECOVERY_DIR") or QStandardPaths.writableLocation(
        QStandardPaths.StandardLocation.AppDataLocation)
    return Path(folder) / "recovery.json"


def pending_recovery() -> Path | None:
    path = recovery_path()
    return path if path.is_file() else None


def discard_recovery() -> None:
    recovery_path().unlink(missing_ok=True)


class Autosaver(QObject):
    def __init__(self, doc: GraphDocument, stack: QUndoStack, parent=None, interval_ms: int = INTERVAL_MS):
        super().__init__(parent)
        self.doc, self.stack = doc, stack
        self.last_error = ""
        self.timer = QTimer(self, interval=interval_ms)
        self.timer.timeout.connect(self.save_if_dirty)
        self.timer.start()

    def save_if_dirty(self) -> bool:
        """Write the recovery file when there are unsaved changes; a failure is kept, not raised."""
        if self.stack.isClean():
            return False
        path = recovery_path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            save_document(self.doc, path)
        except (OSError, DocumentError, ValueError) as exc:
            self.last_error = f"autosave to {path} failed: {exc}"
            return False
        return True
