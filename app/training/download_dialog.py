"""The progress dialog of a benchmark set's first download, shown while a run's worker fetches it.

The worker sends `download` events (engine/train/download_events.py: file, bytes done, total) between
the run's status started and its `started`; the dialog shows the file and its bytes of the total, and
its Cancel stops the run (the worker removes the partial file: nothing half-written stays in the cache).
It closes when the run starts training or ends. Not modal: the editor stays usable during a long
download. QProgressDialog counts in int: the bar counts thousandths of the file, so any size fits.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QProgressDialog, QWidget

STEPS = 1000  # the bar's range when the total is known


class DownloadDialog(QProgressDialog):
    """Created for a run's first download event; `cancel` is called when the user cancels (once). `what`,
    `note` and `then` word it for another download (published weights: app/fetch_weights.py)."""

    def __init__(self, parent: QWidget, cancel: Callable[[], None], what: str = "the dataset",
                 note: str = "Once only: it is kept in the dataset cache for later runs.",
                 then: str = "preparing the data"):
        super().__init__(f"Downloading {what}…", "Cancel", 0, STEPS, parent)
        self.note, self.then = note, then
        self.setWindowTitle(f"Downloading {what}")
        self.setAutoClose(False)  # a set of several files (MNIST's four) keeps one dialog
        self.setAutoReset(False)
        self.setMinimumDuration(0)
        self.setMinimumWidth(420)
        self.canceled.connect(cancel)

    def show_progress(self, event: dict) -> None:
        if self.wasCanceled():  # events already on their way while the worker stops: not shown again
            return
        file, done, total = event["file"], int(event["done"]), event.get("total")
        if total:
            self.setRange(0, STEPS)
            self.setValue(min(STEPS, done * STEPS // total))
            text = f"{file}: {_mb(done)} of {_mb(total)} ({100 * done // total} %)"
            if done >= total:
                text += f" — done, {self.then}…"
        else:  # the server did not say how much: a busy bar and the bytes so far
            self.setRange(0, 0)
            text = f"{file}: {_mb(done)}"
        self.setLabelText(f"Downloading {text}\n{self.note}")
        if not self.isVisible():
            self.show()


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"
