"""Export the trained network: verified ONNX and/or standalone PyTorch code, done by the worker.

The dialog offers the open graph's runs and their checkpoints (best / last) — only this graph's,
read from its run store — and exports each with the graph it trained (the run's graph.json), so a
later edit of the graph never mismatches the weights. "Untrained" exports the graph as it is now,
with fresh weights, and says so. Export needs torch (tracing, onnxruntime parity), so the dialog
only collects choices and sends an `export` command; the worker's `export_result` says whether the
ONNX file matched torch on fresh inputs, and that verdict is shown before anyone uses the file.

A graph with several Output nodes (a GAN's generator and discriminator) may be exported whole or one
Output at a time; a GAN offers its generator first, so the file takes the noise and gives samples.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
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

from engine.runs import RunInfo, RunStoreError, run_graph

from .client import TrainingClient

UNTRAINED = None  # the source combo's data for "no weights"


class ExportDialog(QDialog):
    def __init__(self, client: TrainingClient, runs: list[RunInfo], graph: dict, folder: Path,
                 chosen_run: Path | None = None, parent=None, request_id: str = "export"):
        super().__init__(parent)
        self.setWindowTitle("Export network")
        self.client, self.graph, self.request_id = client, graph, request_id
        self.result: dict | None = None
        self.source = QComboBox()
        for run in reversed(runs):  # newest first
            for tag, weights in run.checkpoints.items():
                epoch = run.best["epoch"] if tag == "best" and run.best else run.epochs
                metric = f", {run.best_text()}" if tag == "best" else ""
                self.source.addItem(f"{run.label} — {tag} (epoch {epoch}{metric})", (run.path, str(weights)))
        # the run on screen, best checkpoint first; else the newest run's
        runs_listed = [self.source.itemData(i)[0] for i in range(self.source.count())]
        self.source.setCurrentIndex(runs_listed.index(chosen_run) if chosen_run in runs_listed else 0)
        self.source.addItem("Untrained — the graph as it is now, fresh random weights", UNTRAINED)
        self.source.currentIndexChanged.connect(self._source_changed)
        self.warning = QLabel(wordWrap=True)
        self.preprocessing = QCheckBox("Build input preprocessing into the ONNX graph (standardisation, image "
                                       "pixels → tensor)", checked=True)
        self.softmax = QCheckBox("Add a probabilities output (softmax) for classifiers", checked=False)
        self.outputs = _outputs_combo(graph)
        stem = folder / "model"
        self.onnx_on, self.onnx_path = QCheckBox("ONNX", checked=True), QLineEdit(str(stem.with_suffix(".onnx")))
        self.python_on = QCheckBox("PyTorch code", checked=True)
        self.python_path = QLineEdit(str(stem.with_suffix(".py")))
        form = QFormLayout()
        form.addRow("Weights", self.source)
        form.addRow("", self.warning)
        for box, line, suffix in ((self.onnx_on, self.onnx_path, "ONNX (*.onnx)"),
                                  (self.python_on, self.python_path, "Python (*.py)")):
            form.addRow(box, self._path_row(line, suffix))
        form.addRow("", self.preprocessing)
        form.addRow("", self.softmax)
        if self.outputs.count() > 1:
            form.addRow("Outputs (ONNX)", self.outputs)
        self.report = QLabel(wordWrap=True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.ActionRole)
        self.export_button.clicked.connect(self.export)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.report)
        layout.addWidget(self.buttons)
        client.message.connect(self._message)
        self._source_changed()
        self.resize(640, 300)

    def chosen(self) -> tuple[Path, str] | None:
        """(run folder, weights file) of the chosen checkpoint, or None for an untrained export."""
        return self.source.currentData()

    def _source_changed(self, *_) -> None:
        untrained = self.chosen() is UNTRAINED
        self.warning.setText("<span style='color:#e8a317'>⚠ Untrained: the exported model has random weights and "
                             "no preprocessing — for testing the export path only.</span>" if untrained else
                             "Exported with the graph this run trained, its class names and input preprocessing.")
        self.preprocessing.setEnabled(not untrained)

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
        chosen = self.chosen()
        graph, weights = self.graph, None
        if chosen is not UNTRAINED:
            run_dir, weights = chosen
            try:
                graph = run_graph(run_dir)
            except RunStoreError as exc:
                self.report.setText(f"<span style='color:#e5484d'>{exc}</span>")
                return
        self.result = None
        self.export_button.setEnabled(False)
        self.report.setText("Exporting and checking ONNX against torch in the worker…")
        self.client.send(cmd="export", id=self.request_id, graph=graph, weights=weights, onnx=onnx, python=python,
                         preprocessing=self.preprocessing.isChecked(), softmax=self.softmax.isChecked(),
                         outputs=self.outputs.currentData())

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
        warnings = "".join(f"<br><span style='color:#e8a317'>⚠ {w}</span>" for w in message.get("warnings", []))
        if message["passed"] is None:
            verdict = "PyTorch code written."
        else:
            color = "#5fd068" if message["passed"] else "#e5484d"
            verdict = f"<span style='color:{color}'><b>{message['summary']}</b></span>"
        self.report.setText(f"{verdict}{warnings}<br>{files}")


def _outputs_combo(graph: dict) -> QComboBox:
    """The whole graph, or one of its Output nodes alone; a GAN's generator is chosen first."""
    combo = QComboBox()
    combo.addItem("Every Output (the whole graph)", None)
    ids = [node["id"] for node in graph.get("nodes", []) if node.get("type") == "Output"]
    if len(ids) < 2:
        return combo
    generator = ((graph.get("training") or {}).get("gan") or {}).get("generator")
    for node_id in ids:
        role = " — the generator: noise in, samples out" if node_id == generator else ""
        combo.addItem(f"{node_id} only{role}", [node_id])
    if generator in ids:
        combo.setCurrentIndex(1 + ids.index(generator))
    return combo
