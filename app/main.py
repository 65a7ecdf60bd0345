"""`run_app(argv)`: start the Qt application on a file, a recovered session or the default example."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from engine.commands.common import UNREADABLE
from engine.errors import DocumentError
from engine.fileformat import load_document

from . import error_report
from .main_window import MainWindow
from .templates import default_example
from .theme import apply_palette

# Platforms with no screen: the "Cannot open file" dialog would wait forever for a click nobody can make.
HEADLESS_PLATFORMS = ("offscreen", "minimal")


def run_app(argv: list[str]) -> int:
    app = QApplication.instance() or QApplication([sys.argv[0], *argv])
    app.setApplicationName("Layerloom")
    app.setOrganizationName("Layerloom")
    if argv and app.platformName() in HEADLESS_PLATFORMS and (problem := _unreadable(argv[0])):
        print(f"layerloom: {problem}", file=sys.stderr)
        return UNREADABLE
    error_report.install()  # an exception in any slot reaches a dialog and the log, not only a terminal
    window = MainWindow(defer_panels=True)
    apply_palette(app, window.theme)
    if argv:
        window.open_path(Path(argv[0]))
    elif not window.files.offer_recovery() and (example := default_example()) is not None:
        window.files.new_from_template(example)
    window.show()
    app.processEvents()  # the first paint, before the training docks load pyqtgraph
    window.finish_setup()
    QTimer.singleShot(500, window.enable_stats)  # after the first paint; the worker process computes them
    return app.exec()


def _unreadable(path: str) -> str | None:
    """Why `path` cannot be opened (missing, a folder, not a graph), or None when it can. Only asked
    without a screen: with one, the window opens and says why in a dialog, as File → Open does."""
    try:
        load_document(path)
    except DocumentError as exc:
        return str(exc)
    return None
