"""Does watching a run slow it down? Headless worker vs the app with the live view open.

    python bench/live_view.py [--epochs 40] [--repeats 2]

Both sides run the same job (digits MLP from resources/examples) in the same worker process
type; throughput is the trainer's own: training samples / Σ epoch seconds. The GUI side opens the
main window offscreen with the live view dock raised and measures the longest gap between ticks
of a 5 ms QTimer heartbeat while the run is active (the event loop's worst stall). Targets: GUI
throughput ≥ 0.95 × headless, longest stall ≤ 50 ms. Runs alternate to spread the noise of a
shared machine; the median and the best run of each side are reported.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from engine.fileformat import load_document, to_dict  # noqa: E402

GRAPH = ROOT / "resources" / "examples" / "digits_mlp.json"
HEARTBEAT_MS = 5


def throughput(epochs: list[dict], train_samples: int) -> float:
    return train_samples * len(epochs) / sum(e["seconds"] for e in epochs)


def train_samples(started: dict) -> int:
    return int(started["dataset"].split(":")[1].split(" train")[0])  # "digits: 1437 train / 360 val, …"


def headless(epochs: int, run_dir: Path) -> float:
    worker = subprocess.Popen([sys.executable, "-m", "engine.train.worker"], cwd=ROOT, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert json.loads(worker.stdout.readline())["type"] == "ready"
    command = {"cmd": "train", "graph": to_dict(load_document(GRAPH)), "run_dir": str(run_dir), "epochs": epochs,
               "device": "cpu"}
    worker.stdin.write(json.dumps(command) + "\n")
    worker.stdin.flush()
    messages = []
    while not messages or messages[-1]["type"] not in ("run_end", "worker_error"):
        messages.append(json.loads(worker.stdout.readline()))
    worker.stdin.write('{"cmd": "quit"}\n')
    worker.stdin.flush()
    worker.wait()
    started = next(m for m in messages if m["type"] == "started")
    return throughput([m for m in messages if m["type"] == "epoch"], train_samples(started))


class GuiBench:
    def __init__(self):
        from PySide6.QtCore import QElapsedTimer, Qt, QTimer
        from PySide6.QtWidgets import QApplication

        from app.main_window import MainWindow
        from app.templates import EXAMPLES
        from app.training import install_training

        self.app = QApplication.instance() or QApplication([])
        self.window = MainWindow(theme_name="dark")
        self.training = getattr(self.window, "training", None) or install_training(self.window)
        self.window.resize(1500, 950)
        self.window.show()
        self.window.files.new_from_template(EXAMPLES / "digits_mlp.json")
        self.training.live_dock.raise_()
        self.clock, self.last, self.longest = QElapsedTimer(), 0, 0
        self.heartbeat = QTimer(interval=HEARTBEAT_MS, timerType=Qt.TimerType.PreciseTimer)
        self.heartbeat.timeout.connect(self._beat)
        self.training.client.start()
        self._wait(lambda: self.training.client.is_ready, 120)

    def _beat(self) -> None:
        now = self.clock.elapsed()
        self.longest, self.last = max(self.longest, now - self.last), now

    def _wait(self, predicate, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError("the run did not end in time")
            self.app.processEvents()
            time.sleep(0.001)

    def run(self, epochs: int, runs_root: Path) -> tuple[float, int]:
        os.environ["LAYERLOOM_DATA_DIR"] = str(runs_root)  # the template is unsaved: its runs go there
        self.training.epochs_override = epochs
        self.training.train()
        self._wait(lambda: self.training.record.state == "running", 120)  # stall measured from the first event
        self.clock.start()
        self.last, self.longest = 0, 0
        self.heartbeat.start()
        self._loop_until(lambda: not self.training.running)
        self.heartbeat.stop()
        self._wait(lambda: self.training.client.owner is None, 60)
        record = self.training.record
        assert record.state == "finished", record.message
        return throughput(record.epochs, train_samples(record.events[1])), self.longest

    def _loop_until(self, predicate) -> None:
        """Run the real event loop (not processEvents polling) until `predicate` holds."""
        from PySide6.QtCore import QEventLoop, QTimer

        loop = QEventLoop()
        check = QTimer(interval=20)
        check.timeout.connect(lambda: predicate() and loop.quit())
        check.start()
        loop.exec()
        check.stop()

    def close(self) -> None:
        self.training.client.shutdown()
        self.window.editor.stack.setClean()
        self.window.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    gui = GuiBench()
    plain, live, stalls = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            plain.append(headless(args.epochs, Path(tmp) / f"headless{i}"))
            rate, stall = gui.run(args.epochs, Path(tmp) / f"gui{i}")
            live.append(rate)
            stalls.append(stall)
    gui.close()
    print(f"digits MLP, {args.epochs} epochs × {args.repeats} runs each, CPU, torch threads in worker: "
          f"max(1, cores-1) = {max(1, (os.cpu_count() or 1) - 1)}")
    print(f"{'mode':<24}{'median samples/s':>18}{'best samples/s':>16}   runs")
    for name, rates in (("headless worker", plain), ("app + live view", live)):
        print(f"{name:<24}{statistics.median(rates):>18,.0f}{max(rates):>16,.0f}   {[round(r) for r in rates]}")
    print(f"{'ratio (target ≥ 0.95)':<24}{statistics.median(live) / statistics.median(plain):>18.3f}"
          f"{max(live) / max(plain):>16.3f}")
    print(f"{'longest stall ms (≤ 50)':<24}{statistics.median(stalls):>18.0f}{min(stalls):>16}   {stalls}")
    print("(the stall row shows the median and the least of the per-run maxima)")

if __name__ == "__main__":
    main()
