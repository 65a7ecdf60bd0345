"""A `layerloom` command (`python -m engine …`) run as a QProcess whose stdout is JSON lines.

Each complete line that is a JSON object is emitted as `line`; anything else on stdout is ignored
(a command's own progress text). `ended` gives the exit code (-1: crashed or killed) and the end of
stderr, which holds the command's `error: …` line when it failed. Arguments go to the process as a
list, never through a shell, so a path or a name the user typed is passed as it is.
"""

from __future__ import annotations

import json
import sys

from PySide6.QtCore import QObject, QProcess, Signal

from app.training.client import ROOT

STDERR_KEPT = 4000  # characters of stderr kept for the failure message


class EngineProcess(QObject):
    line = Signal(object)  # one JSON object from stdout
    ended = Signal(int, str)  # exit code (-1 when it crashed or was killed), the end of stderr

    def __init__(self, arguments: list[str], parent: QObject | None = None):
        super().__init__(parent)
        self.arguments = arguments
        self.stderr = ""
        self._buffer = b""
        self.process = QProcess(self)
        self.process.setWorkingDirectory(str(ROOT))
        self.process.readyReadStandardOutput.connect(self._read)
        self.process.readyReadStandardError.connect(self._read_stderr)
        self.process.finished.connect(self._finished)
        self.process.errorOccurred.connect(self._error)

    def start(self) -> None:
        self.process.start(sys.executable, ["-m", "engine", *self.arguments])

    @property
    def running(self) -> bool:
        return self.process.state() != QProcess.ProcessState.NotRunning

    def stop(self) -> None:
        """Ask the command to end (SIGTERM); a sweep's trials end with it and resume when it is started again."""
        if self.running:
            self.process.terminate()

    def kill_and_wait(self) -> None:
        if self.running:
            self.process.kill()
            self.process.waitForFinished(3000)

    def _read(self) -> None:
        self._buffer += bytes(self.process.readAllStandardOutput())
        *lines, self._buffer = self._buffer.split(b"\n")
        for raw in lines:
            try:
                message = json.loads(raw)
            except ValueError:
                continue
            if isinstance(message, dict):
                self.line.emit(message)

    def _read_stderr(self) -> None:
        self.stderr = (self.stderr + bytes(self.process.readAllStandardError()).decode("utf-8", "replace"))[
            -STDERR_KEPT:]

    def _finished(self, code: int, status: QProcess.ExitStatus) -> None:
        self._read()
        self._read_stderr()
        crashed = status == QProcess.ExitStatus.CrashExit
        self.ended.emit(-1 if crashed else code, self.stderr.strip())

    def _error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self.ended.emit(-1, f"cannot start {sys.executable} -m engine: {self.process.errorString()}")
