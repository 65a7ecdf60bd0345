"""The main window: canvas in the centre, palette left, inspector right, problems below.

It assembles the pieces and their menus; the behaviour lives in the pieces (Editor for edits,
DocumentFiles for files, GraphScene/GraphView for the canvas). Nothing here imports torch:
statistics start only when `enable_stats()` is called after the window is shown.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QPointF, Qt, QTimer
from PySide6.QtGui import QAction, QCursor, QKeySequence
from PySide6.QtWidgets import QApplication, QDockWidget, QInputDialog, QLabel, QMainWindow, QMenu

from engine.document import GraphDocument
from engine.stats import format_bytes, format_seconds
from engine.validate import ValidationReport

from . import error_report, settings
from .analysis_panel import AnalysisPanel, fit_text, speed_text
from .autosave import Autosaver, discard_recovery
from .blocks.breadcrumb import CanvasWithBreadcrumb
from .blocks.menu import install_block_actions
from .blocks.scene import BlockScene
from .canvas_menu import ask_rename
from .editor import Editor
from .fetch_weights import fetch_weights
from .files import DocumentFiles
from .import_pytorch import import_pytorch
from .imported import adopt_imported
from .inspector import Inspector
from .load_weights import load_weights
from .node_item import format_count
from .palette import Palette
from .problems import ProblemsPanel
from .shortcuts_dialog import ShortcutsDialog
from .stats_runner import StatsAnswer, StatsRunner
from .templates import templates
from .theme import THEMES, apply_palette
from .view import GraphView
from .wheel_guard import install_wheel_guard
from .window_state import restore_layout, save_layout

Key = QKeySequence.StandardKey


class MainWindow(QMainWindow):
    def __init__(self, theme_name: str | None = None, defer_panels: bool = False):
        """`defer_panels`: the training docks (which import pyqtgraph, ~0.25 s) wait for `finish_setup()`,
        called by the app once the window is on screen, so the first paint comes sooner."""
        super().__init__()
        self.theme = THEMES.get(theme_name or settings.theme_name(), THEMES["dark"])
        self.doc = GraphDocument()
        self.doc.listener_failed = error_report.reporter.report_listener_failures
        # Parts of the window with state about the graph on screen, told in turn when another graph is shown
        # (`switch_graph`): (what it is, its switch function). Training adds its own.
        self.graph_parts: list[tuple[str, Callable[[], None]]] = []
        self.scene = BlockScene(self.doc, self.theme)
        self.editor = Editor(self.doc, self.scene, self)
        self.view = GraphView(self.scene, self.editor)
        self.files = DocumentFiles(self, self.editor)
        self.palette = Palette()
        self.inspector = Inspector(self.editor)
        self.problems = ProblemsPanel()
        self.analysis = AnalysisPanel()
        self.autosaver = Autosaver(self.doc, self.editor.stack, self)
        self.stats = StatsRunner(self.doc, self)
        self.canvas = CanvasWithBreadcrumb(self.view, self.scene)
        self._framed_scope: tuple[str, ...] = ()  # the block path the view was last framed for
        self.setCentralWidget(self.canvas)
        docks = [self._dock("Nodes", self.palette, Qt.DockWidgetArea.LeftDockWidgetArea),
                 self._dock("Inspector", self.inspector, Qt.DockWidgetArea.RightDockWidgetArea),
                 self._dock("Problems", self.problems, Qt.DockWidgetArea.BottomDockWidgetArea)]
        self._bottom_tabs = (docks[2], self._dock("Analysis", self.analysis, Qt.DockWidgetArea.BottomDockWidgetArea))
        self.resizeDocks(docks[:2], [220, 290], Qt.Orientation.Horizontal)
        self.resizeDocks(docks[2:], [130], Qt.Orientation.Vertical)
        self._build_status_bar()
        self._build_menus()
        self._connect()
        self._fit_to_screen()
        # Children die in creation order: adopting the scene last lets it outlive the panels that listen to
        # its signals (clearing it on exit would otherwise call into half-destroyed widgets).
        self.scene.setParent(self)
        self._update_title()
        self.scene.validate_now()
        self.layout_restored = False
        install_wheel_guard(QApplication.instance())
        if not defer_panels:
            self.finish_setup()

    def finish_setup(self) -> None:
        """The training menu and docks, then the saved dock layout (it needs every dock to exist)."""
        from .dataset_view import install_dataset_view
        from .training import install_training

        install_training(self)  # splits the bottom area first: a split beside a tab group would only add a tab
        install_dataset_view(self)
        problems, analysis = self._bottom_tabs
        self.tabifyDockWidget(problems, analysis)
        problems.raise_()
        self.layout_restored = restore_layout(self)
        if self.isVisible() and not self.layout_restored:
            QTimer.singleShot(0, self._proportion_side_docks)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not getattr(self, "_shown_once", False):
            self._shown_once = True
            if hasattr(self, "training") and not self.layout_restored:
                QTimer.singleShot(0, self._proportion_side_docks)

    def _proportion_side_docks(self) -> None:
        """On a small screen the side docks give way: the canvas keeps at least half the width."""
        width = self.width()
        docks = [self.findChild(QDockWidget, name) for name in ("Nodes", "Inspector")]
        self.resizeDocks(docks, [min(220, int(width * 0.17)), min(340, int(width * 0.26))], Qt.Orientation.Horizontal)

    def _fit_to_screen(self) -> None:
        """Most of the screen: a node editor wants room (1400 × 860 when the screen is unknown)."""
        screen = QApplication.primaryScreen()
        area = screen.availableGeometry() if screen else None
        if area is None or area.width() < 800:
            self.resize(1400, 860)
        else:
            self.resize(int(area.width() * 0.92), int(area.height() * 0.9))

    def _dock(self, title: str, widget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _build_status_bar(self) -> None:
        self.count_label, self.params_label, self.validity_label = QLabel(), QLabel(), QLabel()
        for label in (self.count_label, self.params_label, self.validity_label):
            self.statusBar().addPermanentWidget(label)

    def _connect(self) -> None:
        stack = self.editor.stack
        stack.cleanChanged.connect(lambda clean: self.setWindowModified(not clean))
        self.files.changed.connect(self._update_title)
        self.doc.subscribe(lambda event, **_: self._update_title() if event == "name_changed" else None)
        self.editor.message.connect(lambda text: self.statusBar().showMessage(text, 10_000))
        self.scene.validated.connect(self._show_report)
        self.problems.node_clicked.connect(self.show_node)
        self.palette.activated.connect(
            lambda type_id: self.editor.add_node(type_id, self.view.mapToScene(self.view.viewport().rect().center())))
        self.stats.computed.connect(self._show_stats)
        self.analysis.node_clicked.connect(self.show_node)
        self.editor.blocks.library_changed.connect(self.palette.rebuild)
        self.scene.scope_changed.connect(self._frame_new_scope)

    def _frame_new_scope(self) -> None:
        """Opening or leaving a block shows another graph: frame it. A document opened on the graph frames
        itself once the window has its size; framing here too would paint all of it before it is ready."""
        scope = tuple(self.scene.path)
        if scope != self._framed_scope:
            self._framed_scope = scope
            self.view.frame_all()

    # -- menus ------------------------------------------------------------------------------
    def _action(self, menu: QMenu, text: str, slot, shortcut=None) -> QAction:
        action = menu.addAction(text)
        action.triggered.connect(slot)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.addAction(action)
        return action

    def _build_menus(self) -> None:
        bar, stack, editor, view = self.menuBar(), self.editor.stack, self.editor, self.view
        file = bar.addMenu("&File")
        self._action(file, "&New", self.files.new, Key.New)
        self.templates_menu = file.addMenu("New from &template")
        for template in templates():
            action = self._action(self.templates_menu, template.name, lambda _=False, p=template.path:
                                  self.files.new_from_template(p))
            action.setToolTip(template.description)
            action.setStatusTip(template.description)
        self.templates_menu.setToolTipsVisible(True)
        self._action(file, "&Open…", lambda: self.files.open(), Key.Open)
        self.recent_menu = file.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        self._action(file, "&Import ONNX…", lambda: self.import_onnx())
        self._action(file, "Import &PyTorch model…", lambda: import_pytorch(self))
        self._action(file, "Load &weights…", lambda: load_weights(self))
        self._action(file, "&Fetch published weights…", lambda: fetch_weights(self))
        file.addSeparator()
        self._action(file, "&Save", self.files.save, Key.Save)
        self._action(file, "Save &as…", lambda: self.files.save_as(), "Ctrl+Shift+S")
        file.addSeparator()
        self._action(file, "&Quit", self.close, Key.Quit)

        edit = bar.addMenu("&Edit")
        # Fixed texts, so toolbar buttons never shift; what would be undone shows in the tooltip.
        undo = self._action(edit, "&Undo", stack.undo, "Ctrl+Z")
        redo = self._action(edit, "&Redo", stack.redo, "Ctrl+Shift+Z")
        redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.undo_actions = (undo, redo)
        stack.indexChanged.connect(self._follow_undo_stack)
        stack.cleanChanged.connect(self._follow_undo_stack)
        self._follow_undo_stack()
        edit.addSeparator()
        self._action(edit, "Cu&t", editor.cut, Key.Cut)
        self._action(edit, "&Copy", editor.copy, Key.Copy)
        self._action(edit, "&Paste", lambda: editor.paste(self._cursor_anchor()), Key.Paste)
        self._action(edit, "&Duplicate", editor.duplicate, "Ctrl+D")
        self._action(edit, "De&lete", editor.delete_selection, Key.Delete).setShortcuts(
            [QKeySequence(Key.Delete), QKeySequence("Backspace")])
        self._action(edit, "Select &all", self._select_all, Key.SelectAll)
        edit.addSeparator()
        self._action(edit, "&Rename node…", self._rename_selected_node, "F2")
        self._action(edit, "Graph &name…", self._ask_graph_name, "Ctrl+Shift+N")
        edit.addSeparator()
        install_block_actions(self, edit, self.canvas)

        canvas = bar.addMenu("&View")
        frame = self._action(canvas, "&Frame all", view.frame_all, "F")
        self._action(canvas, "&Zoom 100 %", view.reset_zoom, "Ctrl+0")
        layout = self._action(canvas, "Auto-&layout", view.auto_layout, "Ctrl+L")
        snap = self._action(canvas, "&Snap to grid", lambda on: setattr(self.scene, "snap_to_grid", on))
        snap.setCheckable(True)
        canvas.addSeparator()
        self._action(canvas, "&Dark theme", lambda: self.set_theme("dark"))
        self._action(canvas, "&Light theme", lambda: self.set_theme("light"))
        canvas.addSeparator()
        self.panels_menu = canvas.addMenu("&Panels")  # a toggle per dock; training adds its own
        for dock in self.findChildren(QDockWidget):
            self.panels_menu.addAction(dock.toggleViewAction())

        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "&Keyboard shortcuts", lambda: ShortcutsDialog(self).exec(), "F1")

        tools = self.addToolBar("Main")
        tools.setObjectName("Main")
        for action in (*file.actions()[:1], undo, redo):
            tools.addAction(action)
        tools.addAction(frame)
        tools.addAction(layout)
        for action in (file.actions()[0], frame, layout):
            action.setToolTip(f"{action.text().replace('&', '')} ({action.shortcut().toString()})")

    def _follow_undo_stack(self, *_) -> None:
        """Undo/Redo keep their texts (the toolbar never shifts); the tooltip says what they would do."""
        stack = self.editor.stack
        for action, can, what in zip(self.undo_actions, (stack.canUndo(), stack.canRedo()),
                                     (stack.undoText(), stack.redoText()), strict=True):
            action.setEnabled(can)
            name = action.text().replace("&", "")
            action.setToolTip(f"{name} {what} ({action.shortcut().toString()})".replace("  ", " "))

    def import_onnx(self, path: str | None = None) -> bool:
        """File → Import ONNX…: the model opens as a new, unsaved graph and its weights go beside it
        (`<model>.imported.safetensors`, for `layerloom export --weights`). Import needs onnx, not torch."""
        from PySide6.QtWidgets import QFileDialog, QMessageBox

        from engine.errors import LayerloomError
        from engine.onnx_import import import_onnx

        if refusal := self.switch_refusal():
            self.statusBar().showMessage(refusal, 10_000)
            return False
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Import ONNX model", "", "ONNX model (*.onnx)")
            if not path:
                return False
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)  # a large model takes seconds to prove
        try:
            imported = import_onnx(path)
        except LayerloomError as exc:
            imported, problem = None, str(exc)
        finally:
            QApplication.restoreOverrideCursor()
        if imported is None:
            QMessageBox.critical(self, "Cannot import ONNX model", problem)
            return False
        return adopt_imported(self, imported, Path(path).with_suffix(".imported.safetensors"), Path(path).name)

    # -- switching graphs ---------------------------------------------------------------------
    def switch_refusal(self) -> str | None:
        """Why another graph cannot be shown now, or None."""
        training = getattr(self, "training", None)
        if training is not None and training.running:
            return "A run is training this graph — stop it (Shift+F5) before opening or importing another."
        return None

    def switch_graph(self, doc: GraphDocument, path: Path | None, *, saved: bool = True) -> bool:
        """Show `doc` — saved at `path`, or never saved — instead of the graph on screen: one explicit sequence
        in which each part of the window takes the new graph in turn (the canvas through the document's reset,
        then the file path and undo history, the runs and live view, the title). A part that fails is reported
        (dialog and log) and the others still switch, so the window never shows two graphs at once and Save
        never writes one graph to another's file. Nothing switches while a run trains (returns False)."""
        if refusal := self.switch_refusal():
            self.statusBar().showMessage(refusal, 10_000)
            return False
        steps = [("status bar", self.statusBar().clearMessage),  # its last message was about the old graph
                 ("canvas", lambda: self.doc.replace_with(doc)),
                 ("file", lambda: self.files.switched_to(path, saved)),
                 *self.graph_parts,
                 ("title", self._update_title),
                 ("view", lambda: QTimer.singleShot(0, self.view.frame_on_resize))]
        for part, step in steps:
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - reported; the other parts must still switch
                error_report.reporter.report(f"the {part} could not switch to the new graph", exc)
        return True

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for path in settings.recent_files():
            self.recent_menu.addAction(path, lambda p=path: self.files.open(p))
        if self.recent_menu.isEmpty():
            self.recent_menu.addAction("(none)").setEnabled(False)

    def _rename_selected_node(self) -> None:
        selected = self.scene.selected_node_ids()
        if len(selected) == 1:
            ask_rename(self, self.editor, selected[0])
        else:
            self.statusBar().showMessage("Select one node to rename it (F2).", 5000)

    def _ask_graph_name(self) -> None:
        name, ok = QInputDialog.getText(self, "Graph name", "Name (titles, run names and exports use it):",
                                        text=self.doc.name)
        if ok:
            self.editor.rename_graph(name)

    def _select_all(self) -> None:
        for item in self.scene.items_by_id.values():
            item.setSelected(True)

    def _cursor_anchor(self) -> tuple[float, float] | None:
        """Paste at the mouse when it is over the canvas, else next to the originals."""
        local = self.view.viewport().mapFromGlobal(QCursor.pos())
        if not self.view.viewport().rect().contains(local):
            return None
        point: QPointF = self.view.mapToScene(local)
        return (point.x(), point.y())

    # -- reactions ----------------------------------------------------------------------------
    def _update_title(self) -> None:
        self.setWindowTitle(f"{self.files.display_name}[*] — Layerloom")

    def _show_report(self, report: ValidationReport) -> None:
        self.problems.show_report(report)
        self.count_label.setText(f"{plural(len(self.doc.nodes), 'node')} · {plural(len(self.doc.edges), 'wire')}")
        errors = len(report.errors)
        self.validity_label.setText("✔ valid" if report.ok else f"✖ {plural(errors, 'error')}")
        if not report.ok:
            self.params_label.clear()
            self.scene.apply_param_counts({})
            self.analysis.clear()
            self.problems.show_training_diagnostics([])
        self.stats.request(report)

    def _show_stats(self, answer: StatsAnswer) -> None:
        stats = answer.stats
        self.scene.apply_param_counts({n: s.params for n, s in stats.nodes.items()})
        fits = answer.memory_bytes is None or stats.training_memory_bytes <= answer.memory_bytes
        step = "" if stats.step_seconds is None else f" · ≈ {format_seconds(stats.step_seconds)}/step"
        self.params_label.setText(f"{format_count(stats.total_params)} · training ≈ "
                                  f"{format_bytes(stats.training_memory_bytes)} {'✔ fits' if fits else '✖ too big'}"
                                  f"{step}")
        self.params_label.setToolTip(re.sub("<[^>]+>", "", "\n".join(filter(None, (fit_text(answer),
                                                                                  speed_text(stats))))))
        self.analysis.show_stats(answer, self.doc, self.scene.report)
        self.problems.show_training_diagnostics(answer.diagnostics)

    def show_node(self, node_id: str) -> None:
        """Select and centre a node the problems or analysis panel names: a node of the graph, so from
        inside an open block the canvas goes back to the graph first."""
        if node_id not in self.scene.items_by_id and node_id in self.scene.root.nodes:
            self.scene.go_to(0)
        self.scene.select_nodes([node_id])
        self.view.center_on_node(node_id)

    def set_theme(self, name: str) -> None:
        self.theme = THEMES[name]
        settings.set_theme_name(name)
        apply_palette(QApplication.instance(), self.theme)
        self.scene.set_theme(self.theme)
        self.view.resetCachedContent()
        if hasattr(self, "training"):
            self.training.live.apply_theme(self.theme)
            self.dataset_view.apply_theme(self.theme)

    def enable_stats(self) -> None:
        """Start computing statistics (in the training worker process: this one never imports torch)."""
        self.stats.enable()
        self.stats.request(self.scene.report)

    def open_path(self, path: Path) -> bool:
        return self.files.open(path)

    def closeEvent(self, event) -> None:
        if self.files.maybe_save():
            save_layout(self)
            if hasattr(self, "training"):
                self.training.workspaces.save()
            discard_recovery()
            self.stats.shutdown()
            event.accept()
        else:
            event.ignore()


def plural(count: int, noun: str) -> str:
    """`1 node`, `2 nodes`, `1,200 wires`."""
    return f"{count:,} {noun}{'s' * (count != 1)}"
