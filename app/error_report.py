"""Errors nobody may miss: every unhandled exception in the app reaches one dialog and one log file.

A bug in a slot, a document listener or a step of switching graphs used to print a traceback to a
terminal nobody watches while the window carried on half-updated. Here every such failure is
written to `errors.log` in the user data folder and shown in a dialog whose traceback is folded
under "Show Details…"; failures that arrive while the dialog is open join it instead of stacking
dialogs. `install()` routes `sys.excepthook` (PySide calls it for an exception escaping a slot or a
virtual method) and Qt's own critical messages here; the main window routes its document's
listener failures here too.
"""

from __future__ import annotations

import sys
import time
import traceback
from pathlib import Path

from PySide6.QtCore import QtMsgType, qInstallMessageHandler
from PySide6.QtWidgets import QApplication, QMessageBox

LOG_NAME = "errors.log"
MAX_DETAILS = 20_000  # characters of tracebacks kept in the dialog (the log has them all)


class ErrorReporter:
    """Collects what went wrong: `reported` lists (summary, exception) for tests and the dialog."""

    def __init__(self):
        self.reported: list[tuple[str, BaseException]] = []
        self.dialog: QMessageBox | None = None

    def report(self, summary: str, exc: BaseException) -> None:
        details = "".join(traceback.format_exception(exc))
        self.reported.append((summary, exc))
        log = _write_log(summary, details)
        self._show(summary, details, log)

    def report_listener_failures(self, event: str, failures: list[Exception]) -> None:
        """A document listener raised while handling `event` (every other listener still ran)."""
        for exc in failures:
            self.report(f"a part of the window failed to follow the change '{event}'", exc)

    def excepthook(self, kind, exc, tb) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, exc, tb)
            return
        self.report("an unexpected error", exc.with_traceback(tb) if exc is not None else kind())

    def _show(self, summary: str, details: str, log: Path | None) -> None:
        if QApplication.instance() is None:
            return
        where = f"The details were written to {log}." if log else "The details could not be written to a log file."
        if self.dialog is not None and self.dialog.isVisible():  # one dialog, however many failures
            self.dialog.setText(f"Layerloom hit {len(self.reported)} errors; the last: {summary}.")
            self.dialog.setDetailedText((self.dialog.detailedText() + "\n" + details)[-MAX_DETAILS:])
            return
        self.dialog = QMessageBox(QMessageBox.Icon.Critical, "Something went wrong",
                                  f"Layerloom hit an error: {summary}.", QMessageBox.StandardButton.Ok,
                                  QApplication.activeWindow())
        self.dialog.setInformativeText(f"{where} Your graph is unchanged; save your work and please report it.")
        self.dialog.setDetailedText(details[-MAX_DETAILS:])
        self.dialog.setModal(False)  # it must never block the event loop that reported it
        self.dialog.show()


def log_path() -> Path:
    from engine.runs import user_data_dir

    return user_data_dir() / LOG_NAME


def _write_log(summary: str, details: str) -> Path | None:
    path = log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as log:
            log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {summary}\n{details}\n")
    except OSError:
        return None
    return path


reporter = ErrorReporter()


def _qt_message(kind: QtMsgType, context, message: str) -> None:
    """Qt's messages still reach the terminal as before; its warnings also go to the log, its critical and
    fatal messages to the dialog as well."""
    if kind != QtMsgType.QtDebugMsg:
        print(message, file=sys.__stderr__)
    if kind in (QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg):
        reporter.report("Qt reported a critical error", RuntimeError(message))
    elif kind == QtMsgType.QtWarningMsg:
        _write_log("Qt warning", message)


def install() -> None:
    """Route unhandled exceptions and Qt's critical messages to the reporter (the app calls this once)."""
    sys.excepthook = reporter.excepthook
    qInstallMessageHandler(_qt_message)
