"""The problems panel: every diagnostic of the last validation, then the checks of the graph against
its dataset (engine/data_fit.py), each followed by a one-click fix; clicking a problem shows its node.

Clicking a fix emits `fix_requested` with the check's fix (engine.data_fit.Fix); `apply_fix` makes it one
undoable edit: a parameter set, or an Output added beside the node it shows and wired to it.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QSize, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QListWidget, QListWidgetItem

from engine.data_fit import AddOutput, DataCheck, Fix, ReplaceNode
from engine.validate import Diagnostic, ValidationReport

from .node_item import WIDTH, card_rect

NODE_ROLE = Qt.ItemDataRole.UserRole
FIX_ROLE = Qt.ItemDataRole.UserRole + 1
WARNING, ERROR, FIX = "#d9a400", "#e5484d", "#4e9cf5"
MAX_LISTED = 200  # diagnostics listed; the rest are counted (a cut graph can have thousands of nodes to list)
OUTPUT_OFFSET = 100.0  # px between a node and an Output a fix adds beside it (as the templates space their nodes)


class ProblemsPanel(QListWidget):
    node_clicked = Signal(str)
    fix_requested = Signal(object)  # an engine.data_fit.Fix: apply it with `apply_fix`

    def __init__(self, parent=None):
        super().__init__(parent)
        self.report: ValidationReport | None = None
        self.checks: list[DataCheck] = []
        self.training: list[Diagnostic] = []  # trainability (weights, batches, memory) from the stats
        self.run_findings: list[Diagnostic] = []  # what the run on screen found (a dead layer at a step)
        self.itemClicked.connect(self._clicked)

    def sizeHint(self) -> QSize:
        return QSize(400, 90)  # a few lines: the canvas gets the height

    def show_report(self, report: ValidationReport) -> None:
        self.report = report
        self._render()

    def show_training_diagnostics(self, diagnostics: list[Diagnostic]) -> None:
        self.training = list(diagnostics)
        self._render()

    def show_run_findings(self, findings: list[Diagnostic]) -> None:
        self.run_findings = list(findings)
        self._render()

    def show_checks(self, checks: list[DataCheck]) -> None:
        """The graph-vs-dataset checks, shown after the validation's diagnostics until replaced."""
        self.checks = list(checks)
        self._render()

    def _render(self) -> None:
        self.clear()
        diagnostics = (self.report.diagnostics if self.report else []) + self.training + self.run_findings
        ordered = sorted(diagnostics, key=lambda d: d.severity != "error")
        for d in ordered[:MAX_LISTED]:
            self._add(f"{'✖' if d.severity == 'error' else '⚠'}  {d}", ERROR if d.severity == "error" else WARNING,
                      d.node)
        if len(ordered) > MAX_LISTED:
            errors = sum(d.severity == "error" for d in ordered[MAX_LISTED:])
            self._add(f"…  and {len(ordered) - MAX_LISTED:,} more ({errors:,} errors) — the first ones often cause the "
                      "rest", ERROR if errors else WARNING, None)
        for check in self.checks:
            self._add(f"⚠  {check.node}: {check.message}", WARNING, check.node)
            if check.fix:
                self._add(f"      ↳ Fix: {check.fix_text()}", FIX, check.node).setData(FIX_ROLE, check.fix)
        if not diagnostics and not self.checks:
            self.addItem(QListWidgetItem("✔  No problems: the graph is valid."))

    def _add(self, text: str, color: str, node: str | None) -> QListWidgetItem:
        item = QListWidgetItem(text)
        item.setData(NODE_ROLE, node)
        item.setForeground(QColor(color))
        self.addItem(item)
        return item

    def _clicked(self, item: QListWidgetItem) -> None:
        if item.data(FIX_ROLE):
            self.fix_requested.emit(item.data(FIX_ROLE))
        elif item.data(NODE_ROLE):
            self.node_clicked.emit(item.data(NODE_ROLE))


def apply_fix(window, fix: Fix) -> None:
    """Apply a problem's fix as one undoable edit on the graph, whose checks these are (the canvas leaves an
    open block for it), and keep the node it changed or added in view."""
    editor, scene = window.editor, window.scene
    if editor.doc is not editor.root:
        scene.go_to(0)
    if fix.node not in editor.doc.nodes:
        return  # gone since the check: the next validation lists what is left
    if isinstance(fix, AddOutput):
        start = scene.items_by_id[fix.node].pos() + QPointF(WIDTH + OUTPUT_OFFSET, 0)
        node_id = editor.add_and_connect("Output", scene.free_spot(start, card_rect("Output")), (*fix, True))
    elif isinstance(fix, ReplaceNode):
        editor.replace_node(*fix)
        node_id = fix.node
    else:
        editor.set_param(*fix)
        node_id = fix.node
    window.view.keep_in_view(node_id)
