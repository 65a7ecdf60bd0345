"""The inspector: a form for the selected node, generated from its spec's params, bound both ways.

Widget edits become SetParamCommands through the editor (never written into the document
directly); document events (undo, redo, another view) update the widgets with their signals
blocked, so a widget never echoes a value back as a new edit. The node's id is the form's first row:
typing a new one renames the node (Editor.rename_node: one undo step, refused with the reason).
The inspector follows the canvas into an open block (it edits the definition's nodes then); a block
instance gets its own form (app.blocks.inspector_rows).
"""

from __future__ import annotations

from typing import Any

import shiboken6
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.blocks import is_instance
from nodes import Param, get_spec

from .blocks.expose import install_expose_actions
from .blocks.inspector_rows import InstanceRows, instance_doc
from .editor import Editor
from .head_row import HeadRow
from .tuning_rows import TuningRows

INT_LIMIT = 2**31 - 1
FLOAT_LIMIT = 1e12


def parse_ints(text: str) -> list[int]:
    """`"1, 28, 28"` (or `[1 28 28]`) → [1, 28, 28]; raises ValueError naming the bad entry."""
    parts = [p for p in text.replace("[", " ").replace("]", " ").replace(",", " ").split() if p]
    try:
        return [int(p) for p in parts]
    except ValueError:
        bad = next(p for p in parts if not p.lstrip("-").isdigit())
        raise ValueError(f"{bad!r} is not a whole number — write integers separated by commas, e.g. 1, 28, 28"
                         ) from None


class Inspector(QWidget):
    def __init__(self, editor: Editor, parent=None):
        super().__init__(parent)
        self.editor = editor
        self.node_id: str | None = None
        self.instance_rows: InstanceRows | None = None
        self.widgets: dict[str, QWidget] = {}
        self.header = QLabel(wordWrap=True)
        self.id_field = QLineEdit(toolTip="The node's id: letters, digits and _; Enter renames the node (F2 on "
                                          "the canvas too)")
        self.id_field.editingFinished.connect(self._commit_id)
        self.doc_label = QLabel(wordWrap=True)
        self.problems = QLabel(wordWrap=True)
        self.form_host = QWidget()
        self.form = QFormLayout(self.form_host)
        self.tuning = TuningRows(editor)
        self.head = HeadRow(editor)
        layout = QVBoxLayout(self)
        for widget in (self.header, self.id_field, self.doc_label, self.form_host, self.head, self.tuning,
                       self.problems):
            layout.addWidget(widget)
        layout.addStretch(1)
        editor.root.subscribe(self._on_event)
        editor.scene.selectionChanged.connect(self._selection_changed)
        editor.scene.validated.connect(self._show_problems)
        editor.scene.scope_changed.connect(lambda: self.show_node(None))
        self.show_node(None)

    @property
    def doc(self):
        """The graph the canvas shows (the document, or an open block's definition)."""
        return self.editor.doc

    def set_dataset_info(self, info: dict | None) -> None:
        """The training dataset as the worker described it (None: not known), for "Set classes from dataset"."""
        self.head.set_dataset(info)

    def _selection_changed(self) -> None:
        if not shiboken6.isValid(self.editor.scene):  # the scene clears its selection while being destroyed
            return
        selected = self.editor.scene.selected_node_ids()
        self.show_node(selected[0] if len(selected) == 1 else None)

    def show_node(self, node_id: str | None) -> None:
        self.node_id = node_id if node_id in self.doc.nodes else None
        while self.form.rowCount():
            self.form.removeRow(0)
        self.widgets.clear()
        self.instance_rows = None
        self.tuning.show_node(self.node_id)
        self.head.show_node(self.node_id)
        if self.node_id is None:
            self.header.setText("<i>Select one node to edit its parameters.</i>")
            self.id_field.hide()
            self.doc_label.clear()
            self.problems.clear()
            return
        node = self.doc.nodes[self.node_id]
        spec = get_spec(node.type_id)
        self.header.setText(f"<b>{spec.title if spec else node.type_id}</b>")
        self.id_field.setText(self.node_id)
        self.id_field.setStyleSheet("")
        self.id_field.show()
        if is_instance(node):
            self.header.setText("<b>Block instance</b>")
            self.doc_label.setText(instance_doc(self.editor, self.node_id))
            self.instance_rows = InstanceRows(self, self.node_id, self.form)
            self._show_problems()
            return
        self.doc_label.setText(spec.doc if spec else "Unknown node type: it cannot be edited or built.")
        for param in spec.params if spec else ():
            widget = self.make_widget(param)
            widget.setToolTip(param.doc)
            self.widgets[param.name] = widget
            self.show_value(param, node.params.get(param.name, param.default))
            self.form.addRow(param.name, widget)
        install_expose_actions(self, self.widgets)
        self._show_problems()

    def make_widget(self, param: Param) -> QWidget:
        commit = lambda value, name=param.name: self.editor.set_param(self.node_id, name, value)
        if param.kind == "int":
            widget = QSpinBox(keyboardTracking=False)
            widget.setRange(_limit(param.min, -INT_LIMIT), _limit(param.max, INT_LIMIT))
            widget.valueChanged.connect(commit)
        elif param.kind == "float":
            widget = QDoubleSpinBox(keyboardTracking=False, decimals=6)
            widget.setStepType(QDoubleSpinBox.StepType.AdaptiveDecimalStepType)
            widget.setRange(_limit(param.min, -FLOAT_LIMIT), _limit(param.max, FLOAT_LIMIT))
            widget.valueChanged.connect(commit)
        elif param.kind == "bool":
            widget = QCheckBox()
            widget.toggled.connect(commit)
        elif param.kind == "choice":
            widget = QComboBox()
            widget.addItems(list(param.choices))
            widget.currentTextChanged.connect(commit)
        else:  # "ints" and "str" are typed as text
            widget = QLineEdit()
            widget.editingFinished.connect(lambda p=param, w=widget: self._commit_text(p, w))
        return widget

    def _commit_id(self) -> None:
        new = self.id_field.text().strip()
        if self.node_id is None or new == self.node_id:
            return
        if self.editor.rename_node(self.node_id, new):  # refused: the editor said why in the status bar
            self.id_field.setStyleSheet("border: 1px solid #e5484d;")

    def _commit_text(self, param: Param, widget: QLineEdit) -> None:
        if param.kind == "str":
            self.editor.set_param(self.node_id, param.name, widget.text())
            return
        try:
            value = parse_ints(widget.text())
        except ValueError as exc:
            widget.setStyleSheet("border: 1px solid #e5484d;")
            self.editor.message.emit(f"{self.node_id}.{param.name}: {exc}")
            return
        widget.setStyleSheet("")
        self.editor.set_param(self.node_id, param.name, value)

    def show_value(self, param: Param, value: Any) -> None:
        widget = self.widgets[param.name]
        widget.blockSignals(True)
        try:
            if isinstance(widget, QCheckBox):
                widget.setChecked(bool(value))
            elif isinstance(widget, QComboBox):
                widget.setCurrentText(str(value))
            elif isinstance(widget, (QSpinBox, QDoubleSpinBox)) and isinstance(value, (int, float)):
                widget.setValue(value)
            elif isinstance(widget, QLineEdit):
                widget.setText(", ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value))
                widget.setStyleSheet("")
        finally:
            widget.blockSignals(False)

    def _on_event(self, event: str, **payload) -> None:
        local = self.editor.scene.local_event(event, payload)
        if local is None:  # another graph's (the canvas shows the document or one block)
            if self.instance_rows is not None and event.startswith("block"):
                self.instance_rows.show()  # renamed, or placed more or fewer times
            return
        event, payload = local
        if event == "param_changed" and payload["node_id"] == self.node_id and self.instance_rows is not None:
            self.instance_rows.show()
        elif event == "param_changed" and payload["node_id"] == self.node_id and payload["name"] in self.widgets:
            spec = get_spec(self.doc.nodes[self.node_id].type_id)
            self.show_value(spec.param(payload["name"]), payload["value"])
        elif event in ("node_removed", "reset") and (event == "reset" or payload["node_id"] == self.node_id):
            self.show_node(None)

    def _show_problems(self, _report=None) -> None:
        """The problems of the node, as the canvas shows them (inside a block: seen from its instance)."""
        report = self.editor.scene.shown_report
        problems = [str(d) for d in report.for_node(self.node_id)] if self.node_id else []
        self.problems.setText("<br>".join(f"<span style='color:#e5484d'>{p}</span>" for p in problems))


def _limit(bound: float | None, default: float) -> Any:
    value = default if bound is None else bound
    return int(value) if isinstance(default, int) else float(value)
