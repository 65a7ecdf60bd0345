"""The training settings dock: a form over the document's training section, bound both ways.

Each widget edits one setting at a dotted path (`optimizer.lr`, `dataset.augment.flip`); an edit
becomes a SetTrainingCommand on the editor's undo stack for the top-level key, and document events
(undo, redo, opening a file) refresh the form with signals blocked so nothing echoes back. What a
dataset gives (its description and input shape) is asked of the worker — the GUI never loads data.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.config import DEVICES, OPTIMIZERS, PRECISIONS, SCHEDULES, ConfigError, TrainingConfig
from engine.data import BENCHMARKS, DATASETS
from engine.data.split import BALANCES
from engine.data.table_source import DEFAULT_STRATEGY, STRATEGIES
from engine.stats import format_bytes

from .commands import SetTrainingCommand
from .sample_preview import SamplePreview

FILE_DATASETS = {"csv": "CSV table (*.csv)", "parquet": "Parquet table (*.parquet)", "npz": "NumPy archive (*.npz)",
                 "npy": "NumPy inputs (*.npy)", "image_folder": None}
TABLES = ("csv", "parquet")
HF = ("hf_dataset",)  # a Hugging Face dataset: its columns a table by default, or an image or a text column
# datasets whose path is an optional folder: the benchmark sets, downloaded into the user data folder without one;
# a Hugging Face dataset, named on the hub instead
PATH_DATASETS = {**FILE_DATASETS, **dict.fromkeys(BENCHMARKS), **dict.fromkeys(HF)}
PREVIEW_DELAY_MS = 400
# (label, dotted path, kind, extra): kind is combo | int | float | bool | text | names (comma-separated) |
# square (an int n written as [n, n]); extra is the choices, the (low, high[, decimals]) range, or a text
# field's placeholder
FIELDS = (
    ("Optimizer", "optimizer.name", "combo", OPTIMIZERS),
    ("Learning rate", "optimizer.lr", "float", (1e-8, 1e6, 8)),
    ("Weight decay", "optimizer.weight_decay", "float", (0.0, 10.0, 6)),
    ("SGD momentum", "optimizer.momentum", "float", (0.0, 1.0, 3)),
    ("SGD Nesterov", "optimizer.nesterov", "bool", None),
    ("LR schedule", "schedule.name", "combo", SCHEDULES),
    ("Warmup epochs", "schedule.warmup_epochs", "float", (0.0, 10_000.0, 2)),
    ("Epochs", "epochs", "int", (1, 100_000)),
    ("Batch size", "batch_size", "int", (1, 1_000_000)),
    ("Gradient clip (0 = off)", "grad_clip", "float", (0.0, 1e6, 4)),
    ("Early stopping patience (0 = off)", "early_stopping.patience", "int", (0, 10_000)),
    ("Validation split", "dataset.val_split", "float", (0.01, 0.99, 2)),
    ("Hugging Face hub dataset", "dataset.hub", "text", "owner/name (instead of a folder)"),
    ("Hub dataset config", "dataset.config", "text", "the dataset's default"),
    ("Dataset split", "dataset.split", "text", "train"),
    ("Image column", "dataset.image", "text", "none: the columns are a table"),
    ("Text column", "dataset.text", "text", "none: the columns are a table"),
    ("Table label column", "dataset.label", "text", "last column"),
    ("Table feature columns", "dataset.features", "names", "all other columns (ids left out)"),
    ("Empty cells", "dataset.missing", "combo", STRATEGIES),
    ("Class balance", "dataset.class_balance", "combo", BALANCES),
    ("Labels file (.npy)", "dataset.labels", "text", "y.npy beside the inputs"),
    ("Image size (pixels)", "dataset.image_size", "square", (1, 4096)),
    ("Images in grayscale", "dataset.grayscale", "bool", None),
    ("Text tokens", "dataset.tokenizer", "combo", ("chars", "bpe")),
    ("BPE vocabulary size", "dataset.vocab_size", "int", (256, 1_000_000)),
    ("Augment: flip", "dataset.augment.flip", "bool", None),
    ("Augment: crop padding", "dataset.augment.crop", "int", (0, 64)),
    ("Augment: noise std", "dataset.augment.noise", "float", (0.0, 10.0, 3)),
    ("Start from weights (.safetensors)", "init_weights", "text", "random initialisation"),
    ("Frozen nodes", "frozen", "names", "none — or right-click a node: Freeze"),
    ("Learning-rate factors", "lr_scale", "factors", "none — node=factor, e.g. head=10"),
    ("Seed", "seed", "int", (0, 2**31 - 1)),
    ("Device", "device", "combo", DEVICES),
    ("Precision", "precision", "combo", PRECISIONS),
)
# Settings that only mean something for some choices: (field, the setting it depends on, its values)
APPLIES_WHEN = (
    ("optimizer.momentum", "optimizer.name", ("sgd",)),
    ("optimizer.nesterov", "optimizer.name", ("sgd",)),
    ("schedule.warmup_epochs", "schedule.name", ("warmup_cosine", "onecycle")),
    ("dataset.label", "dataset.name", (*TABLES, *HF)),
    ("dataset.features", "dataset.name", (*TABLES, *HF)),
    ("dataset.missing", "dataset.name", (*TABLES, *HF)),
    ("dataset.labels", "dataset.name", ("npy",)),
    ("dataset.image_size", "dataset.name", ("image_folder", *HF)),
    ("dataset.grayscale", "dataset.name", ("image_folder", *HF)),
    ("dataset.tokenizer", "dataset.name", ("text", *HF)),
    ("dataset.vocab_size", "dataset.name", ("text", *HF)),
    *((f"dataset.{key}", "dataset.name", HF) for key in ("hub", "config", "split", "image", "text")),
)
AUGMENT_OFF = {"flip": False, "crop": 0, "noise": 0.0}
# The augment options each dataset's samples take (engine/data/augment.py: flip and crop need images (C, H, W),
# noise floats; token ids take none); an array file's shape is unknown until read, so it keeps them all.
IMAGE_AUGMENTS, FEATURE_AUGMENTS = ("flip", "crop", "noise"), ("noise",)
AUGMENTS_TAKEN = {**dict.fromkeys(("digits", "image_folder", *BENCHMARKS), IMAGE_AUGMENTS),
                  **dict.fromkeys(("iris", "wine", "breast_cancer", "sequence", *TABLES), FEATURE_AUGMENTS),
                  "text": ()}
# what the loaders assume when unset
DATASET_DEFAULTS = {"dataset": {"augment": AUGMENT_OFF, "val_split": 0.2, "tokenizer": "chars", "vocab_size": 512,
                                "missing": DEFAULT_STRATEGY, "class_balance": "none", "image_size": [32, 32],
                                "grayscale": False}}


def device_list(ready: dict) -> str:
    """The worker's devices, one a line, each GPU with its memory: "GPU 0: NVIDIA H200 · 139.8 GiB"."""
    devices = ready.get("devices") or []
    gpus = [d for d in devices if d["kind"] == "cuda"]
    if gpus:
        return "\n".join(f"GPU {d['id'].split(':')[1]}: {d['name']} · {format_bytes(d['memory_bytes'])}" for d in gpus)
    if not ready["cpu_only"]:  # a worker that lists no memory
        return "GPU: " + ", ".join(ready["cuda"])
    ram = next((d["memory_bytes"] for d in devices if d["kind"] == "cpu" and d["memory_bytes"]), None)
    return "CPU only — no CUDA GPU found" + (f" · {format_bytes(ram)} RAM" if ram else "")


def read_path(data: dict, path: str, default: Any = None) -> Any:
    for part in path.split("."):
        if not isinstance(data, dict) or part not in data:
            return default
        data = data[part]
    return data


def with_path(section: Any, parts: list[str], value: Any) -> Any:
    """A copy of `section` with `value` at `parts`; an augmentation switched off, or a setting cleared (None),
    is left out of the file."""
    if not parts:
        return value
    out = copy.deepcopy(section) if isinstance(section, dict) else {}
    out[parts[0]] = with_path(out.get(parts[0]), parts[1:], value)
    cleared = out[parts[0]] is None  # a text setting emptied: the loader's default again
    if cleared or (parts[0] in AUGMENT_OFF and out[parts[0]] == AUGMENT_OFF[parts[0]]):
        del out[parts[0]]
    if out.get("augment") == {}:
        del out["augment"]
    return out


class TrainingSettingsPanel(QWidget):
    preview_requested = Signal(object)  # the dataset config (a dict) to describe; the worker answers

    def __init__(self, editor, parent=None):
        super().__init__(parent)
        self.editor, self.doc = editor, editor.doc
        self.widgets: dict[str, QWidget] = {}
        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)  # a narrow dock: each field under its label
        self.dataset = QComboBox()
        for name, description in DATASETS.items():
            self.dataset.addItem(name, name)
            self.dataset.setItemData(self.dataset.count() - 1, description, Qt.ItemDataRole.ToolTipRole)
        self.dataset.currentIndexChanged.connect(lambda _: self._dataset_chosen())
        form.addRow("Dataset", self.dataset)
        self.path = QLineEdit(placeholderText="file or folder (relative to the graph file)")
        self.path.editingFinished.connect(lambda: self._set("dataset.path", self.path.text().strip()))
        browse = QPushButton("Browse…", clicked=self._browse)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path, 1)
        path_row.addWidget(browse)
        self.path_row = QWidget()
        self.path_row.setLayout(path_row)
        path_row.setContentsMargins(0, 0, 0, 0)
        form.addRow("Data file", self.path_row)
        for label, path, kind, extra in FIELDS:
            self.widgets[path] = self._make(path, kind, extra)
            form.addRow(label, self.widgets[path])
        self.device_note = QLabel(wordWrap=True)
        form.addRow("", self.device_note)
        for row in range(form.rowCount()):  # long labels wrap too: nothing holds the dock wider than it is
            label = form.itemAt(row, QFormLayout.ItemRole.LabelRole)
            if label is not None and isinstance(label.widget(), QLabel):
                label.widget().setWordWrap(True)
        self.preview = QLabel("<i>Dataset preview appears here.</i>", wordWrap=True)
        self.samples = SamplePreview()
        self.problem = QLabel(wordWrap=True, styleSheet="color: #e5484d")
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(QPushButton("Preview dataset", clicked=self.request_preview))
        layout.addWidget(self.preview)
        layout.addWidget(self.samples)
        layout.addWidget(self.problem)
        layout.addStretch(1)
        self._preview_timer = QTimer(self, singleShot=True, interval=PREVIEW_DELAY_MS)
        self._preview_timer.timeout.connect(self.request_preview)
        self.doc.subscribe(self._on_event)
        self.refresh()

    # -- widgets --------------------------------------------------------------------------------
    def _make(self, path: str, kind: str, extra) -> QWidget:
        commit = lambda value: self._set(path, value)
        if kind == "combo":
            widget = QComboBox()
            widget.addItems(list(extra))
            widget.currentTextChanged.connect(commit)
        elif kind == "bool":
            widget = QCheckBox()
            widget.toggled.connect(commit)
        elif kind in ("text", "names"):  # empty means "the default": the key is left out of the file
            widget = QLineEdit(placeholderText=extra)
            parse = _names if kind == "names" else lambda text: text.strip() or None
            widget.editingFinished.connect(lambda w=widget: commit(parse(w.text())))
        elif kind == "factors":  # {node: factor}, written "conv1=0.1, head=10"
            widget = QLineEdit(placeholderText=extra)
            widget.editingFinished.connect(lambda w=widget: self._commit_factors(path, w))
        elif kind in ("int", "square"):
            widget = QSpinBox(keyboardTracking=False)
            widget.setRange(*extra)
            widget.valueChanged.connect(commit if kind == "int" else lambda n: commit([n, n]))
        else:
            low, high, decimals = extra
            widget = QDoubleSpinBox(keyboardTracking=False, decimals=decimals)
            widget.setStepType(QDoubleSpinBox.StepType.AdaptiveDecimalStepType)
            widget.setRange(low, high)
            widget.valueChanged.connect(commit)
        return widget

    def set_devices(self, ready: dict) -> None:
        """Say what the worker found: "CPU only" when it has no CUDA device (cuda is then disabled)."""
        combo: QComboBox = self.widgets["device"]
        cuda_item = combo.model().item(combo.findText("cuda"))
        cuda_item.setEnabled(not ready["cpu_only"])
        self.device_note.setText(device_list(ready))

    # -- document → widgets ------------------------------------------------------------------------
    def _on_event(self, event: str, **payload) -> None:
        if event in ("training_changed", "reset"):
            self.refresh()
        if event == "reset":  # another graph: describe its dataset
            self._preview_timer.start()

    def settings(self) -> dict:
        """The complete settings (defaults filled in); a malformed section is shown as a problem."""
        try:
            config = TrainingConfig.from_dict(self.doc.training).to_dict()
            self.problem.clear()
        except ConfigError as exc:
            self.problem.setText(str(exc))
            config = TrainingConfig().to_dict()
            for key, value in self.doc.training.items():
                config[key] = {**config[key], **value} if isinstance(config.get(key), dict) and \
                    isinstance(value, dict) else value
        return config

    def refresh(self) -> None:
        config = self.settings()
        name = read_path(config, "dataset.name", "digits")
        self._quietly(self.dataset, lambda: self.dataset.setCurrentIndex(max(0, self.dataset.findData(name))))
        self._quietly(self.path, lambda: self.path.setText(str(read_path(config, "dataset.path", ""))))
        self.path_row.setEnabled(name in PATH_DATASETS)
        for path, widget in self.widgets.items():
            value = read_path(config, path, read_path(DATASET_DEFAULTS, path))
            self._quietly(widget, lambda w=widget, v=value: _show(w, v))
        for path, depends_on, values in APPLIES_WHEN:
            self.widgets[path].setEnabled(read_path(config, depends_on) in values)

    @staticmethod
    def _quietly(widget: QWidget, change) -> None:
        widget.blockSignals(True)
        try:
            change()
        finally:
            widget.blockSignals(False)

    # -- widgets → document -----------------------------------------------------------------------
    def _set(self, path: str, value: Any) -> None:
        key, *rest = path.split(".")
        current = self.doc.training.get(key)
        new = with_path(current, rest, value)
        if new is None:  # a top-level setting cleared: its default ("" / [] / {}), which the loader reads
            new = TrainingConfig().to_dict()[key]
        if new != current:
            self.editor.stack.push(SetTrainingCommand(self.doc, key, new, path))
        if key == "dataset":
            self._preview_timer.start()

    def _commit_factors(self, path: str, widget: QLineEdit) -> None:
        try:
            factors = _factors(widget.text())
        except ValueError as exc:
            widget.setStyleSheet("border: 1px solid #e5484d;")
            self.problem.setText(f"Learning-rate factors: {exc}")
            return
        widget.setStyleSheet("")
        self.problem.clear()
        self._set(path, factors)

    def _dataset_chosen(self) -> None:
        name = self.dataset.currentData()
        current = self.doc.training.get("dataset") or {}
        kept = {k: v for k, v in current.items() if k in ("val_split", "normalize", "augment")}
        if name in PATH_DATASETS and current.get("name") == name:
            kept["path"] = current.get("path", "")
        dropped = _drop_augments(kept, name)
        self.editor.stack.push(SetTrainingCommand(self.doc, "dataset", {"name": name, **kept}, "dataset.name"))
        if dropped:
            self.editor.message.emit(f"Augmentation {', '.join(dropped)} left out: {name} samples cannot take it.")
        if (name in FILE_DATASETS or name in HF) and not kept.get("path"):
            where = "its folder with Browse…, or name a hub dataset" if name in HF else "the file with Browse…"
            self.preview.setText(f"<i>{DATASETS[name]} — choose {where}.</i>")
            self.samples.clear()
            return
        self._preview_timer.start()

    def _browse(self) -> None:
        name = self.dataset.currentData()
        if FILE_DATASETS.get(name):
            path, _ = QFileDialog.getOpenFileName(self, f"Choose the {name} data", "", FILE_DATASETS[name])
        else:
            title = ("Choose the image folder (one sub-folder per class)" if name == "image_folder" else
                     "Choose the folder saved with Dataset.save_to_disk (or leave it empty and name a hub dataset)"
                     if name in HF else
                     f"Choose the folder holding the {name} files (leave the path empty to download them once)")
            path = QFileDialog.getExistingDirectory(self, title)
        if path:
            self.path.setText(path)
            self._set("dataset.path", path)

    def request_preview(self) -> None:
        self.preview.setText("<i>Loading the dataset in the worker…</i>")
        self.samples.clear()
        self.preview_requested.emit(self.settings()["dataset"])

    def show_dataset_info(self, info: dict) -> None:
        shape = "(N, " + ", ".join(map(str, info["input_shape"])) + ")"
        classes = info.get("class_names") or []
        names = f"<br>classes: {', '.join(classes[:12])}{' …' if len(classes) > 12 else ''}" if classes else ""
        self.preview.setText(f"{info['description']}<br><b>Input node shape:</b> {shape} {info['input_dtype']}"
                             f"{names}")
        self.samples.show_samples(info.get("samples") or [])

    def show_dataset_problem(self, message: str) -> None:
        self.samples.clear()
        self.preview.setText(f"<span style='color:#e5484d'>{message}</span>")


def _drop_augments(kept: dict, name: str) -> list[str]:
    """Take out of `kept["augment"]` the options dataset `name` cannot take (all of it when none is left on);
    returns the options dropped that were on."""
    augment = kept.get("augment")
    if not isinstance(augment, dict) or name not in AUGMENTS_TAKEN:
        return []
    taken = {k: v for k, v in augment.items() if k in AUGMENTS_TAKEN[name]}
    dropped = [k for k, v in augment.items() if k not in taken and v]
    if any(taken.values()):
        kept["augment"] = taken
    else:
        del kept["augment"]
    return dropped


def _names(text: str) -> list[str] | None:
    return [name.strip() for name in text.split(",") if name.strip()] or None


def _factors(text: str) -> dict[str, float] | None:
    """"conv1=0.1, head=10" → {"conv1": 0.1, "head": 10.0}; empty → None. A ValueError says what is wrong."""
    factors = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        node, sep, number = (piece.strip() for piece in item.partition("="))
        try:
            factor = float(number) if sep and node else None
        except ValueError:
            factor = None
        if factor is None or not 0 < factor < math.inf:
            raise ValueError(f"write node=factor with a positive factor, e.g. head=10 (not {item!r})")
        factors[node] = factor
    return factors or None


def _show(widget: QWidget, value: Any) -> None:
    if isinstance(widget, QLineEdit) and isinstance(value, dict):
        widget.setText(", ".join(f"{node}={factor:g}" for node, factor in value.items()))
    elif isinstance(widget, QLineEdit):
        widget.setText(", ".join(value) if isinstance(value, list) else str(value or ""))
    elif isinstance(widget, QComboBox):
        widget.setCurrentText(str(value))
    elif isinstance(widget, QCheckBox):
        widget.setChecked(bool(value))
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        widget.setValue(value)
    elif isinstance(value, list) and value and isinstance(value[0], int):  # a square size [n, n]
        widget.setValue(value[0])
