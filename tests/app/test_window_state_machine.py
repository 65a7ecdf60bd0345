"""The main window driven through random sequences of a user's actions, with invariants after every step.

Most bugs users meet come from one action after another (train, then open; group, then undo, then
save), so hypothesis draws sequences of the actions a user has — new, open, new from template,
import ONNX, add / delete / wire nodes, drop a node on a wire, group / ungroup, open / leave a block,
undo / redo, auto-layout, rename, save / save as (also to a folder that does not exist), train a few
steps in the real worker, pause / resume / stop, resume a stopped run, export, select and delete
runs — including those that try to change the graph while a run trains. After every step:

- no exception reached the error dialog (listener failures, slot exceptions through sys.excepthook);
- the title, the path, the Runs dock and the run on screen belong to the graph on the canvas, and
  the canvas shows exactly the document's nodes;
- every file saved still holds the graph last saved to it (no graph written over another's file),
  and the last save wrote the graph on screen;
- undoing every step restores the document as it was adopted, and redoing them gives it back;
- no run folder without its record once nothing trains.

The CI profile runs a few short sequences; `pytest --hypothesis-profile long tests/app/
test_window_state_machine.py` runs hundreds.
"""

from __future__ import annotations

import collections
import functools
import os

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox
from test_onnx_import_menu import small_model

from app import error_report
from app.main_window import MainWindow
from app.templates import EXAMPLES
from app.training.client import shared_client
from engine import runs as run_store
from engine.blocks import is_instance
from engine.document import Edge
from engine.fileformat import load_document, to_dict
from nodes import get_spec

WORKER_MS = 90_000
TEMPLATES = ("digits_mlp.json", "digits_cnn.json", "digits_gan.json", "sequence_lstm.json")
NODE_TYPES = ("Linear", "ReLU", "Dropout", "LayerNorm", "Flatten", "Tanh")
INDEX = st.integers(0, 1_000_000)  # which of the graph's nodes, wires, files… (see `pick`)
Button = QMessageBox.StandardButton
pytestmark = pytest.mark.slow

# CI: the same few sequences every time (derandomized), so its length and what it reaches do not vary.
settings.register_profile("window-ci", max_examples=12, stateful_step_count=25, deadline=None, derandomize=True,
                          suppress_health_check=list(HealthCheck))
settings.register_profile("window-long", max_examples=300, stateful_step_count=40, deadline=None,
                          suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module", autouse=True)
def warm_worker(qapp):
    client = shared_client()
    client.start()
    yield client


ACTIONS_RUN: collections.Counter = collections.Counter()  # action name (… while a run trains) → times
SEQUENCES_RUN: list[int] = []  # how many actions each sequence ran


def action(**strategies):
    """A rule that is a user's action, counted in ACTIONS_RUN (printed after the run: `-s` shows it), so a
    profile that never reaches an action shows it."""
    def wrap(function):
        @functools.wraps(function)
        def counted(self, **arguments):
            ACTIONS_RUN[f"{function.__name__}{' while a run trains' if self.training.running else ''}"] += 1
            self.done.append(f"{function.__name__}({arguments})")
            return function(self, **arguments)

        return rule(**strategies)(counted)

    return wrap


def _find_action(window, text: str):
    for top in window.menuBar().actions():
        menu = top.menu()
        for action in (menu.actions() if menu else ()):
            if action.text() == text:
                return action
            if action.menu() is not None:
                for inner in action.menu().actions():
                    if inner.text() == text:
                        return inner
    raise LookupError(text)


def build_machine(qtbot, tmp_path, monkeypatch):
    onnx_file = small_model(tmp_path / "tiny.onnx")
    folder = tmp_path / "graphs"
    folder.mkdir()
    chosen: dict[str, str] = {}  # what the next file dialog answers
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (chosen.pop("save", ""), ""))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (chosen.pop("open", ""), ""))

    def answer(parent, title, text, *args, **kwargs):
        if title == "Unsaved changes":
            return Button.Discard
        if title == "Delete run":
            return Button.Yes
        raise AssertionError(f"unexpected question: {title}: {text}")

    monkeypatch.setattr(QMessageBox, "question", answer)

    class WindowMachine(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            error_report.reporter.reported.clear()
            error_report.install()  # slot exceptions reach the reporter, which the invariant reads
            self.window = MainWindow(theme_name="dark")
            qtbot.addWidget(self.window, before_close_func=lambda w: w.editor.stack.setClean())
            self.window.show()
            self.training = self.window.training
            self.saved: dict = {}  # path → the graph last written there
            self.last_saved: tuple | None = None
            self.adopted = to_dict(self.window.doc)  # the document when the undo history began
            self.counter = 0
            self.done: list[str] = []  # the actions so far, for a failure hypothesis cannot replay

        # -- helpers -------------------------------------------------------------------------------
        @property
        def doc(self):
            return self.window.editor.doc  # the graph or the block open on the canvas

        def settle(self, ms: int = 10) -> None:
            qtbot.wait(ms)

        def position(self) -> QPointF:
            self.counter += 1
            return QPointF(40.0 * (self.counter % 20), 160.0 * (self.counter // 20) + 7 * self.counter)

        def switched(self) -> None:
            self.adopted = to_dict(self.window.doc)

        def busy(self) -> bool:
            return self.training.running or self.training.client.owner is not None

        def wait_idle(self) -> None:
            """Until the run has ended and the worker is free; a run that never ends fails with what led to it
            (hypothesis cannot always replay a sequence whose timing mattered)."""
            try:
                qtbot.waitUntil(lambda: not self.busy(), timeout=WORKER_MS)
            except qtbot.TimeoutError:
                t, record = self.training, self.training.record
                raise AssertionError(
                    f"the run never ended: state {record.state if record else None}, paused {t.paused}, stop pending "
                    f"{t.stop_pending}, worker owner {t.client.owner}, after {self.done}") from None

        # -- graphs in and out ---------------------------------------------------------------------
        @initialize(template=st.sampled_from(TEMPLATES), training=st.booleans())
        def start(self, template, training):
            """A template on screen; half the sequences begin with a run training it, so that what a user does
            while a run trains (open, import, save as, rename, delete a run…) is reached often."""
            assert self.window.files.new_from_template(EXAMPLES / template)
            self.switched()
            if training:
                self.training.epochs_override = 500
                self.training.actions["train"].trigger()
                self.wait_for_progress(to_the_end=False)

        @action()
        def new(self):
            locked = self.training.lock.locked
            before = to_dict(self.window.doc)
            _find_action(self.window, "&New").trigger()
            if locked:
                assert to_dict(self.window.doc) == before
            else:
                assert self.window.doc.nodes == {} and self.window.files.path is None
                self.switched()

        @action(template=st.sampled_from(TEMPLATES))
        def new_from_template(self, template):
            locked = self.training.lock.locked
            switched = self.window.files.new_from_template(EXAMPLES / template)
            assert switched != locked
            if switched:
                self.switched()

        @action(index=INDEX)
        def open_saved(self, index):
            path = pick(sorted(self.saved), index)
            if path is None:
                return
            locked = self.training.lock.locked
            chosen["open"] = str(path)
            _find_action(self.window, "&Open…").trigger()
            chosen.pop("open", None)
            if not locked:
                assert self.window.files.path == path and to_dict(self.window.doc) == self.saved[path]
                self.switched()

        @action()
        def import_onnx(self):
            locked = self.training.lock.locked
            chosen["open"] = str(onnx_file)
            _find_action(self.window, "&Import ONNX…").trigger()
            chosen.pop("open", None)
            if not locked:
                assert set(self.window.doc.nodes) == {"x", "fc1", "act", "y"}
                assert self.window.files.path is None and not self.window.editor.stack.isClean()
                self.switched()

        @action(name=st.sampled_from(("a", "b", "c")), fails=st.booleans())
        def save_as(self, name, fails):
            path = (folder / "missing" if fails else folder) / f"{name}.json"
            old = self.window.files.path
            ok = self.window.files.save_as(path)
            assert ok != fails
            if ok:
                self.saved[path] = to_dict(self.window.doc)
                self.last_saved = (path, self.saved[path])
            else:
                assert self.window.files.path == old

        @action()
        def save(self):
            path = self.window.files.path
            if path is None:
                chosen["save"] = str(folder / "unnamed.json")
            _find_action(self.window, "&Save").trigger()
            chosen.pop("save", None)
            path = self.window.files.path
            if path is not None and self.window.editor.stack.isClean():
                self.saved[path] = to_dict(self.window.doc)
                self.last_saved = (path, self.saved[path])

        @action(name=st.sampled_from(("renamed", "my graph", "x")))
        def rename_graph(self, name):
            self.window.editor.rename_graph(name)

        # -- editing ---------------------------------------------------------------------------------
        @action(type_id=st.sampled_from(NODE_TYPES))
        def add_node(self, type_id):
            self.window.editor.add_node(type_id, self.position())

        @action(index=INDEX)
        def delete_node(self, index):
            node = pick(sorted(self.doc.nodes), index)
            if node is None:
                return
            self.window.scene.select_nodes([node])
            _find_action(self.window, "De&lete").trigger()

        @action(ends=st.tuples(INDEX, INDEX), ports=st.tuples(INDEX, INDEX))
        def wire(self, ends, ports):
            nodes = sorted(self.doc.nodes)
            src = pick(nodes, ends[0])
            dst = pick([n for n in nodes if n != src], ends[1])
            if src is None or dst is None:
                return
            out = pick(_ports(self.doc, src, "outputs"), ports[0])
            into = pick(_ports(self.doc, dst, "inputs"), ports[1])
            if out is not None and into is not None:
                self.window.editor.connect(Edge(src, out, dst, into))

        @action(index=INDEX, type_id=st.sampled_from(("ReLU", "Dropout", "Tanh")))
        def drop_on_wire(self, index, type_id):
            edge = pick(list(self.doc.edges), index)
            if edge is not None:
                self.window.editor.insert_on_wire(type_id, self.position(), edge)

        @action(indices=st.lists(INDEX, min_size=1, max_size=3))
        def group(self, indices):
            nodes = sorted(self.doc.nodes)
            chosen_nodes = list(dict.fromkeys(pick(nodes, i) for i in indices)) if len(nodes) >= 2 else []
            if not chosen_nodes:
                return
            self.window.scene.select_nodes(chosen_nodes)
            _find_action(self.window, "&Group into block").trigger()

        @action(index=INDEX, open_it=st.booleans())
        def ungroup_or_open(self, index, open_it):
            instance = pick(sorted(n for n, s in self.doc.nodes.items() if is_instance(s)), index)
            if instance is None:
                return
            self.window.scene.select_nodes([instance])
            if open_it:
                self.window.editor.blocks.open_block(instance)
            else:
                self.window.editor.blocks.ungroup(instance)

        @action()
        def leave_block(self):
            if self.window.scene.path:
                self.window.scene.go_to(0)

        @action(times=st.integers(1, 3))
        def undo(self, times):
            for _ in range(times):
                _find_action(self.window, "&Undo").trigger()

        @action(times=st.integers(1, 3))
        def redo(self, times):
            for _ in range(times):
                _find_action(self.window, "&Redo").trigger()

        @action()
        def auto_layout(self):
            _find_action(self.window, "Auto-&layout").trigger()
            self.settle(50)

        # -- training ------------------------------------------------------------------------------
        # Whether a run is still training decides what every later action does (the graph is locked), so
        # no rule leaves it to timing: a short run is waited for to its end, a long one runs until stopped.
        @action(to_the_end=st.booleans())
        def train(self, to_the_end):
            if self.busy():
                return
            self.training.epochs_override = 1 if to_the_end else 500
            self.training.actions["train"].trigger()
            self.wait_for_progress(to_the_end)

        def wait_for_progress(self, to_the_end: bool) -> None:
            if to_the_end:
                self.wait_idle()
            elif self.training.running:
                qtbot.waitUntil(lambda: bool(self.training.record.steps) or not self.training.running,
                                timeout=WORKER_MS)

        @action()
        def pause_and_resume(self):
            if not self.training.running or self.training.paused:
                return
            self.training.actions["pause"].trigger()
            qtbot.waitUntil(lambda: self.training.paused or not self.training.running, timeout=WORKER_MS)
            self.training.actions["resume"].trigger()
            qtbot.waitUntil(lambda: not self.training.paused or not self.training.running, timeout=WORKER_MS)

        @action()
        def stop(self):
            if self.training.running:
                self.training.actions["stop"].trigger()
                self.wait_idle()

        @action()
        def resume_run_on_screen(self):
            action = self.training.actions["resume"]
            if action.isEnabled() and not self.busy():
                action.trigger()
                self.wait_for_progress(to_the_end=False)

        @action()
        def export(self):
            """Training → Export…: ONNX from the run on screen (or untrained), checked in the worker, then close."""
            if not self.training.actions["export"].isEnabled():
                return
            self.training.actions["export"].trigger()
            dialog = self.training.export_dialog
            self.counter += 1
            dialog.onnx_path.setText(str(folder / f"export{self.counter}.onnx"))
            dialog.python_on.setChecked(False)
            dialog.export()
            qtbot.waitUntil(lambda: dialog.result is not None, timeout=WORKER_MS)
            dialog.close()

        @action(index=st.integers(0, 50), delete=st.booleans())
        def pick_run(self, index, delete):
            panel = self.training.runs_panel
            if not panel.runs:
                return
            panel.select(panel.runs[index % len(panel.runs)].path)
            if delete:
                panel.delete_selected()

        # -- invariants ------------------------------------------------------------------------------
        @invariant()
        def no_error_was_swallowed(self):
            QApplication.processEvents()
            assert not error_report.reporter.reported, error_report.reporter.reported

        @invariant()
        def one_graph_on_screen(self):
            w, files = self.window, self.window.files
            assert set(w.scene.items_by_id) == set(w.scene.doc.nodes)
            assert files.display_name in w.windowTitle()
            assert self.training.runs_panel.store == self.training.store
            record = self.training.record  # (a run training now trains the graph as it was when it started)
            if record is not None and record.run_dir is not None and not self.training.running:
                pending = self.training.pending_move
                allowed = {self.training.store, *(pending[:1] if pending else ())}
                assert record.run_dir.parent in allowed, (record.run_dir, allowed)

        @invariant()
        def files_hold_what_was_saved_to_them(self):
            for path, graph in self.saved.items():
                assert to_dict(load_document(path)) == graph, f"{path.name} was overwritten"
            if self.last_saved is not None and self.window.files.path == self.last_saved[0] \
                    and self.window.editor.stack.isClean():
                assert to_dict(self.window.doc) == self.last_saved[1]

        @invariant()
        def undo_restores_the_adopted_document(self):
            stack = self.window.editor.stack
            if self.training.lock.locked or self.window.scene.path:
                return  # undo is locked while training; inside a block the whole-graph check waits
            index, now = stack.index(), to_dict(self.window.doc)
            stack.setIndex(0)
            assert to_dict(self.window.doc) == self.adopted
            stack.setIndex(index)
            assert to_dict(self.window.doc) == now

        @invariant()
        def no_run_folder_without_its_record(self):
            if self.busy():
                return
            store = self.training.store
            if store.is_dir():
                for folder in store.iterdir():
                    assert run_store.is_run_dir(folder), f"{folder} holds no run record"

        def teardown(self):
            SEQUENCES_RUN.append(len(self.done))
            if os.environ.get("LAYERLOOM_PROGRESS"):  # a long local hunt says how far it got
                print(f"sequence {len(SEQUENCES_RUN)}: {len(self.done)} actions, "
                      f"{sum(SEQUENCES_RUN)} in all", flush=True)
            if self.busy():
                self.training.actions["stop"].trigger()
                self.wait_idle()
            self.window.editor.stack.setClean()
            self.window.close()

    return WindowMachine


def pick(items: list, index: int):
    """`items[index]`, wrapping round; None when there are none. Rules draw a plain index rather than from the
    state's own lists, so what hypothesis draws never depends on the state — which may depend on timing
    (whether a run still trains decides whether an edit happened) — and a failing sequence replays."""
    return items[index % len(items)] if items else None


def _ports(doc, node_id: str, side: str) -> list[str]:
    node = doc.nodes[node_id]
    spec = get_spec(node.type_id)
    if spec is None:
        return []
    return [p.name for p in getattr(spec, side)]


def test_random_sequences_of_user_actions_keep_the_window_whole(qtbot, tmp_path, monkeypatch, request):
    machine = build_machine(qtbot, tmp_path, monkeypatch)
    profile = "window-long" if request.config.getoption("hypothesis_profile", None) == "long" else "window-ci"
    ACTIONS_RUN.clear()
    SEQUENCES_RUN.clear()
    run_state_machine_as_test(machine, settings=settings.get_profile(profile))
    print(f"{len(SEQUENCES_RUN)} sequences, {sum(SEQUENCES_RUN)} actions:", dict(sorted(ACTIONS_RUN.items())))
