"""Save, reopen, autosave recovery, unreadable files, and the torch-free start."""

import itertools
import json
import subprocess
import sys
from pathlib import Path

from gestures import doc_state, open_graph
from PySide6.QtWidgets import QMessageBox
from test_canvas import CHAIN, CHAIN_EDGES

from app.autosave import recovery_path
from engine.fileformat import load_document

ROOT = Path(__file__).resolve().parents[2]


def test_save_and_reopen_gives_the_same_document(window, tmp_path):
    open_graph(window, tmp_path, CHAIN, CHAIN_EDGES)
    window.editor.set_param("fc1", "out_features", 12)
    target = tmp_path / "saved.json"
    assert window.files.save_as(target)
    assert not window.isWindowModified() and window.windowTitle().startswith("saved.json")
    saved = doc_state(window.doc)
    assert doc_state(load_document(target)) == saved
    window.editor.set_param("fc1", "out_features", 99)
    window.editor.stack.setClean()
    assert window.files.open(target)
    assert doc_state(window.doc) == saved


def test_autosave_is_offered_back_on_start(window, tmp_path, qtbot, dialogs):
    open_graph(window, tmp_path, CHAIN, CHAIN_EDGES)
    window.editor.set_param("fc1", "out_features", 5)
    assert window.autosaver.save_if_dirty()
    assert recovery_path().is_file()
    expected = doc_state(window.doc)

    from app.main_window import MainWindow

    second = MainWindow(theme_name="dark")
    qtbot.addWidget(second, before_close_func=lambda w: w.editor.stack.setClean())
    dialogs.answers.append(QMessageBox.StandardButton.Yes)
    assert second.files.offer_recovery()
    assert doc_state(second.doc) == expected
    assert second.isWindowModified()  # restored work is still unsaved
    assert second.files.save_as(tmp_path / "recovered.json")
    assert not recovery_path().exists()  # a clean save removes the recovery file


def test_corrupt_or_newer_file_is_refused_and_document_kept(window, tmp_path, dialogs):
    open_graph(window, tmp_path, CHAIN, CHAIN_EDGES)
    before, path_before = doc_state(window.doc), window.files.path
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text('{"format": "layerloom-graph", "version": 1, "nodes": [ {"id": ')
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps({"format": "layerloom-graph", "version": 99, "nodes": []}))
    for bad, expected in ((corrupt, "not valid JSON"), (newer, "upgrade Layerloom")):
        assert not window.files.open(bad)
        title, text = dialogs.shown[-1]
        assert title == "Cannot open file" and str(bad) in text and expected in text
        assert doc_state(window.doc) == before and window.files.path == path_before
    assert "version" in json.loads(newer.read_text()) and corrupt.read_text().endswith('"id": ')  # untouched


def test_main_window_does_not_import_torch():
    code = ("import sys; from PySide6.QtWidgets import QApplication; app = QApplication([]);"
            "from app.main_window import MainWindow; w = MainWindow(); w.show(); app.processEvents();"
            "assert 'torch' not in sys.modules, 'torch imported'; print('ok')")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
    assert result.stdout.strip() == "ok", result.stderr


def test_closing_with_unsaved_changes_asks(window, tmp_path, dialogs):
    open_graph(window, tmp_path, CHAIN, CHAIN_EDGES)
    window.editor.set_param("fc1", "out_features", 4)
    dialogs.answers.append(QMessageBox.StandardButton.Cancel)
    assert not window.close()  # Cancel keeps the window and the edit
    assert window.isVisible() and dialogs.shown[-1][0] == "Unsaved changes"
    dialogs.answers.append(QMessageBox.StandardButton.Save)
    assert window.close()
    assert load_document(window.files.path).nodes["fc1"].params["out_features"] == 4


def test_a_file_whose_nodes_pile_on_one_spot_opens_laid_out(window, tmp_path):
    """A script or a hand-written file may give no positions: every node at (0, 0) shows as one node."""
    nodes = [("input1", "Input", {"shape": [8]}, (0, 0))] + [(f"relu{i}", "ReLU", {}, (0, 0)) for i in range(1, 30)]
    ids = [n[0] for n in nodes]
    open_graph(window, tmp_path, nodes, [(f"{a}.out", f"{b}.in") for a, b in itertools.pairwise(ids)])
    positions = [node.position for node in window.doc.nodes.values()]
    assert len(set(positions)) == len(positions)  # spread out …
    xs = [window.doc.nodes[n].position[0] for n in ids[:6]]
    assert xs == sorted(xs) and len(set(xs)) == 6  # … left to right along the chain
    assert window.scene.items_by_id["relu5"].pos().toTuple() == window.doc.nodes["relu5"].position
    assert window.editor.stack.count() == 0 and window.editor.stack.isClean()  # part of opening: no undo, unchanged
    assert "Laid out the 30 nodes" in window.statusBar().currentMessage()
