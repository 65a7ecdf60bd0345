"""Following a library's download from outside it: torch.hub (torchvision's weights), timm and
huggingface_hub all count a download's bytes on a tqdm bar, so while `watching(report, cancelled)` is
active every tqdm bar's update is also told to `report(description, done, total)` — the bar's
description (a file name; "" for torch.hub's), the bytes so far and the total, or None when the server
did not say — and once `cancelled()` is true the next update raises DownloadCancelled inside the
library's download loop. The library then treats it as any failed
download: torch.hub removes its partial file, huggingface_hub keeps its `.incomplete` one to resume,
and neither commits a damaged file to its cache.

The hook is process-wide while it is active (tqdm's class is patched, and put back on leaving), so one
watch runs at a time; the app's fetch runs one at a time anyway.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from .errors import WeightsError

Report = Callable[[str, int, "int | None"], None]
_one_at_a_time = threading.Lock()


class DownloadCancelled(WeightsError):
    """The user cancelled a download in progress."""


@contextmanager
def watching(report: Report, cancelled: Callable[[], bool] = lambda: False) -> Iterator[None]:
    import tqdm.std

    bar_class = tqdm.std.tqdm
    original = bar_class.update

    def update(bar, n=1):
        shown = original(bar, n)
        if cancelled():
            raise DownloadCancelled("cancelled: the download stopped and nothing of it was kept")
        if getattr(bar, "unit", "B") == "B":  # bytes of a file, not a library's other bars (examples mapped…)
            total = int(bar.total) if bar.total else None
            report(str(bar.desc or "").strip(": "), int(bar.n), total)  # torch.hub's bar has no description: ""
        return shown

    with _one_at_a_time:
        bar_class.update = update
        try:
            yield
        finally:
            bar_class.update = original
