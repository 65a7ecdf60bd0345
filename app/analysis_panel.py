"""The Analysis dock: per node output shape, parameters, multiply-adds, activation memory, its share
of training memory and its estimated time in a training step — sortable, a click selects the node —
whether training fits this machine, and how long a step would take on it.

The numbers are engine.stats' (the same `layerloom validate --json` prints), computed by the worker
process; this panel only shows them. When the graph has been profiled (Training → Profile, or a run with
training.profile selected), two more columns list what was measured beside them: the Profile dock's record
(app/inspect/profile_panel.py), handed over by app/inspect/profiling.py.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.document import GraphDocument
from engine.stats import GraphStats, format_bytes, format_count, format_seconds
from engine.step_time import SLOW_STEP_S
from engine.validate import ValidationReport
from nodes import format_shape, get_spec

from .stats_runner import StatsAnswer

COLUMNS = ("Node", "Type", "Output shape", "Params", "MACs", "Activations", "Training memory", "Time / step",
           "Measured memory", "Measured time")
MEASURED = COLUMNS.index("Measured memory")  # the first of the two measured columns, shown only with a profile
SORT_ROLE = Qt.ItemDataRole.UserRole


class _Cell(QTableWidgetItem):
    """Shows formatted text, sorts by the number behind it (or the text)."""

    def __init__(self, text: str, value=None):
        super().__init__(text)
        self.setData(SORT_ROLE, text if value is None else value)
        if value is not None:
            self.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def __lt__(self, other: QTableWidgetItem) -> bool:
        mine, theirs = self.data(SORT_ROLE), other.data(SORT_ROLE)
        return mine < theirs if type(mine) is type(theirs) else str(mine) < str(theirs)


class AnalysisPanel(QWidget):
    node_clicked = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.summary = QLabel("<i>Statistics appear once the graph is valid.</i>", wordWrap=True)
        self.fit = QLabel(wordWrap=True)
        self.speed = QLabel(wordWrap=True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.cellClicked.connect(lambda row, _: self.node_clicked.emit(self.table.item(row, 0).text()))
        self.measured: dict[str, tuple[float, int]] = {}  # node → (seconds, bytes) as profiled; {}: none
        self.show_measured({})
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.fit)
        layout.addWidget(self.speed)
        layout.addWidget(self.table, 1)

    def show_stats(self, answer: StatsAnswer, doc: GraphDocument, report: ValidationReport) -> None:
        stats = answer.stats
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(stats.nodes))
        for row, (node_id, s) in enumerate(stats.nodes.items()):
            node = doc.nodes.get(node_id)
            spec = get_spec(node.type_id) if node else None
            port = (node_id, spec.outputs[0].name) if spec and spec.outputs else None
            shape = report.shapes.get(port) if port else None
            cells = (_Cell(node_id), _Cell(node.type_id if node else "?"),
                     _Cell(format_shape(shape) if shape else "—"),
                     _Cell(format_count(s.params), s.params), _Cell(format_count(s.macs), s.macs),
                     _Cell(format_bytes(s.activation_bytes), s.activation_bytes),
                     _Cell(format_bytes(stats.node_training_bytes(node_id)), stats.node_training_bytes(node_id)),
                     _Cell(format_seconds(s.seconds), s.seconds) if stats.timed_on else _Cell("—"))
            for column, cell in enumerate(cells):
                self.table.setItem(row, column, cell)
        self._fill_measured()
        self.table.setSortingEnabled(True)
        self.summary.setText(
            f"<b>{format_count(stats.total_params)}</b> parameters · <b>{format_count(stats.total_macs)}</b> "
            f"multiply-adds · activations {format_bytes(stats.total_activation_bytes)} at batch {stats.batch_size}")
        self.fit.setText(fit_text(answer))
        self.speed.setText(speed_text(stats))

    def show_measured(self, measured: dict[str, tuple[float, int]]) -> None:
        """List each node's measured (seconds, bytes) beside the estimates; {} hides the two columns."""
        self.measured = measured
        for column in (MEASURED, MEASURED + 1):
            self.table.setColumnHidden(column, not measured)
        sorting = self.table.isSortingEnabled()
        self.table.setSortingEnabled(False)
        self._fill_measured()
        self.table.setSortingEnabled(sorting)

    def _fill_measured(self) -> None:
        for row in range(self.table.rowCount()):
            seconds, size = self.measured.get(self.table.item(row, 0).text(), (None, None))
            self.table.setItem(row, MEASURED, _Cell(format_bytes(size), size) if size is not None else _Cell("—"))
            self.table.setItem(row, MEASURED + 1,
                               _Cell(format_seconds(seconds), seconds) if seconds is not None else _Cell("—"))

    def clear(self) -> None:
        self.table.setRowCount(0)
        self.summary.setText("<i>Statistics appear once the graph is valid.</i>")
        self.fit.clear()
        self.speed.clear()


def fit_text(answer: StatsAnswer) -> str:
    """"fits on …" or "does not fit …": the training estimate against the memory it would fill."""
    need, have = answer.stats.training_memory_bytes, answer.memory_bytes
    where = f"this machine's {answer.memory_kind}" if answer.memory_kind == "RAM" else answer.memory_kind
    estimate = f"training needs ≈ {format_bytes(need)} at batch {answer.stats.batch_size}"
    if have is None:
        return f"{estimate.capitalize()} (this machine's memory is unknown)."
    if need <= have:
        return f"<span style='color:#5fd068'>✔ Fits: {estimate}, {where} holds {format_bytes(have)}.</span>"
    return (f"<span style='color:#e5484d'>✖ Does not fit: {estimate}, {where} holds {format_bytes(have)} — "
            "lower the batch size or make the largest layers smaller.</span>")


def speed_text(stats: GraphStats) -> str:
    """"≈ 12 ms per training step on this CPU", in the warning colour when a step would take minutes."""
    seconds = stats.step_seconds
    if seconds is None:
        return ""
    text = f"≈ {format_seconds(seconds)} per training step on {stats.timed_on} at batch {stats.batch_size}"
    slowest = stats.slowest_node
    if slowest is not None and stats.nodes[slowest].seconds > seconds / 2:
        text += f" ({slowest} ≈ {format_seconds(stats.nodes[slowest].seconds)})"
    if seconds > SLOW_STEP_S:
        return f"<span style='color:#e5a50a'>⏱ {text} — see Problems.</span>"
    return f"⏱ {text}."
