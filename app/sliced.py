"""Run stepped computations (engine/steps.py) a slice at a time between turns of the event loop: the
window keeps painting and taking input while a big graph is validated, laid out or redrawn.

Every run under way shares one zero-delay timer and one SLICE_S budget per turn, taking turns first:
with a timer each, a layout, its wires' re-routing, the validation and the overview's redraw each
took a slice in the same turn, four times the pause.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import cache
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, QTimer

from engine.steps import Steps

SLICE_S = 0.008  # work between two turns of the event loop, all runs together


class SlicedRun(QObject):
    """One computation at a time; starting another, or `cancel`, drops the one under way."""

    def __init__(self, parent: QObject):
        super().__init__(parent)
        self._steps: Steps | None = None
        self._done: Callable[[Any], None] = lambda result: None
        self.destroyed.connect(lambda: _scheduler().runs.discard(self))

    @property
    def running(self) -> bool:
        return self._steps is not None

    def start(self, steps: Steps, done: Callable[[Any], None], begin_now: bool = True) -> None:
        """Run the first slice now (else at the next turn of the event loop, when this one has work enough)
        and the rest at later turns; `done(result)` at the end (a small computation begun now is done
        within this call)."""
        self._steps, self._done = steps, done
        if begin_now:
            self.work_until(time.perf_counter() + SLICE_S)
        if self._steps is not None:
            _scheduler().add(self)

    def cancel(self) -> None:
        self._steps = None
        _scheduler().runs.discard(self)

    def work_until(self, deadline: float) -> None:
        steps = self._steps
        try:
            while steps is not None and time.perf_counter() < deadline:
                next(steps)
        except StopIteration as finished:
            self._steps = None
            _scheduler().runs.discard(self)
            self._done(finished.value)


class _Scheduler(QObject):
    def __init__(self):
        super().__init__(QCoreApplication.instance())  # gone with the application, never after it
        self.runs = _OrderedSet()
        self._timer = QTimer(self, singleShot=True, interval=0)
        self._timer.timeout.connect(self._turn)

    def add(self, run: SlicedRun) -> None:
        self.runs.add(run)
        self._timer.start()

    def _turn(self) -> None:
        deadline = time.perf_counter() + SLICE_S
        for run in list(self.runs):
            if time.perf_counter() >= deadline:
                break
            self.runs.rotate(run)  # the next turn begins with the runs that waited
            run.work_until(deadline)
        if self.runs:
            self._timer.start()


class _OrderedSet:
    """The runs under way in the order they get the next turn's time."""

    def __init__(self):
        self._items: dict[SlicedRun, None] = {}

    def add(self, run: SlicedRun) -> None:
        self._items.setdefault(run, None)

    def discard(self, run: SlicedRun) -> None:
        self._items.pop(run, None)

    def rotate(self, run: SlicedRun) -> None:
        """Move `run` to the back."""
        if run in self._items:
            del self._items[run]
            self._items[run] = None

    def __iter__(self):
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


@cache
def _scheduler() -> _Scheduler:
    return _Scheduler()
