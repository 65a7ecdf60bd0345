"""Startup benchmark: seconds from process start to the app window's first paint, against a bare Qt window.

    python bench/startup.py [--rounds N]

Each round starts two fresh processes, interleaved: `layerloom` as a user starts it (offscreen, on the
built-in example) and a reference process that imports PySide6, shows an empty QMainWindow and paints
it. The app's moment is the end of the first paint in `app.main.run_app` (just before `finish_setup`
loads the training docks); the process exits there. Prints min / median / max of both and their ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

APP = f"""
import os, sys, time
sys.path.insert(0, {str(ROOT)!r})
from app import main_window

def painted(self):
    print("PAINTED", time.time(), flush=True)
    os._exit(0)

main_window.MainWindow.finish_setup = painted
from app.launcher import main
main([])
"""

BARE = """
import os, time
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication([])
window = QMainWindow()
window.resize(1600, 1000)
window.show()
app.processEvents()
print("PAINTED", time.time(), flush=True)
os._exit(0)
"""


def seconds_to_paint(code: str) -> float:
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    started = time.time()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60).stdout
    painted = [float(line.split()[1]) for line in out.splitlines() if line.startswith("PAINTED")]
    if not painted:
        raise SystemExit(f"the process never painted:\n{out}")
    return painted[0] - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args(argv)
    app, bare = [], []
    for _ in range(args.rounds):
        app.append(seconds_to_paint(APP))
        bare.append(seconds_to_paint(BARE))
    for name, times in (("layerloom", app), ("bare Qt window", bare)):
        print(f"{name:>15}: {min(times):.2f} / {statistics.median(times):.2f} / {max(times):.2f} s "
              "(min / median / max)")
    print(f"{'ratio':>15}: {statistics.median(app) / statistics.median(bare):.2f}× the bare window (medians)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
