"""Pieces the kind panels share: an image file scaled to fit, and looking up a run's artifacts."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QLabel, QSizePolicy

from ..runs import RunRecord

MIN_PICTURE = 96  # px


class Picture(QLabel):
    """A PNG scaled to the room it has, aspect kept, pixels kept sharp (8×8 digits are tiny)."""

    def __init__(self, placeholder: str = "", parent=None):
        super().__init__(placeholder, parent, alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        self.source = QPixmap()
        self.path: Path | None = None
        self.setMinimumSize(MIN_PICTURE, MIN_PICTURE)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)  # never grows the dock

    def set_file(self, path: Path | None) -> None:
        if path == self.path:
            return
        self.path = path
        self.source = QPixmap(str(path)) if path is not None else QPixmap()
        if path is not None and self.source.isNull():
            self.setText(f"cannot read {path.name}")
        self._fit()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        if not self.source.isNull():
            self.setPixmap(self.source.scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                              Qt.TransformationMode.FastTransformation))


def artifacts(record: RunRecord, tag: str) -> list[dict]:
    """The run's artifact events of `tag`, oldest first (a resumed run may repeat an epoch: the last wins)."""
    by_epoch = {event["epoch"]: event for event in record.artifacts if event.get("tag") == tag}
    return [by_epoch[epoch] for epoch in sorted(by_epoch)]


def latest(record: RunRecord, tag: str) -> dict | None:
    found = artifacts(record, tag)
    return found[-1] if found else None


def file_of(record: RunRecord, event: dict) -> Path | None:
    """The artifact's file (its path is relative to the run folder)."""
    return record.run_dir / event["path"] if record.run_dir is not None else None
