"""What the app shows for one task kind: the live view's metric plot, loss legends, and its own panel.

A `KindView` describes a kind (engine/tasks) to the GUI: which epoch numbers its metric plot draws
(none: the plot is hidden), what the loss curves are called, whether the worker's `evaluate` (a
confusion matrix and "try it" over the validation split) means anything for it, and the panel that
shows its artifacts (`KindPanel`). One subclass per kind, one module each, registered in __init__.

A panel reads everything from the run's record (`RunRecord.artifacts`, events as they arrive or as
read back from events.jsonl, with files under the run folder), so a live run and a past one look the
same. A panel that needs the model asks the worker through `request` (a command dict: the controller
adds the run and sends it) and gets the answer in `reply`.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget

from ..runs import RunRecord


class KindPanel(QWidget):
    """A kind's own panel in the live view; `show_record` is called on the redraw timer when the record moved."""

    request = Signal(object)  # a worker command about the run on screen, e.g. {"cmd": "generate", …}

    def show_record(self, record: RunRecord) -> None:
        raise NotImplementedError

    def reply(self, message: dict) -> None:
        """The worker's answer to a `request` (or its worker_error)."""


class KindView:
    name = "plain"
    title = "Losses only"  # what the kind is, as the panel's heading says it
    loss_names = ("train", "val")  # legends of the loss plot's per-step curve and per-epoch curve
    metric_title: str | None = None  # the second plot's title; None hides the plot
    # (field, legend): a top-level field of the epoch event (accuracies) or a key of its `metrics`
    metrics: tuple[tuple[str, str], ...] = ()
    evaluates = False  # the worker's evaluation (confusion matrix, try-it) fits this kind
    results_note = "<i>This run trains its losses only: there is nothing more to evaluate.</i>"

    def panel(self) -> KindPanel | None:
        """A new panel for this kind's artifacts, or None when it has none."""
        return None


def epoch_series(record: RunRecord, field: str) -> tuple[list[float], list[float]]:
    """(step at the epoch's end, value) of an epoch field or `metrics` entry, skipping missing values."""
    xs, ys = [], []
    for event in record.epochs:
        value = event.get(field, (event.get("metrics") or {}).get(field))
        if value is not None:
            xs.append(float(event["epoch"] * record.steps_per_epoch))
            ys.append(float(value))
    return xs, ys
