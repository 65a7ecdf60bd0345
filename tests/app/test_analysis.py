"""The Analysis dock: the same figures as `layerloom validate --json`, sortable, a click selects the
node, a fit verdict against this machine — and the editor process never imports torch for them."""

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.analysis_panel import COLUMNS, SORT_ROLE
from app.templates import EXAMPLES
from engine.cli import main as cli

WORKER_MS = 90_000
ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_the_analysis_table_shows_validates_figures_and_selects_nodes(qtbot, window, capsys):
    assert window.files.new_from_template(EXAMPLES / "digits_cnn.json")
    window.enable_stats()
    table = window.analysis.table
    qtbot.waitUntil(lambda: table.rowCount() == len(window.doc.nodes), timeout=WORKER_MS)

    capsys.readouterr()
    batch = str(window.doc.training["batch_size"])  # the panel measures at the graph's own batch size
    assert cli(["validate", str(EXAMPLES / "digits_cnn.json"), "--json", "--batch-size", batch]) in (0, 1)
    expected = json.loads(capsys.readouterr().out)["stats"]["nodes"]
    shown = {table.item(r, 0).text(): [table.item(r, c).data(SORT_ROLE) for c in (3, 4, 5)]
             for r in range(table.rowCount())}
    assert shown == {n: [s["params"], s["macs"], s["activation_bytes"]] for n, s in expected.items()}
    shapes = {table.item(r, 0).text(): table.item(r, 2).text() for r in range(table.rowCount())}
    assert shapes["input1"] == "(N, 1, 8, 8)" and shapes["fc1"] == "(N, 10)"

    table.sortItems(3, Qt.SortOrder.DescendingOrder)  # by parameters, largest first
    params = [table.item(r, 3).data(SORT_ROLE) for r in range(table.rowCount())]
    assert params == sorted(params, reverse=True)
    biggest = table.item(0, 0).text()
    table.cellClicked.emit(0, 0)
    assert window.scene.selected_node_ids() == [biggest]
    assert "Fits" in window.analysis.fit.text() and "RAM" in window.analysis.fit.text()
    assert "params" in window.params_label.text() and "fits" in window.params_label.text()
    assert re.search(r"≈ \S+ (µs|ms|s)/step", window.params_label.text())
    assert re.match(r"⏱ ≈ \S+ (µs|ms|s) per training step on this (CPU|GPU) at batch " + batch,
                    window.analysis.speed.text())
    times = {table.item(r, 0).text(): table.item(r, COLUMNS.index("Time / step")).data(SORT_ROLE)
             for r in range(table.rowCount())}
    assert times["input1"] == 0 and all(times[n] > 0 for n, s in expected.items() if s["params"])


def test_the_editor_gets_statistics_without_importing_torch(tmp_path):
    script = textwrap.dedent(f"""
        import os, sys, time
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        os.environ["LAYERLOOM_RECOVERY_DIR"] = {str(tmp_path / "recovery")!r}
        from PySide6.QtCore import QSettings
        QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, {str(tmp_path / "settings")!r})
        from PySide6.QtWidgets import QApplication
        app = QApplication([])
        from app.main_window import MainWindow
        from app.templates import EXAMPLES
        from app.training.client import shutdown_shared_client
        window = MainWindow(theme_name="dark")
        window.show()
        window.files.new_from_template(EXAMPLES / "digits_mlp.json")
        window.enable_stats()
        deadline = time.monotonic() + 90
        while window.analysis.table.rowCount() == 0 and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.01)
        print("rows", window.analysis.table.rowCount(), "torch", "torch" in sys.modules)
        window.editor.stack.setClean()
        shutdown_shared_client()
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=150)
    assert "rows 9 torch False" in done.stdout, done.stdout + done.stderr
