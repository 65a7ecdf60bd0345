"""After a run: the validation confusion matrix and a "Try it" panel showing predictions.

The worker evaluates the run's best checkpoint on the run's validation split and sends back the
matrix plus a few samples with their top-3 predictions; this panel only displays them. Samples
shaped (1, H, W) or (3, H, W) are shown as images (min–max scaled, as the data is standardised);
a sequence (T, F) or (T,) is plotted, one curve per feature over its time steps; a table's row is a
form of its columns' raw values (text categories, "(empty)" cells), read back through the run's recorded
encoding (data.json: engine/data/tables.py). Under the accuracy, each class's precision, recall and F1, and the
run's scikit-learn baselines beside the network's figures (baseline_view.py); under the matrix, a two-class
model's ROC and precision–recall curves (curves_view.py). Beside them the mistakes — a table's as rows of its
file with their raw cells — and a click on a cell lists that cell's (mistakes_view.py).

Only kinds whose view says `evaluates` (a classifier) are evaluated; for the others (a GAN, an
autoencoder, a language model, a regression) the panel says where their results are shown instead.
"""

from __future__ import annotations

import json

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.data.tables import TableEncoding
from engine.metrics import per_class

from ..inspect.explain_view import ExplainView
from .baseline_view import baseline_html, baseline_of
from .curves_view import CurvesView
from .images import sample_image
from .kind_views import view_for
from .live_view import COLORS
from .mistakes_view import mistakes_html
from .runs import RunRecord

IMAGE_SIZE = 128
NO_RUN = "<i>Train a model to see its results here.</i>"


class ResultsPanel(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.evaluation: dict | None = None
        self.table: tuple[TableEncoding, dict | None] | None = None  # a table run's encoding and standardisation
        self.baseline: dict | None = None  # the run's scikit-learn baselines (baseline_view.py)
        self.scored = ""  # which checkpoint the evaluation scores: "best checkpoint, epoch 4"
        self.summary = QLabel(NO_RUN, wordWrap=True)
        self.matrix = QTableWidget()
        self.matrix.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.matrix.cellClicked.connect(lambda row, column: self.show_mistakes((row, column)))
        self.mistakes = QLabel(wordWrap=True)
        self.mistakes.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.image = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.image.setFixedSize(IMAGE_SIZE, IMAGE_SIZE)
        self.sequence = pg.PlotWidget()  # a sequence sample: one curve per feature over time
        self.sequence.setFixedSize(2 * IMAGE_SIZE, IMAGE_SIZE)
        self.sequence.getPlotItem().setLabel("bottom", "time step")
        self.sequence.hide()
        self.prediction = QLabel(wordWrap=True)
        self.explain = ExplainView()  # an image classifier's Grad-CAM and saliency over the sample
        self.picker = QSpinBox(prefix="sample ")
        self.picker.valueChanged.connect(self.show_sample)
        try_it = QVBoxLayout()
        try_it.addWidget(QLabel("<b>Try it</b> (validation samples)"))
        try_it.addWidget(self.picker)
        try_it.addWidget(self.image)
        try_it.addWidget(self.explain)
        try_it.addWidget(self.sequence)
        try_it.addWidget(self.prediction)
        try_it.addStretch(1)
        self.curves = CurvesView()  # a two-class model's ROC and precision–recall curves
        body = QHBoxLayout()
        body.addWidget(self.matrix, 1)
        body.addLayout(try_it)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addLayout(body, 1)
        layout.addWidget(self.mistakes)
        layout.addWidget(self.curves)

    def clear(self) -> None:
        """Nothing shown (no run on screen, or another graph opened)."""
        self.evaluation = None
        self.matrix.clear()
        self.matrix.setRowCount(0)
        self.matrix.setColumnCount(0)
        self.image.clear()
        self.explain.clear()
        self.prediction.clear()
        self.mistakes.clear()
        self.picker.setRange(0, 0)
        self.sequence.clear()
        self.sequence.hide()
        self.curves.show_curves(None)
        self.image.show()
        self.summary.setText(NO_RUN)

    def expects_evaluation(self, record: RunRecord) -> bool:
        """Whether the run's kind is one the worker's evaluation fits; if not, say where its results are."""
        view = view_for(record)
        self.baseline = baseline_of(record)
        self.scored = _checkpoint_of(record)
        if not view.evaluates:
            last = next((e.get("metrics") or {} for e in reversed(record.epochs) if e.get("metrics")), {})
            self.summary.setText(view.results_note + baseline_html(self.baseline, last))
        self.table = _table_of(record)
        return view.evaluates

    def show_evaluation(self, evaluation: dict) -> None:
        self.evaluation = evaluation
        names, confusion = evaluation["class_names"], evaluation["confusion"]
        self.matrix.clear()
        self.matrix.setRowCount(len(confusion))
        self.matrix.setColumnCount(len(confusion))
        self.matrix.setVerticalHeaderLabels([f"true {n}" for n in names[:len(confusion)]])
        self.matrix.setHorizontalHeaderLabels([f"pred {n}" for n in names[:len(confusion)]])
        peak = max((max(row) for row in confusion), default=1) or 1
        for i, row in enumerate(confusion):
            for j, count in enumerate(row):
                cell = QTableWidgetItem(str(count))
                cell.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                strength = count / peak
                cell.setBackground(QColor.fromRgbF(0.2, 0.6 if i == j else 0.25, 0.9 if i == j else 0.3,
                                                   0.15 + 0.85 * strength) if count else QColor(0, 0, 0, 0))
                self.matrix.setItem(i, j, cell)
        self.matrix.resizeColumnsToContents()
        self.curves.show_curves(evaluation.get("curves"), names[-1] if names else "", evaluation.get("roc_auc"))
        accuracy = evaluation.get("accuracy")
        network = {"accuracy": accuracy, "macro_f1": per_class(confusion)["macro_f1"] if confusion else None,
                   "roc_auc": evaluation.get("roc_auc")}
        total = sum(map(sum, confusion))
        self.summary.setText(f"Validation accuracy <b>{accuracy:.1%}</b> of {total} samples{self.scored} — rows are "
                             "true classes, columns "
                             f"predictions{class_scores(names, confusion)}{baseline_html(self.baseline, network)}"
                             if accuracy is not None else
                             "No class scores to count: validation samples and their labels.")
        self.picker.setRange(0, max(0, len(evaluation["samples"]) - 1))
        self.show_sample(self.picker.value())
        self.show_mistakes(None)

    def show_mistakes(self, cell: tuple[int, int] | None) -> None:
        """List the evaluation's mistakes: every one, or those of confusion cell (true, predicted)."""
        if self.evaluation is not None:
            self.mistakes.setText(mistakes_html(self.evaluation, cell))

    def show_sample(self, index: int) -> None:
        samples = (self.evaluation or {}).get("samples") or []
        if not 0 <= index < len(samples):
            return
        sample, names = samples[index], self.evaluation["class_names"]
        self.explain.show_sample(sample, self.evaluation.get("explained_layer"))
        image = sample_image(sample["x"], sample["shape"])
        shape = sample["shape"]
        row = self._table_row(sample["x"]) if self.table and len(shape) == 1 else None
        plotted = image is None and len(shape) in (1, 2) and row is None
        self.sequence.setVisible(plotted)
        self.image.setVisible(not plotted and row is None)
        if plotted:
            self._plot_sequence(np.asarray(sample["x"], dtype=np.float64).reshape(shape[0], -1))
        elif row is not None:
            self.image.clear()  # hidden: the row's values head the prediction's text
        elif image is None:
            self.image.setText(f"shape {tuple(shape)}")
        else:
            self.image.setPixmap(QPixmap.fromImage(image).scaled(
                IMAGE_SIZE, IMAGE_SIZE, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation))
        label = sample["label"]
        truth = names[label] if isinstance(label, int) and label < len(names) else label
        lines = [f"true: <b>{truth}</b>"] + [f"{names[c] if c < len(names) else c}: {p:.1%}" for c, p in sample["top"]]
        self.prediction.setText("<br>".join(([row, ""] if row else []) + lines))

    def _plot_sequence(self, values: np.ndarray) -> None:
        """(T, F) values: one curve per feature over the T steps."""
        self.sequence.clear()
        for feature in range(values.shape[1]):
            self.sequence.plot(values[:, feature], pen=pg.mkPen(COLORS[feature % len(COLORS)], width=1.5))

    def _table_row(self, x: list[float]) -> str:
        """A table sample as "column: value" lines, its standardisation undone."""
        encoding, norm = self.table
        values = np.asarray(x, dtype=np.float64)
        if norm:
            values = values * np.asarray(norm["std"]) + np.asarray(norm["mean"])
        return "<br>".join(f"{name}: <b>{value}</b>" for name, value in encoding.decode(values.tolist()).items())


def class_scores(names: list[str], confusion: list[list[int]]) -> str:
    """Each class's precision, recall and F1 as lines of HTML (at most 10 classes; empty beyond)."""
    if not confusion or len(confusion) > 10:
        return ""
    scores = per_class(confusion)
    percent = (lambda v: "–" if v is None else f"{v:.0%}")
    return "".join(f"<br>{name}: precision {percent(scores['precision'][i])} · recall {percent(scores['recall'][i])}"
                   f" · F1 {percent(scores['f1'][i])} ({scores['support'][i]} samples)"
                   for i, name in enumerate(names[:len(confusion)]))


def _checkpoint_of(record: RunRecord) -> str:
    """ " (best checkpoint, epoch 4)": the checkpoint the controller evaluates (`RunRecord.weights`), as the
    live view's per-epoch figures name their epoch."""
    if record.weights_checkpoint is None:
        return ""
    tag, epoch = record.weights_checkpoint
    return f" ({tag} checkpoint{f', epoch {epoch}' if epoch is not None else ''})"


def _table_of(record: RunRecord) -> tuple[TableEncoding, dict | None] | None:
    """The encoding and standardisation a table run recorded in its data.json; None for other runs."""
    path = record.run_dir / "data.json" if record.run_dir else None
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path and path.is_file() else None
    except (OSError, ValueError):
        return None
    columns = (data or {}).get("raw", {}).get("columns")
    return (TableEncoding.from_record(columns), data.get("normalization")) if columns is not None else None
