"""Export the trained network: verified ONNX and/or standalone PyTorch code, done by the worker.

Export needs torch (tracing, onnxruntime parity), so the dialog only collects paths and sends an
`export` command; the worker's `export_result` says whether the ONNX file matched torch on fresh
inputs, and that verdict is shown before anyone uses the file.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from .client import TrainingClient


class ExportDialog(QDialog):
    def __init__(self, client: TrainingClient, graph: dict, weights: str | None, folder: Path, parent=None,
                 request_id: str = "export"):
        super().__init__(parent)
        self.setWindowTitle("Export network")
        self.client, self.graph, self.weights, self.request_id = client, graph, weights, request_id
        self.result: dict | None = None
        stem = folder / "model"
        self.onnx_on, self.onnx_path = QCheckBox("ONNX", checked=True), QLineEdit(str(stem.with_suffix(".onnx")))
        self.python_on = QCheckBox("PyTorch code", checked=True)
        self.python_path = QLineEdit(str(stem.with_suffix(".py")))
        form = QFormLayout()
        for box, line, suffix in ((self.onnx_on, self.onnx_path, "ONNX (*.onnx)"),
                                  (self.python_on, self.python_path, "Python (*.py)")):
            form.addRow(box, self._path_row(line, suffix))
        source = f"trained weights: {weights}" if weights else "no trained weights yet — exports fresh initial weights"
        self.report = QLabel(wordWrap=True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.ActionRole)
        self.export_button.clicked.connect(self.export)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(QLabel(source, wordWrap=True))
        layout.addWidget(self.report)
        layout.addWidget(self.buttons)
        client.message.connect(self._message)
        self.resize(560, 240)

    def _path_row(self, line: QLineEdit, suffix: str) -> QWidget:
        browse = QPushButton("…", maximumWidth=32)
        browse.clicked.connect(lambda: self._browse(line, suffix))
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(line, 1)
        layout.addWidget(browse)
        return row

    def _browse(self, line: QLineEdit, suffix: str) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export to", line.text(), suffix)
        if path:
            line.setText(path)

    def export(self) -> None:
        onnx = self.onnx_path.text().strip() if self.onnx_on.isChecked() else None
        python = self.python_path.text().strip() if self.python_on.isChecked() else None
        if not (onnx or python):
            self.report.setText("Tick ONNX or PyTorch code (or both).")
            return
        self.result = None
        self.export_button.setEnabled(False)
        self.report.setText("Exporting and checking ONNX against torch in the worker…")
        self.client.send(cmd="export", id=self.request_id, graph=self.graph, weights=self.weights, onnx=onnx,
                         python=python)

    def _message(self, message: dict) -> None:
        if message.get("id") != self.request_id:
            return
        self.export_button.setEnabled(True)
        if message["type"] == "worker_error":
            self.result = {"passed": False, "error": message["message"]}
            self.report.setText(f"<span style='color:#e5484d'>Export failed: {message['message']}</span>")
            return
        self.result = message
        files = "<br>".join(message["paths"])
        if message["passed"] is None:
            verdict = "PyTorch code written."
        else:
            color = "#5fd068" if message["passed"] else "#e5484d"
            verdict = f"<span style='color:{color}'><b>{message['summary']}</b></span>"
        self.report.setText(f"{verdict}<br>{files}")
