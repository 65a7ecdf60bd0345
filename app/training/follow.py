"""A run the app reads from its folder instead of from its worker: events.jsonl, polled as it grows.

Two kinds: a run the app started on this machine with torchrun (the follower owns that process,
torchrun_process.py), and a run elsewhere — the nodes of a cluster writing to shared storage — that
the user opened with Training ▸ Follow a run folder…. Both feed a RunRecord, as the worker's
messages do, from engine/launch/follow.py's EventTail on a timer: complete lines only, so a line
rank 0 is still writing waits for the next poll.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal

from engine.launch.follow import EventTail

from .runs import RunRecord
from .torchrun_process import TorchrunProcess

POLL_MS = 250
READS_PER_POLL = 4  # of EventTail's 16 MiB: a long run's history arrives over a few polls
OUTPUT_LINES = 8  # of torchrun's output, quoted when its processes die without ending the run


class RunFollower(QObject):
    updated = Signal(object)  # the events that arrived (a list, in order)
    ended = Signal()  # the run reached an end state, or its processes died without writing one

    def __init__(self, record: RunRecord, process: TorchrunProcess | None = None, parent: QObject | None = None,
                 interval_ms: int = POLL_MS):
        super().__init__(parent)
        self.record, self.process = record, process
        self.tail = EventTail(record.run_dir)
        self.timer = QTimer(self, interval=interval_ms)
        self.timer.timeout.connect(self.poll)
        self._ended = False
        if process is not None:
            process.exited.connect(self._exited)

    @property
    def local(self) -> bool:
        """A run this app started (and can stop), not one it only watches."""
        return self.process is not None

    @property
    def polling(self) -> bool:
        return self.timer.isActive()

    def start(self) -> None:
        self.timer.start()
        if self.process is not None:
            self.process.start()
        self.poll()

    def let_go(self) -> None:
        """Stop reading (the run itself goes on wherever it runs)."""
        self.timer.stop()

    def poll(self) -> None:
        arrived, caught_up = [], False
        for _ in range(READS_PER_POLL):
            events = self.tail.read()
            if not events:
                caught_up = True
                break
            arrived += events
        for event in arrived:
            self.record.add(event)
        if arrived:
            self.updated.emit(arrived)
        if caught_up and not self.record.active:  # a resumed run's earlier end is not the end
            self._end()

    def _exited(self, code: int, output: str) -> None:
        self.poll()  # what rank 0 wrote before the processes ended
        if self.record.active:
            lines = "\n".join(output.strip().splitlines()[-OUTPUT_LINES:])
            how = "were killed" if code < 0 else f"exited with code {code}"
            self.record.fail(f"the torchrun processes {how} before the run ended" + (f":\n{lines}" if lines else ""))
            self.updated.emit([])
            self._end()

    def _end(self) -> None:
        self.timer.stop()
        if not self._ended:
            self._ended = True
            self.ended.emit()
