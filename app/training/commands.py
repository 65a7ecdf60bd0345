"""The undoable edit of the training section: one top-level key (`optimizer`, `epochs`, …) at a time.

Quick successive edits of the same setting merge into one undo step; edits of two settings of one
section (optimizer name, then its learning rate) stay two steps.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from PySide6.QtGui import QUndoCommand

from engine.config import TrainingConfig
from engine.document import GraphDocument

TRAINING_ID = 1101
MERGE_SECONDS = 1.5  # spin-box arrows and typing into one field are one undo step


class SetTrainingCommand(QUndoCommand):
    """Set `doc.training[key]`; `field` (e.g. `optimizer.lr`) names the setting edited, for merging."""

    def __init__(self, doc: GraphDocument, key: str, value: Any, field: str | None = None):
        self.field = field or key
        super().__init__(f"Set training {self.field}")
        self.doc, self.key = doc, key
        # A key the file never set undoes to its default: the same training, now written out.
        self.old = copy.deepcopy(doc.training.get(key, TrainingConfig().to_dict()[key]))
        self.new = copy.deepcopy(value)
        self.stamp = time.monotonic()

    def id(self) -> int:
        return TRAINING_ID

    def mergeWith(self, other: QUndoCommand) -> bool:
        if other.field != self.field or other.stamp - self.stamp > MERGE_SECONDS:
            return False
        self.new, self.stamp = other.new, other.stamp
        return True

    def redo(self) -> None:
        self.doc.set_training(self.key, copy.deepcopy(self.new))

    def undo(self) -> None:
        self.doc.set_training(self.key, copy.deepcopy(self.old))
