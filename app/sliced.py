"""Run a stepped computation (engine/steps.py) a slice at a time between turns of the event loop: the
window keeps painting and taking input while a big graph is validated or laid out."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer

from engine.steps import Steps

SLICE_S = 0.008  # work between two turns of the event loop


class SlicedRun(QObject):
    """One computation at a time; starting another, or `cancel`, drops the one under way."""

    def __init__(self, parent: QObject):
        super().__init__(parent)
        self._steps: Steps | None = None
        self._done: Callable[[Any], None] = lambda result: None
        self._timer = QTimer(self, singleShot=True, interval=0)
        self._timer.timeout.connect(self._continue)

    @property
    def running(self) -> bool:
        return self._steps is not None

    def start(self, steps: Steps, done: Callable[[Any], None], begin_now: bool = True) -> None:
        """Run the first slice now (else after this turn of the event loop, which has work enough) and the
        rest after turns of the event loop; `done(result)` at the end (a small computation begun now is done
        within this call)."""
        self._steps, self._done = steps, done
        if begin_now:
            self._continue()
        else:
            self._timer.start()

    def cancel(self) -> None:
        self._steps = None
        self._timer.stop()

    def _continue(self) -> None:
        steps = self._steps
        if steps is None:
            return
        deadline = time.perf_counter() + SLICE_S
        try:
            while time.perf_counter() < deadline:
                next(steps)
        except StopIteration as finished:
            self._steps = None
            self._done(finished.value)
            return
        self._timer.start()
