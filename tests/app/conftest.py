"""Qt test setup: offscreen platform, isolated settings and recovery folder, scripted dialogs."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QMessageBox  # noqa: E402


class Dialogs:
    """Stands in for QMessageBox: records what was shown and answers from a queue."""

    def __init__(self):
        self.shown: list[tuple[str, str]] = []
        self.answers: list[QMessageBox.StandardButton] = []

    def question(self, parent, title, text, *args, **kwargs):
        self.shown.append((title, text))
        if not self.answers:
            raise AssertionError(f"unexpected question dialog: {title}: {text}")
        return self.answers.pop(0)

    def critical(self, parent, title, text, *args, **kwargs):
        self.shown.append((title, text))
        return QMessageBox.StandardButton.Ok


@pytest.fixture(autouse=True)
def dialogs(monkeypatch, tmp_path):
    monkeypatch.setenv("LAYERLOOM_RECOVERY_DIR", str(tmp_path / "recovery"))
    monkeypatch.setenv("LAYERLOOM_DATA_DIR", str(tmp_path / "data"))  # unsaved graphs' runs
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    fake = Dialogs()
    monkeypatch.setattr(QMessageBox, "question", fake.question)
    monkeypatch.setattr(QMessageBox, "critical", fake.critical)
    return fake


@pytest.fixture(autouse=True)
def errors_reported():
    """What reached the app's error dialog and log during the test (app.error_report). A test that provokes
    an error on purpose empties the list; anything left fails the test: the app never swallows an error."""
    from app import error_report

    error_report.reporter.reported.clear()
    yield error_report.reporter.reported
    left = list(error_report.reporter.reported)
    error_report.reporter.reported.clear()
    if error_report.reporter.dialog is not None:
        error_report.reporter.dialog.close()
        error_report.reporter.dialog = None
    assert not left, f"errors reached the error dialog: {[(summary, repr(exc)) for summary, exc in left]}"


@pytest.fixture
def window(qtbot):
    from app.main_window import MainWindow

    win = MainWindow(theme_name="dark")
    # closing must not ask about the test's unsaved edits
    qtbot.addWidget(win, before_close_func=lambda w: w.editor.stack.setClean())
    win.show()
    qtbot.waitExposed(win)
    return win


@pytest.fixture(autouse=True)
def _empty_clipboard_after_test(qapp):
    """Qt's offscreen platform segfaults at interpreter exit while its clipboard holds QMimeData (seen
    with PySide6 6.11.3; the xcb platform does not), so no test leaves any behind."""
    yield
    qapp.clipboard().clear()


@pytest.fixture(autouse=True, scope="session")
def _stop_the_training_worker_at_the_end():
    """Windows start a warm training worker; pytest never quits the QApplication, so stop it here."""
    yield
    from app.training.client import shutdown_shared_client

    shutdown_shared_client()
