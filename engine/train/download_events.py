"""A run's dataset download as `download` events, and the run's Stop as the download's cancel.

The training worker wraps a run in `download.reporting(DownloadEvents(out, stopped))`: a benchmark set
fetched on first use (engine/data/benchmarks.py) then reports to the app, which shows a progress
dialog, instead of drawing a terminal line nobody sees. A download streams 64 KiB at a time, so events
are throttled (the first and last bytes of every file always sent); Stop is looked at on every chunk,
and raises `DownloadStopped`, which leaves nothing in the cache (download.py writes atomically) and
ends the run "stopped" (loop.py).
"""

from __future__ import annotations

from collections.abc import Callable

from ..data.download import DownloadStopped
from . import events

EVENTS_PER_S = 10


class DownloadEvents:
    """A download `progress` callback: `emit`s download events, raises DownloadStopped once `stopped()`."""

    def __init__(self, emit: Callable[[events.Event], None], stopped: Callable[[], bool],
                 throttle: events.Throttle | None = None):
        self.emit, self.stopped = emit, stopped
        self.throttle = throttle or events.Throttle(EVENTS_PER_S)

    def __call__(self, file: str, done: int, total: int | None) -> None:
        if self.stopped():
            raise DownloadStopped(f"stopped while downloading {file} — nothing of it was kept; the next run "
                                  "downloads it again")
        if done == 0 or done == total or self.throttle.due():
            self.emit(events.download(file, done, total))
