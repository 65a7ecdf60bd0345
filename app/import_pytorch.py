"""File → Import PyTorch model…: an ExportedProgram file (`.pt2`, from `torch.export.save`) or a
factory (`torchvision.models:resnet18`, keyword arguments as JSON, one sample's input shape) becomes
a new graph holding the model's weights (engine/torch_import).

Tracing takes seconds, so it runs on a thread while a progress dialog spins and the window keeps
painting; torch is imported only then. A refusal shows every module or op without a node.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QMessageBox,
    QProgressDialog,
    QPushButton,
    QRadioButton,
    QWidget,
)

from engine.runs import user_data_dir

POLL_MS = 50


@dataclass
class PytorchRequest:
    """What to import: a `.pt2` file, or a factory with its keyword arguments (JSON) and input shapes."""

    pt2: str = ""
    factory: str = ""
    kwargs: str = ""
    shapes: list[str] = field(default_factory=lambda: ["3,224,224"])

    @property
    def label(self) -> str:
        return Path(self.pt2).name if self.pt2 else self.factory


class PytorchImportDialog(QDialog):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Import PyTorch model")
        self.from_file = QRadioButton("ExportedProgram file (.pt2, written by torch.export.save)")
        self.from_factory = QRadioButton("A function that returns an nn.Module")
        group = QButtonGroup(self)
        for button in (self.from_file, self.from_factory):
            group.addButton(button)
        self.from_factory.setChecked(True)
        self.path = QLineEdit(placeholderText="model.pt2")
        browse = QPushButton("Browse…", clicked=self._browse)
        path_row = QWidget()
        row = QHBoxLayout(path_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.path)
        row.addWidget(browse)
        self.factory = QLineEdit(placeholderText="torchvision.models:resnet18")
        self.kwargs = QLineEdit(placeholderText='{"num_classes": 10}  (optional)')
        self.shape = QLineEdit("3,224,224", toolTip="One sample's shape, without the batch, and :int64 for token "
                                                    "ids (8:int64); several inputs: separate them with ;")
        form = QFormLayout(self)
        form.addRow(self.from_file)
        form.addRow("File", path_row)
        form.addRow(self.from_factory)
        form.addRow("Function (module:name)", self.factory)
        form.addRow("Keyword arguments (JSON)", self.kwargs)
        form.addRow("Input shape", self.shape)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.path.textEdited.connect(lambda: self.from_file.setChecked(True))
        self.factory.textEdited.connect(lambda: self.from_factory.setChecked(True))

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "PyTorch ExportedProgram", "", "ExportedProgram (*.pt2)")
        if path:
            self.path.setText(path)
            self.from_file.setChecked(True)

    def request(self) -> PytorchRequest:
        if self.from_file.isChecked():
            return PytorchRequest(pt2=self.path.text().strip())
        shapes = [part.strip() for part in self.shape.text().split(";") if part.strip()]
        return PytorchRequest(factory=self.factory.text().strip(), kwargs=self.kwargs.text().strip(), shapes=shapes)


def import_pytorch(window, request: PytorchRequest | None = None) -> bool:
    """Ask what to import (unless `request`), import it off the GUI thread, and open the graph."""
    if refusal := window.switch_refusal():
        window.statusBar().showMessage(refusal, 10_000)
        return False
    if request is None:
        dialog = PytorchImportDialog(window)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return False
        request = dialog.request()
    outcome: dict = {}
    worker = threading.Thread(target=_run, args=(request, outcome), daemon=True)
    progress = QProgressDialog(f"Tracing {request.label} with torch.export…", "", 0, 0, window)
    progress.setCancelButton(None)  # torch.export cannot be interrupted
    progress.setMinimumDuration(300)
    worker.start()
    loop = QEventLoop()
    timer = QTimer(interval=POLL_MS, timeout=lambda: None if worker.is_alive() else loop.quit())
    timer.start()
    loop.exec()
    timer.stop()
    progress.close()
    if "error" in outcome:
        QMessageBox.critical(window, "Cannot import PyTorch model", outcome["error"])
        return False
    from .imported import adopt_imported

    return adopt_imported(window, outcome["imported"], _weights_path(request), request.label)


def _run(request: PytorchRequest, outcome: dict) -> None:
    from engine.errors import LayerloomError

    try:
        if request.pt2:
            from engine.torch_import import import_pt2

            outcome["imported"] = import_pt2(request.pt2)
        else:
            from engine.torch_import import call_factory, import_module, input_spec

            specs = [input_spec(text) for text in request.shapes] or [((3, 224, 224), "float32")]
            module = call_factory(request.factory, request.kwargs or None)
            outcome["imported"] = import_module(module, [shape for shape, _ in specs],
                                                request.factory.rpartition(":")[2], [dtype for _, dtype in specs])
    except LayerloomError as exc:
        outcome["error"] = str(exc)


def _weights_path(request: PytorchRequest) -> Path:
    """Beside the .pt2 file; a factory's model: in the user's data folder."""
    if request.pt2:
        return Path(request.pt2).with_suffix(".imported.safetensors")
    name = "".join(c if c.isalnum() or c in "._-" else "-" for c in request.factory)
    return user_data_dir() / "imported" / f"{name}.safetensors"
