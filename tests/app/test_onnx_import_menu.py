"""File → Import ONNX…: the model opens as a new unsaved graph, a refusal shows in a message box."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper
from PySide6.QtWidgets import QFileDialog

ROOT = Path(__file__).resolve().parents[2]


def small_model(path: Path, op: str = "Relu") -> Path:
    """x (N, 3) → /fc1/Gemm → /act/<op> → y."""
    weight = helper.make_tensor("w", TensorProto.FLOAT, [2, 3], np.arange(6, dtype=np.float32))
    nodes = [helper.make_node("Gemm", ["x", "w"], ["h"], name="/fc1/Gemm", transB=1),
             helper.make_node(op, ["h"], ["y"], name=f"/act/{op}")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])], [weight])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)]), str(path))
    return path


def choose(monkeypatch, path: Path) -> None:
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args, **kwargs: (str(path), "ONNX model (*.onnx)"))


def menu_action(window, text: str):
    file_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&File")
    return next(a for a in file_menu.actions() if a.text() == text)


def test_import_opens_the_model_as_a_new_unsaved_graph(window, tmp_path, monkeypatch, qtbot):
    choose(monkeypatch, small_model(tmp_path / "tiny.onnx"))
    menu_action(window, "&Import ONNX…").trigger()
    nodes = window.doc.nodes
    assert [node.type_id for node in nodes.values()] == ["Input", "Linear", "ReLU", "Output"]
    assert {"x", "fc1", "act", "y"} == set(nodes) == set(window.scene.items_by_id)
    assert window.files.path is None and window.isWindowModified()  # saving asks where; closing asks first
    assert (tmp_path / "tiny.imported.safetensors").is_file()
    assert "Imported tiny.onnx" in window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: window.validity_label.text() == "✔ valid")


def test_a_refused_model_shows_why_and_keeps_the_document(window, tmp_path, monkeypatch, dialogs):
    before = dict(window.doc.nodes)
    choose(monkeypatch, small_model(tmp_path / "odd.onnx", op="Hardmax"))
    menu_action(window, "&Import ONNX…").trigger()
    title, text = dialogs.shown[-1]
    assert title == "Cannot import ONNX model" and "Hardmax" in text and "odd.onnx" in text
    assert window.doc.nodes == before


def test_importing_onnx_does_not_load_torch(tmp_path):
    """The app imports in its own process, which never loads torch."""
    model = small_model(tmp_path / "m.onnx")
    code = ("import sys; from engine.onnx_import import import_onnx; import_onnx(sys.argv[1]); "
            "sys.exit('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code, str(model)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
