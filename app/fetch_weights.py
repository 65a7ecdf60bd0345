"""File → Fetch published weights…: torchvision's, timm's or the Hugging Face hub's weights for the graph,
fetched through their library (engine/published_weights.py) — downloaded once into that library's cache,
read from it afterwards — then mapped onto the graph by name with Load weights…' report and undoable edit
(app/load_weights.py `offer_weights`), which also records the source in `training.pretrained`.

The fetch runs on a thread while the window keeps painting. A download shows its bytes in a progress dialog
(engine/download_watch.py follows the library's own progress bar) whose Cancel stops it: the library keeps
nothing half-written in its cache, and the graph is left as it was. torch and the library are imported
only on that thread.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QInputDialog, QLineEdit, QMessageBox

from .load_weights import offer_weights
from .training.download_dialog import DownloadDialog

TITLE = "Fetch published weights"
POLL_MS = 50
DEFAULT_SOURCE = "torchvision:resnet18"
PROMPT = ("Published weights to fetch through their library (pip install 'layerloom[models]'):\n"
          "  torchvision:MODEL[:WEIGHTS]   e.g. torchvision:resnet18:IMAGENET1K_V1\n"
          "  timm:MODEL                    e.g. timm:resnet18.a1_in1k\n"
          "  hf:owner/name                 a Hugging Face hub model, through transformers\n"
          "Downloaded once into the library's own cache.")


def fetch_weights(window, source: str | None = None) -> bool:
    """Ask which weights (unless `source`; the graph's `training.pretrained` is offered first), fetch them off the
    GUI thread with progress and Cancel, and offer them to the graph. False when nothing changed."""
    from engine.errors import WeightsError
    from engine.published_weights import parse_source

    if source is None:
        offered = str(window.doc.training.get("pretrained") or DEFAULT_SOURCE)
        source, ok = QInputDialog.getText(window, TITLE, PROMPT, QLineEdit.EchoMode.Normal, offered)
        if not ok or not source.strip():
            return False
    try:
        parsed = parse_source(source)
    except WeightsError as exc:
        QMessageBox.critical(window, f"Cannot {TITLE.lower()}", str(exc))
        return False
    outcome = _fetch_with_progress(window, parsed)
    if "cancelled" in outcome:
        window.statusBar().showMessage(f"Fetching {parsed} cancelled: nothing was kept", 10_000)
        return False
    if "error" in outcome:
        QMessageBox.critical(window, f"Cannot {TITLE.lower()}", outcome["error"])
        return False
    fetched = outcome["fetched"]
    return offer_weights(window, fetched.state, str(fetched.source), TITLE, pretrained=str(fetched.source))


def _fetch_with_progress(window, source) -> dict:
    """{"fetched": Fetched} | {"error": message} | {"cancelled": True}, the fetch run on a thread while a
    progress dialog follows its download."""
    outcome: dict = {}
    latest: list[dict] = [{}]  # the download's last progress, replaced whole by the fetching thread
    cancel = threading.Event()
    dialog = DownloadDialog(window, cancel.set, what=f"{source}",
                            note=f"Once only: {source.package} keeps it in its cache for later fetches.",
                            then="reading it")
    dialog.setRange(0, 0)
    dialog.setLabelText(f"Fetching {source} through {source.package}…")
    dialog.show()
    worker = threading.Thread(target=_run, args=(source, outcome, latest, cancel), daemon=True)
    worker.start()
    loop = QEventLoop()
    shown = [latest[0]]  # what the dialog shows: nothing until the first progress

    def poll() -> None:
        if latest[0] is not shown[0] and not cancel.is_set():
            shown[0] = latest[0]
            dialog.show_progress(shown[0])
        if not worker.is_alive():
            loop.quit()

    timer = QTimer(interval=POLL_MS, timeout=poll)
    timer.start()
    loop.exec()
    timer.stop()
    cancelled = cancel.is_set()  # before closing: a progress dialog that closes says it was cancelled
    dialog.close()
    dialog.deleteLater()
    if "crash" in outcome:  # a bug, not the user's doing: the app's error dialog reports it
        raise outcome["crash"]
    if cancelled:  # also when pressed while the library read its cache (nothing to stop): the result is dropped
        return {"cancelled": True}
    return outcome


def _run(source, outcome: dict, latest: list[dict], cancel: threading.Event) -> None:
    from engine.download_watch import DownloadCancelled, watching
    from engine.errors import LayerloomError
    from engine.published_weights import fetch_state_dict

    def report(file: str, done: int, total: int | None) -> None:
        latest[0] = {"file": file or str(source), "done": done, "total": total}

    try:
        with watching(report, cancel.is_set):
            outcome["fetched"] = fetch_state_dict(source)
    except DownloadCancelled:
        outcome["cancelled"] = True
    except LayerloomError as exc:
        outcome["error"] = str(exc)
    except Exception as exc:  # handed to the GUI thread, raised there
        outcome["crash"] = exc
