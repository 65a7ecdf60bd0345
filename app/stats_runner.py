"""Parameter counts per node, computed off the GUI thread by engine.stats (which needs torch).

Stats are optional: the runner does nothing when engine.stats is missing, and it is enabled only
after the window is on screen, so opening the app never waits for `import torch`. Each request
works on a copy of the document; results of superseded requests are dropped.
"""

from __future__ import annotations

import importlib.util
import logging
from concurrent.futures import ThreadPoolExecutor

from PySide6.QtCore import QObject, QTimer, Signal

from engine.document import GraphDocument
from engine.fileformat import from_dict, to_dict
from engine.validate import ValidationReport

DEBOUNCE_MS = 300


def stats_available() -> bool:
    return importlib.util.find_spec("engine.stats") is not None


class StatsRunner(QObject):
    computed = Signal(object)  # engine.stats.GraphStats
    _done = Signal(int, object)  # generation, stats — emitted from the worker thread, delivered queued

    def __init__(self, doc: GraphDocument, parent=None):
        super().__init__(parent)
        self.doc = doc
        self.enabled = False
        self._generation = 0
        self._report: ValidationReport | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="layerloom-stats")
        self._timer = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._timer.timeout.connect(self._submit)
        self._done.connect(self._deliver)

    def enable(self) -> None:
        self.enabled = stats_available()

    def request(self, report: ValidationReport) -> None:
        if self.enabled and report.ok:
            self._report = report
            self._timer.start()

    def _submit(self) -> None:
        self._generation += 1
        generation, doc, report = self._generation, from_dict(to_dict(self.doc)), self._report
        self._pool.submit(self._work, generation, doc, report)

    def _work(self, generation: int, doc: GraphDocument, report: ValidationReport) -> None:
        from engine.stats import graph_stats

        try:
            stats = graph_stats(doc, report, batch_size=int(doc.training.get("batch_size", 32) or 32))
        except Exception:  # stats are a hint: log the bug, never take the window down for it
            logging.getLogger(__name__).exception("computing graph stats failed")
            return
        self._done.emit(generation, stats)

    def _deliver(self, generation: int, stats) -> None:
        if generation == self._generation:
            self.computed.emit(stats)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
