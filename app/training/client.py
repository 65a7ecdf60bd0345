"""The GUI's handle on the training worker process (engine/train/worker.py) through QProcess.

The worker is started once, in the background, and kept warm: torch is imported there, never in
the GUI process. Its stdout is read in the GUI thread (QProcess signals), split into JSON lines
and re-emitted as `message`. When it dies — a crash, an out-of-memory kill, a user's `kill` — the
client says so with `crashed` (the reason plus the end of its stderr) and starts a fresh one, so
the editor keeps working and the next Train still answers.

One client serves the whole application (`shared_client()`): a second window reuses the warm
worker instead of paying for another torch import.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, Signal
from PySide6.QtWidgets import QApplication

ROOT = Path(__file__).resolve().parents[2]
STDERR_KEPT = 4000  # characters of the worker's stderr quoted in a crash report
MAX_FAILED_STARTS = 3  # a worker that dies before "ready" this often in a row is not restarted
QUIT_WAIT_MS = 3000

log = logging.getLogger(__name__)


class TrainingClient(QObject):
    # Signals carry `object`, not `dict`: a dict signal becomes a QVariantMap, which sorts its keys and would put
    # the per-layer gradient norms in alphabetical instead of graph order.
    ready = Signal(object)  # the worker's ready message: pid, threads, cuda device names, cpu_only
    message = Signal(object)  # every later message: training events, replies, worker_error
    crashed = Signal(str)  # a human explanation; a fresh worker is already being started
    owner_changed = Signal()  # a window took the worker for a run, or released it: every window updates Train

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.info: dict | None = None  # the current worker's ready message
        self._owner: QObject | None = None
        self._process: QProcess | None = None
        self._buffer = b""
        self._stderr = ""
        self._pending: list[dict] = []
        self._failed_starts = 0
        self._closing = False

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def owner(self) -> QObject | None:
        """The controller whose run the worker is serving (None: free for the next Train)."""
        return self._owner

    @owner.setter
    def owner(self, controller: QObject | None) -> None:
        changed = controller is not self._owner
        self._owner = controller
        if changed:
            self.owner_changed.emit()

    @property
    def is_ready(self) -> bool:
        return self.info is not None

    @property
    def closed(self) -> bool:
        return self._closing

    @property
    def pid(self) -> int | None:
        return self.info["pid"] if self.info else None

    def start(self) -> None:
        """Start a worker unless one is running or starting; returns at once (torch loads there)."""
        if self._process is not None or self._closing:
            return
        process = QProcess(self)
        process.setWorkingDirectory(str(ROOT))
        process.readyReadStandardOutput.connect(self._read_stdout)
        process.readyReadStandardError.connect(self._read_stderr)
        process.finished.connect(self._finished)
        process.errorOccurred.connect(self._error)
        self._process, self._buffer, self._stderr, self.info = process, b"", "", None
        process.start(sys.executable, ["-m", "engine.train.worker"])

    def send(self, **command) -> None:
        """Send a command; before the worker is ready it waits in a queue (and a worker is started).
        After `shutdown` (the app is quitting) commands are dropped."""
        if self._closing:
            return
        if not self.is_ready:
            self._pending.append(command)
            self.start()
            return
        self._process.write((json.dumps(command, allow_nan=False) + "\n").encode())

    def shutdown(self) -> None:
        """Ask the worker to quit (a run in progress stops and checkpoints), kill it if it hangs."""
        self._closing = True
        process, self._process, self.info = self._process, None, None
        if process is None or process.state() == QProcess.ProcessState.NotRunning:
            return
        for signal, slot in ((process.finished, self._finished), (process.errorOccurred, self._error),
                             (process.readyReadStandardOutput, self._read_stdout),
                             (process.readyReadStandardError, self._read_stderr)):
            signal.disconnect(slot)
        process.write(b'{"cmd": "quit"}\n')
        process.closeWriteChannel()
        if not process.waitForFinished(QUIT_WAIT_MS):
            process.kill()
            process.waitForFinished(QUIT_WAIT_MS)

    # -- reading ------------------------------------------------------------------------------
    def _read_stdout(self) -> None:
        self._buffer += bytes(self._process.readAllStandardOutput())
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            if not line.strip():
                continue
            try:
                message = json.loads(line)
            except ValueError:
                log.warning("training worker wrote a non-JSON line: %r", line[:200])
                continue
            if message.get("type") == "ready" and self.info is None:
                self._became_ready(message)
            else:
                self.message.emit(message)
                if message.get("type") in ("run_end", "worker_error") and message.get("cmd") == "train":
                    # the owner releases the worker itself when it sees this; this covers an owner that
                    # is gone (its window closed before the run's end arrived), which would otherwise
                    # keep the worker reserved and refuse every later Train
                    self.owner = None

    def _read_stderr(self) -> None:
        text = bytes(self._process.readAllStandardError()).decode(errors="replace")
        self._stderr = (self._stderr + text)[-STDERR_KEPT:]

    def _became_ready(self, message: dict) -> None:
        self.info, self._failed_starts = message, 0
        self.ready.emit(message)
        pending, self._pending = self._pending, []
        for command in pending:
            self.send(**command)

    # -- dying ---------------------------------------------------------------------------------
    def _error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._died(f"the training worker could not be started ({self._process.errorString()}) — "
                       f"check that {sys.executable} can run `python -m engine.train.worker`")

    def _finished(self, exit_code: int, status: QProcess.ExitStatus) -> None:
        if status == QProcess.ExitStatus.CrashExit:
            why = "was killed or crashed"
        else:
            why = f"exited with code {exit_code}"
        self._died(f"The training worker {why}; any run in progress was lost (its last checkpoint is kept). "
                   "A fresh worker is starting.")

    def _died(self, reason: str) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        was_ready, self.info, self.owner = self.info is not None, None, None
        tail = self._stderr.strip().splitlines()[-6:]
        self.crashed.emit(reason + ("\n\nWorker output:\n" + "\n".join(tail) if tail else ""))
        process.deleteLater()
        self._failed_starts = 0 if was_ready else self._failed_starts + 1
        if self._failed_starts < MAX_FAILED_STARTS and not self._closing:
            self.start()


_shared: TrainingClient | None = None


def shared_client() -> TrainingClient:
    """The application's one client, owned by the QApplication and shut down when it quits."""
    global _shared
    if _shared is None or _shared.closed:
        app = QApplication.instance()
        _shared = TrainingClient(app)
        app.aboutToQuit.connect(_shared.shutdown)
    return _shared


def shutdown_shared_client() -> None:
    """Stop the shared worker now (the app does this when it quits; tests, which never quit, at the end)."""
    if _shared is not None:
        _shared.shutdown()
