"""One run on this machine's GPUs (or CPU processes): PyTorch's own launcher as a QProcess.

The app starts `python -m torch.distributed.run --standalone --nproc-per-node N -m engine train GRAPH
--out RUN_DIR` with its own interpreter (no `torchrun` on PATH needed) in the project folder, so the
train command is the one a launch bundle runs (engine/launch/bundle.py `train_command`). Only rank 0
writes the run folder; the app reads it like any followed run (follow.py). torch is imported there,
never here.

Stop is graceful first: SIGINT to the launcher, which forwards it once to every worker; the workers
agree to stop after the current step (Distributed.any), checkpoint and exit. torch starts each worker
in a session of its own, so killing the launcher alone would leave them training: a launcher that has
not exited STOP_GRACE_MS later is killed together with the process group of every process under it
(found through /proc on Linux).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QTimer, Signal

from engine.launch.bundle import LaunchPlan, train_command

from .client import ROOT

OUTPUT_KEPT = 4000  # characters of the launcher's output quoted when the run fails
STOP_GRACE_MS = 20_000  # a stop after the current step and a checkpoint; torch's own agent waits 30 s
QUIT_WAIT_MS = 3000


def torchrun_arguments(graph_file: Path, run_dir: Path, processes: int, device: str, strategy: str,
                       epochs: int | None = None) -> list[str]:
    """The interpreter's arguments: one node, `processes` workers (one per GPU on "cuda"; gloo on "cpu")."""
    plan = LaunchPlan(nodes=1, gpus_per_node=processes if device == "cuda" else 0, max_restarts=0,
                      strategy=strategy)
    plan.check()
    train = train_command(graph_file, run_dir, plan)
    if epochs is not None:
        train += ["--epochs", str(epochs)]
    return ["-m", "torch.distributed.run", "--standalone", "--nnodes=1", f"--nproc-per-node={processes}",
            "--max-restarts=0", *train]


class TorchrunProcess(QObject):
    exited = Signal(int, str)  # exit code (-1: crashed or killed), the end of the launcher's output

    def __init__(self, arguments: list[str], parent: QObject | None = None):
        super().__init__(parent)
        self.arguments = arguments
        self.output = ""
        self.process = QProcess(self)
        self.process.setWorkingDirectory(str(ROOT))
        self.process.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        self.process.readyReadStandardOutput.connect(self._read)
        self.process.finished.connect(self._finished)
        self.process.errorOccurred.connect(self._error)
        self.force_timer = QTimer(self, singleShot=True, interval=STOP_GRACE_MS)
        self.force_timer.timeout.connect(self.kill)

    @property
    def command_line(self) -> str:
        return " ".join([sys.executable, *self.arguments])

    @property
    def alive(self) -> bool:
        return self.process.state() != QProcess.ProcessState.NotRunning

    def start(self) -> None:
        self.process.start(sys.executable, self.arguments)

    def stop(self) -> None:
        """Ask every worker to stop after this step (they checkpoint); kill them all if that takes too long."""
        if not self.alive or self.force_timer.isActive():
            return
        pid = self.process.processId()
        if pid and sys.platform != "win32":
            os.kill(pid, signal.SIGINT)
            self.force_timer.start()
        else:
            self.kill()

    def kill(self) -> None:
        """Kill the workers' process groups, then the launcher."""
        if not self.alive:
            return
        pid = self.process.processId()
        for child in descendants(pid):
            _kill_group(child)
        self.process.kill()

    def shutdown(self) -> None:
        """The app is quitting: stop gracefully if that is quick, else kill."""
        if not self.alive:
            return
        self.stop()
        if not self.process.waitForFinished(QUIT_WAIT_MS):
            self.kill()
            self.process.waitForFinished(QUIT_WAIT_MS)

    def _read(self) -> None:
        text = bytes(self.process.readAllStandardOutput()).decode(errors="replace")
        self.output = (self.output + text)[-OUTPUT_KEPT:]

    def _finished(self, code: int, status: QProcess.ExitStatus) -> None:
        self.force_timer.stop()
        self._read()
        self.exited.emit(code if status == QProcess.ExitStatus.NormalExit else -1, self.output)

    def _error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self.exited.emit(-1, f"could not start {sys.executable} -m torch.distributed.run "
                                 f"({self.process.errorString()})")


def descendants(pid: int) -> list[int]:
    """Every process under `pid` (children first), from /proc; [] where /proc does not list children."""
    found, queue = [], [pid]
    while queue:
        parent = queue.pop(0)
        for task in Path(f"/proc/{parent}/task").glob("*/children"):
            try:
                children = [int(p) for p in task.read_text().split()]
            except (OSError, ValueError):
                continue
            found += children
            queue += children
    return found


def _kill_group(pid: int) -> None:
    """SIGKILL the process group `pid` leads (a torch worker), else the process alone."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
