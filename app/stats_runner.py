"""Graph statistics for the window — parameters, multiply-adds, activation memory, the training-memory
estimate and what it means on this machine — computed by the training worker process.

Counting parameters builds layers, which needs torch, and the editor never imports torch (it would
add 350 MB and freeze the event loop while loading), so each request goes to the shared warm worker
(engine/train/worker.py `stats`), debounced, with the document as plain JSON. Answers to superseded
requests are dropped. Enabled only after the window is on screen.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field

from PySide6.QtCore import QObject, QTimer, Signal

from engine.document import GraphDocument
from engine.fileformat import to_dict
from engine.stats import GraphStats
from engine.validate import Diagnostic, ValidationReport

DEBOUNCE_MS = 300


@dataclass
class StatsAnswer:
    stats: GraphStats
    diagnostics: list[Diagnostic] = field(default_factory=list)  # trainability: weights, batches, memory
    memory_bytes: int | None = None  # what training would fill: GPU memory or RAM
    memory_kind: str = "RAM"
    device: str = "auto"


class StatsRunner(QObject):
    computed = Signal(object)  # StatsAnswer

    def __init__(self, doc: GraphDocument, parent=None, client=None):
        super().__init__(parent)
        self.doc, self._client = doc, client
        self.enabled = False
        self._token = uuid.uuid4().hex[:8]
        self._numbers = itertools.count(1)
        self._latest: str | None = None
        self._timer = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._timer.timeout.connect(self._submit)

    @property
    def client(self):
        if self._client is None:
            from .training.client import shared_client

            self._client = shared_client()
            self._client.message.connect(self._message)
        return self._client

    def enable(self) -> None:
        self.enabled = True
        self.client  # noqa: B018 — connect now, so no answer is missed

    def request(self, report: ValidationReport) -> None:
        if self.enabled and report.ok:
            self._timer.start()

    def _submit(self) -> None:
        self._latest = f"stats:{self._token}:{next(self._numbers)}"
        batch_size = self.doc.training.get("batch_size", 32)
        self.client.send(cmd="stats", id=self._latest, graph=to_dict(self.doc, copy_values=False),
                         batch_size=batch_size if isinstance(batch_size, int) and batch_size > 0 else 32)

    def _message(self, message: dict) -> None:
        if message.get("id") != self._latest or message.get("type") != "stats" or message.get("stats") is None:
            return
        memory = message.get("memory") or {}
        self.computed.emit(StatsAnswer(
            GraphStats.from_dict(message["stats"]),
            [Diagnostic(d["severity"], d["message"], d.get("node"), d.get("port"), d.get("param"))
             for d in message.get("diagnostics", [])],
            memory.get("bytes"), memory.get("kind", "RAM"), memory.get("device", "auto")))

    def shutdown(self) -> None:
        self._timer.stop()
