"""Each task kind's own panels in the live view (app/training/kind_views), fed recorded events.

The events follow engine/train/events.py (what a tiny real run of each kind emits), with their PNG
artifacts written under a run folder as the trainer writes them. The last test generates text with a
real language-model run through the worker and is marked slow.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage

from app.training.evaluation import ResultsPanel
from app.training.kind_views import VIEWS, kind_of
from app.training.kind_views.adversarial import GanPanel
from app.training.kind_views.classification import ConfusionPanel
from app.training.kind_views.language import LanguagePanel
from app.training.kind_views.reconstruction import ReconstructionPanel
from app.training.kind_views.regression import ScatterPanel
from app.training.live_view import LiveView
from app.training.runs import RunRecord

STEPS_PER_EPOCH = 10
CLASSES = ["a", "b", "c"]
# confusion[true][predicted] over 12 samples, and the validation positions of each mistake
CONFUSION = [[3, 1, 0], [0, 4, 0], [2, 0, 2]]
MISCLASSIFIED = [[[], [7], []], [[], [], []], [[4, 9], [], []]]


def started(kind: str | None) -> dict:
    event = {"type": "started", "config": {"epochs": 3}, "dataset": "test data", "params": 10, "device": "cpu",
             "world_size": 1, "resumed_step": 0, "steps_per_epoch": STEPS_PER_EPOCH}
    return event if kind is None else {**event, "task_kind": kind}


def step(n: int, gan: bool = False) -> dict:
    event = {"type": "step", "step": n, "epoch": 1 + (n - 1) // STEPS_PER_EPOCH, "loss": 1.0 / n, "lr": 0.1,
             "grad_norm": 1.0, "layer_grad_norms": {"fc1": 1.0}, "samples_per_s": 100.0}
    return {**event, "losses": {"generator": 0.7, "discriminator": 1.3}} if gan else event


def epoch(n: int, metrics: dict | None = None, accuracy: float | None = None, gan: bool = False) -> dict:
    event = {"type": "epoch", "epoch": n, "train_loss": 1.0 / n, "val_loss": 1.2 / n, "train_accuracy": accuracy,
             "val_accuracy": accuracy, "lr": 0.1, "seconds": 1.0}
    if gan:
        event["losses"] = {"generator": 0.7, "discriminator": 1.3}
    return {**event, "metrics": metrics} if metrics else event


def image_artifact(run_dir: Path, tag: str, n: int, grey: int) -> dict:
    """A PNG artifact as the trainer writes it: artifacts/<tag>-epoch<NNNN>.png and its event."""
    path = f"artifacts/{tag}-epoch{n:04d}.png"
    (run_dir / "artifacts").mkdir(parents=True, exist_ok=True)
    image = QImage(40, 20, QImage.Format.Format_RGB32)
    image.fill(QColor(grey, grey, grey))
    assert image.save(str(run_dir / path))
    return {"type": "artifact", "kind": "image", "tag": tag, "epoch": n, "step": n * STEPS_PER_EPOCH, "path": path}


def data_artifact(tag: str, n: int, data, kind: str = "data") -> dict:
    event = {"type": "artifact", "kind": kind, "tag": tag, "epoch": n, "step": n * STEPS_PER_EPOCH,
             "path": f"artifacts/{tag}-epoch{n:04d}.{'txt' if kind == 'text' else 'json'}"}
    return {**event, kind: data}


def epoch_events(kind: str, run_dir: Path, n: int) -> list[dict]:
    """What a run of `kind` emits for its epoch n: steps, the epoch with its metrics, its artifacts."""
    gan = kind == "adversarial"
    steps = [step(s, gan) for s in range((n - 1) * STEPS_PER_EPOCH + 1, n * STEPS_PER_EPOCH + 1)]
    confusion = {"class_names": CLASSES, "confusion": CONFUSION, "misclassified": MISCLASSIFIED,
                 "per_class_accuracy": [0.75, 1.0, 0.5]}
    return steps + {
        "plain": [epoch(n)],
        "classification": [epoch(n, accuracy=0.5 + n / 10), data_artifact("confusion", n, confusion)],
        "regression": [epoch(n, {"mae": 1.0 / n, "rmse": 1.5 / n}),
                       data_artifact("predicted_vs_true", n, {"true": [0.0, 1.0, 2.0], "predicted": [0.1, 1.2, 1.7]})],
        "reconstruction": [epoch(n, {"reconstruction_error": 0.5 / n}),
                           image_artifact(run_dir, "reconstructions", n, 40 * n),
                           image_artifact(run_dir, "bottleneck_pca", n, 255)],
        "adversarial": [epoch(n, {"d_real": 0.6, "d_fake": 0.4}, gan=True),
                        image_artifact(run_dir, "samples", n, 60 * n)],
        "language_model": [epoch(n, {"perplexity": 20.0 / n}),
                           data_artifact("generated", n, f"the text after epoch {n}", kind="text")],
    }[kind]


def recorded(kind: str, run_dir: Path, epochs: int = 2, with_kind: bool = True) -> RunRecord:
    record = RunRecord(f"{kind}-run", run_dir)
    for event in [started(kind if with_kind else None)] + \
            [e for n in range(1, epochs + 1) for e in epoch_events(kind, run_dir, n)]:
        record.add(event)
    return record


@pytest.fixture
def live(qtbot):
    view = LiveView()
    view.resize(1200, 420)
    view.set_compact(False)
    qtbot.addWidget(view)
    view.show()
    return view


def loss_legend(live: LiveView) -> list[str]:
    return [label.text for _, label in live.loss_plot.legend.items]


PANELS = {  # kind → (metric plot title or None when hidden, panel type or None, metric field drawn)
    "plain": (None, None, None),
    "classification": ("Accuracy", ConfusionPanel, "val_accuracy"),
    "regression": ("MAE / RMSE", ScatterPanel, "mae"),
    "reconstruction": ("Reconstruction error", ReconstructionPanel, "reconstruction_error"),
    "adversarial": ("D(real) / D(fake)", GanPanel, "d_real"),
    "language_model": ("Perplexity", LanguagePanel, "perplexity"),
}


def test_every_engine_kind_has_a_view():
    from engine.tasks import KINDS  # the engine's registry (imports torch: only this test needs it)

    assert set(VIEWS) == set(KINDS) == set(PANELS)


@pytest.mark.parametrize("kind", list(PANELS))
def test_each_kind_shows_its_own_panels_and_hides_the_rest(live, tmp_path, kind):
    title, panel, field = PANELS[kind]
    record = recorded(kind, tmp_path)
    live.show_run(record)
    live.redraw()
    assert (live.metric_plot in live.plots.ci.items) == (title is not None)  # no Accuracy for a GAN, an AE…
    assert type(live.kind_panel) is (panel or type(None)) and live.kind_box.isVisible() == (panel is not None)
    if title is not None:
        assert live.metric_plot.titleLabel.text == title
        curve = live.metric_curves[field]
        assert list(curve.xData) == [10.0, 20.0] and len(curve.yData) == 2
    if kind != "adversarial":
        assert loss_legend(live)[:2] == ["train", "val"]
    results = ResultsPanel()
    assert results.expects_evaluation(record) == (kind == "classification")
    assert "failed" not in results.summary.text() and "Not a classifier" not in results.summary.text()


def test_a_gan_names_its_losses_and_its_grid_strip_grows_each_epoch(live, qtbot, tmp_path):
    record = RunRecord("gan", tmp_path)
    record.add(started("adversarial"))
    live.show_run(record)
    panel = live.kind_panel
    for n in (1, 2, 3):
        for event in epoch_events("adversarial", tmp_path, n):
            record.add(event)
        live.redraw()
        assert panel.strip.count() == n
        assert panel.grid.path == tmp_path / f"artifacts/samples-epoch{n:04d}.png"  # the newest grid
        assert not panel.grid.pixmap().isNull()
    legend = loss_legend(live)
    assert {"generator", "discriminator", "discriminator (val)"} <= set(legend)
    assert "train" not in legend and "val" not in legend
    assert set(live.metric_curves) == {"d_real", "d_fake"}

    strip = panel.strip
    first = strip.visualItemRect(strip.item(0)).center()
    qtbot.mouseClick(strip.viewport(), Qt.MouseButton.LeftButton, pos=first)
    assert panel.grid.path == tmp_path / "artifacts/samples-epoch0001.png" and "epoch 1" in panel.heading.text()
    for event in epoch_events("adversarial", tmp_path, 4):
        record.add(event)
    live.redraw()
    assert strip.count() == 4 and panel.grid.path.name == "samples-epoch0001.png"  # stays where the user looks
    qtbot.mouseClick(strip.viewport(), Qt.MouseButton.LeftButton, pos=strip.visualItemRect(strip.item(3)).center())
    for event in epoch_events("adversarial", tmp_path, 5):
        record.add(event)
    live.redraw()
    assert panel.grid.path.name == "samples-epoch0005.png"  # the newest clicked: following training again


def test_clicking_a_confusion_cell_lists_exactly_its_samples_and_shows_them(live, qtbot, tmp_path):
    live.show_run(recorded("classification", tmp_path))
    live.redraw()
    panel = live.kind_panel
    matrix = panel.matrix
    assert [[matrix.item(i, j).text() for j in range(3)] for i in range(3)] == [[str(c) for c in row]
                                                                               for row in CONFUSION]
    with qtbot.waitSignal(live.worker_request) as asked:
        qtbot.mouseClick(matrix.viewport(), Qt.MouseButton.LeftButton,
                         pos=matrix.visualItemRect(matrix.item(2, 0)).center())
    assert panel.cell == (2, 0) and panel.cell_samples == [4, 9]
    assert asked.args[0] == {"cmd": "samples", "indices": [4, 9]}
    assert "true <b>c</b>, predicted <b>a</b>: 2 samples" in panel.listing.text()
    assert panel.listing.text().endswith("#4, #9")

    pixels = [float(v) for v in range(64)]
    live.kind_reply({"type": "samples", "cmd": "samples", "samples": [
        {"index": i, "x": pixels, "shape": [1, 8, 8], "text": None, "label": "c"} for i in (4, 9)]})
    assert len(panel.samples.entries) == 2
    thumbnails = [entry.findChildren(type(panel.listing)) for entry in panel.samples.entries]
    assert all(any(label.pixmap() is not None and not label.pixmap().isNull() for label in labels)
               for labels in thumbnails)
    assert [labels[-1].text() for labels in thumbnails] == ["#4 c", "#9 c"]

    with qtbot.assertNotEmitted(live.worker_request):  # the diagonal is counted, not listed
        panel.choose_cell(1, 1)
    assert "4 samples, classified right" in panel.listing.text() and panel.samples.entries == []


def test_language_panel_shows_each_epochs_text_and_asks_the_worker_to_generate(live, qtbot, tmp_path):
    record = recorded("language_model", tmp_path)
    live.show_run(record)
    live.redraw()
    panel = live.kind_panel
    assert panel.epoch_text.toPlainText() == "the text after epoch 2"
    assert record.active and panel.generate.isEnabled()  # while the run trains too
    with qtbot.assertNotEmitted(live.worker_request):  # no checkpoint yet: it says why instead of asking
        qtbot.mouseClick(panel.generate, Qt.MouseButton.LeftButton)
    assert "No checkpoint yet" in panel.output.toPlainText() and "first epoch" in panel.output.toPlainText()
    record.add({"type": "checkpoint", "tag": "last", "path": str(tmp_path / "last.safetensors"), "epoch": 2,
                "step": 20})
    live.redraw()
    with qtbot.waitSignal(live.worker_request) as asked:  # training: the newest checkpoint writes
        qtbot.mouseClick(panel.generate, Qt.MouseButton.LeftButton)
    assert asked.args[0]["checkpoint"] == "last" and panel.output.toPlainText() == "Writing…"
    live.redraw()
    assert not panel.generate.isEnabled()  # until the answer comes
    live.kind_reply({"type": "generated", "cmd": "generate", "prompt": "the", "text": " end",
                     "weights": {"tag": "last", "epoch": 2, "step": 20}})
    assert panel.output.toPlainText() == "the end" and "last checkpoint of epoch 2" in panel.note.text()
    record.add({"type": "status", "state": "finished", "reason": None, "message": "done"})
    live.redraw()
    assert panel.generate.isEnabled()
    panel.prompt.setText("the ")
    panel.tokens.setValue(30)
    panel.temperature.setValue(0.5)
    panel.top_k.setValue(4)
    with qtbot.waitSignal(live.worker_request) as asked:
        qtbot.mouseClick(panel.generate, Qt.MouseButton.LeftButton)
    assert asked.args[0] == {"cmd": "generate", "prompt": "the ", "tokens": 30, "temperature": 0.5, "top_k": 4}
    live.kind_reply({"type": "generated", "cmd": "generate", "prompt": "the ", "text": "cat"})
    assert panel.output.toPlainText() == "the cat" and panel.generate.isEnabled()
    live.kind_reply({"type": "worker_error", "cmd": "generate", "message": "'é' is not in the vocabulary"})
    assert "Cannot generate" in panel.output.toPlainText()


def test_reconstruction_pairs_and_regression_scatter_show_the_newest_epoch(live, tmp_path):
    live.show_run(recorded("reconstruction", tmp_path / "ae"))
    live.redraw()
    panel = live.kind_panel
    assert panel.pairs.path == tmp_path / "ae/artifacts/reconstructions-epoch0002.png"
    assert not panel.pairs.pixmap().isNull() and panel.pca.isVisible()
    live.show_run(recorded("regression", tmp_path / "reg"))
    live.redraw()
    scatter = live.kind_panel
    assert [tuple(p.pos()) for p in scatter.points.points()] == [(0.0, 0.1), (1.0, 1.2), (2.0, 1.7)]
    assert "MAE 0.5" in scatter.heading.text() and "RMSE 0.75" in scatter.heading.text()


def test_a_kind_switch_restores_the_next_runs_panels(live, tmp_path):
    live.show_run(recorded("adversarial", tmp_path / "gan"))
    live.redraw()
    fresh = RunRecord("gan-2", tmp_path / "gan-2")
    fresh.add(started("adversarial"))
    live.show_run(fresh)  # a run of the same kind with no grids yet shows none of the last one's
    live.redraw()
    assert live.kind_panel.strip.count() == 0 and live.kind_panel.grid.path is None
    live.show_run(recorded("classification", tmp_path / "cnn"))
    live.redraw()
    assert live.metric_plot in live.plots.ci.items and live.metric_plot.titleLabel.text == "Accuracy"
    assert loss_legend(live)[:2] == ["train", "val"] and isinstance(live.kind_panel, ConfusionPanel)
    live.show_run(None)
    assert live.metric_plot not in live.plots.ci.items and live.kind_panel is None


READABLE_PX = 60  # the least height of a plot's data area: room for a curve and two y ticks


@pytest.mark.parametrize("width", [1456, 930])  # the live view in a 1600×1000 screen's window, in a 1024×700 one's
def test_a_gans_three_loss_legends_leave_every_plot_a_readable_data_area(live, qtbot, tmp_path, width):
    live.resize(width, 400)
    live.show_run(recorded("adversarial", tmp_path, epochs=3))
    live.redraw()
    qtbot.wait(50)
    live.resize(width, live.minimumSizeHint().height())  # as in its dock: shorter than this, the dock scrolls
    qtbot.wait(50)  # the plots' layout settles
    assert sorted(live.loss_plot.legend.names.values()) == ["discriminator", "discriminator (val)", "generator"]
    shown = live.plots.viewport().rect()
    for plot in live.plots.ci.items:
        data = plot.vb.sceneBoundingRect()
        legend = plot.legend.sceneBoundingRect()
        assert data.height() >= READABLE_PX, (plot.titleLabel.text, data.height(), legend.height())
        assert not legend.intersects(data), plot.titleLabel.text  # never over the curves
        bottom = live.plots.mapFromScene(legend.bottomLeft())
        assert shown.contains(bottom.x(), bottom.y() - 1), plot.titleLabel.text  # the legend is on screen, not cut
        for _, label in plot.legend.items:
            assert plot.sceneBoundingRect().contains(label.item.sceneBoundingRect()), (plot.titleLabel.text, label.text)
    axes = {round(plot.vb.sceneBoundingRect().bottom()) for plot in live.plots.ci.items}
    assert len(axes) == 1, axes  # the x axes of the row line up, whatever each legend's lines


@pytest.mark.parametrize("kind", ["adversarial", "reconstruction", "language_model", "regression", "classification"])
def test_a_run_recorded_before_kinds_were_named_is_recognised_from_its_events(tmp_path, kind):
    recorded(kind, tmp_path)  # writes the PNGs
    lines = [started(None)] + [e for n in (1, 2) for e in epoch_events(kind, tmp_path, n)]
    (tmp_path / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines))
    record = RunRecord.from_file(tmp_path / "events.jsonl")
    assert record.task_kind is None and kind_of(record) == kind


def test_selecting_a_past_gan_run_shows_its_grids_from_disk(qtbot, window):
    training = window.training
    run_dir = training.store.resolve() / "gan-20260101-000000"
    lines = [started("adversarial")] + [e for n in (1, 2, 3) for e in epoch_events("adversarial", run_dir, n)]
    lines.append({"type": "status", "state": "finished", "reason": None, "message": "finished 3 epochs"})
    (run_dir / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines))
    training.runs_panel.refresh()
    training.runs_panel.select(run_dir)
    live = training.live
    live.redraw()
    assert isinstance(live.kind_panel, GanPanel) and live.kind_panel.strip.count() == 3
    assert live.kind_panel.grid.path == run_dir / "artifacts/samples-epoch0003.png"
    assert "judged by its samples" in training.results.summary.text()


TINY_LM = {  # a language model small enough to train an epoch in a second or two
    "nodes": [
        {"id": "input1", "type": "Input", "params": {"shape": [8], "dtype": "int64"}, "position": [0, 0]},
        {"id": "emb1", "type": "Embedding", "params": {"num_embeddings": 61, "embedding_dim": 16},
         "position": [200, 0]},
        {"id": "fc1", "type": "Linear", "params": {"out_features": 61}, "position": [400, 0]},
        {"id": "output1", "type": "Output", "params": {}, "position": [600, 0]},
        {"id": "target1", "type": "Target", "params": {"shape": [8], "dtype": "int64"}, "position": [400, 200]},
        {"id": "loss1", "type": "CrossEntropyLoss", "params": {}, "position": [600, 200]}],
    "edges": [{"from": "input1.out", "to": "emb1.in"}, {"from": "emb1.out", "to": "fc1.in"},
              {"from": "fc1.out", "to": "output1.in"}, {"from": "fc1.out", "to": "loss1.pred"},
              {"from": "target1.out", "to": "loss1.target"}],
    "training": {"dataset": {"name": "text", "block_size": 8, "stride": 8, "val_split": 0.1},
                 "optimizer": {"name": "adam", "lr": 0.01}, "epochs": 1, "batch_size": 256, "seed": 0,
                 "device": "cpu"},
}


def train_text_model(qtbot, window, tmp_path, name: str, graph_fields: dict):
    """The text transformer template with `graph_fields` (nodes, edges, training) in place, trained to its end
    through the window's real worker; returns the window's training controller."""
    from app.templates import EXAMPLES

    template = json.loads((EXAMPLES / "text_transformer.json").read_text())
    graph = tmp_path / "tiny_lm.json"
    graph.write_text(json.dumps({**template, "name": name, **graph_fields}))
    training = window.training
    assert window.files.new_from_template(graph)
    training.actions["train"].trigger()
    qtbot.waitUntil(lambda: training.record is not None and not training.running, timeout=120_000)
    qtbot.waitUntil(lambda: training.client.owner is None, timeout=30_000)
    assert training.record.state == "finished", training.record.message
    return training


@pytest.mark.slow
def test_generate_in_the_language_panel_writes_the_asked_length_with_the_worker(qtbot, window, tmp_path):
    training = train_text_model(qtbot, window, tmp_path, "Tiny LM", TINY_LM)
    assert training.record.task_kind == "language_model"  # named by the trainer's started event
    live = training.live
    live.redraw()
    panel = live.kind_panel
    assert isinstance(panel, LanguagePanel) and panel.epoch_text.toPlainText()
    panel.prompt.setText("The ")
    panel.tokens.setValue(40)
    qtbot.mouseClick(panel.generate, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.output.toPlainText() not in ("", "Writing…"), timeout=60_000)
    text = panel.output.toPlainText()
    vocab = set(json.loads((training.record.run_dir / "data.json").read_text())["raw"]["vocab"])
    assert text.startswith("The ") and len(text) == 4 + 40, text
    assert set(text) <= vocab


def test_try_it_plots_a_sequence_sample_one_curve_per_feature(qtbot):
    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.show()
    steps = [[t * 0.1 * (f + 1) for f in range(4)] for t in range(20)]  # (T=20, F=4)
    pixels = [float(v % 16) for v in range(64)]  # an 8×8 image
    panel.show_evaluation({"class_names": ["a", "b"], "confusion": [[1, 0], [0, 1]], "accuracy": 1.0,
                           "samples": [{"x": [v for row in steps for v in row], "shape": [20, 4], "label": 1,
                                        "top": [[1, 0.9], [0, 0.1]]},
                                       {"x": pixels, "shape": [1, 8, 8], "label": 0, "top": [[0, 0.8]]}]})
    assert panel.sequence.isVisible() and not panel.image.isVisible()
    curves = panel.sequence.getPlotItem().listDataItems()
    assert len(curves) == 4
    assert [list(c.yData) for c in curves] == [[row[f] for row in steps] for f in range(4)]
    assert "true: <b>b</b>" in panel.prediction.text()
    panel.picker.setValue(1)  # an image sample: drawn as an image, the plot hidden
    assert panel.image.isVisible() and not panel.sequence.isVisible()


def test_a_ten_class_confusion_matrix_fits_its_panel_in_a_1600_pixel_window(qtbot, window):
    window.resize(1600, 1000)
    training = window.training
    run_dir = training.store.resolve() / "digits-20260101-000000"
    digits = [str(d) for d in range(10)]
    counts = [[36 if t == p else 1000 * (t + p == 9) for p in range(10)] for t in range(10)]  # 4-digit counts too
    confusion = {"class_names": digits, "confusion": counts, "per_class_accuracy": [0.9] * 10,
                 "misclassified": [[[] for _ in digits] for _ in digits]}
    lines = [started("classification"), epoch(1, accuracy=0.5), data_artifact("confusion", 1, confusion),
             {"type": "status", "state": "finished", "reason": None, "message": "finished 1 epoch"}]
    run_dir.mkdir(parents=True)
    (run_dir / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines))
    training.runs_panel.refresh()
    training.runs_panel.select(run_dir)
    live = training.live
    live.redraw()
    qtbot.waitUntil(lambda: isinstance(live.kind_panel, ConfusionPanel) and live.kind_panel.matrix.rowCount() == 10)
    training.live_dock.raise_()  # the Live view tab, as during a run
    matrix = live.kind_panel.matrix
    qtbot.waitUntil(lambda: live.kind_panel.width() > 300)
    assert matrix.horizontalScrollBar().maximum() == 0  # nothing to scroll to: every column is in view
    right = matrix.columnViewportPosition(9) + matrix.columnWidth(9)
    assert 0 < right <= matrix.viewport().width()
    assert matrix.verticalScrollBar().maximum() == 0  # and every row
    cell = matrix.visualItemRect(matrix.item(0, 9))  # a count of 1000 is not cut short
    assert cell.width() >= matrix.fontMetrics().horizontalAdvance("1000")
    assert [matrix.horizontalHeaderItem(j).text() for j in range(10)] == digits




def _stop_the_run(qtbot, training) -> None:
    """Stop the run in progress (also when a test failed midway: the next test needs the worker)."""
    if training.running:
        training.actions["stop"].trigger()
    qtbot.waitUntil(lambda: not training.running and training.client.owner is None, timeout=60_000)


@pytest.mark.slow
def test_generate_while_the_language_model_trains_writes_with_its_newest_checkpoint(qtbot, window, tmp_path):
    from app.templates import EXAMPLES

    template = json.loads((EXAMPLES / "text_transformer.json").read_text())
    graph = tmp_path / "tiny_lm.json"
    graph.write_text(json.dumps({**template, "name": "Tiny LM", **TINY_LM}))
    training = window.training
    assert window.files.new_from_template(graph)
    training.epochs_override = 500  # it trains all along this test: stopped at its end
    training.actions["train"].trigger()
    try:
        qtbot.waitUntil(lambda: training.record is not None and training.record.state == "running", timeout=120_000)
        live = training.live
        live.redraw()
        panel = live.kind_panel
        assert isinstance(panel, LanguagePanel)
        if not training.record.checkpoints:  # pressed before the first epoch ends: it says why, asks nothing
            qtbot.mouseClick(panel.generate, Qt.MouseButton.LeftButton)
            assert training.record.checkpoints or "No checkpoint yet" in panel.output.toPlainText()
        qtbot.waitUntil(lambda: "last" in training.record.checkpoints, timeout=60_000)
        live.redraw()
        panel.prompt.setText("The ")
        panel.tokens.setValue(20)
        qtbot.mouseClick(panel.generate, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: panel.output.toPlainText() not in ("", "Writing…"), timeout=60_000)
        assert training.running, "the answer came only after the run ended"
        text = panel.output.toPlainText()
        assert text.startswith("The ") and len(text) == 4 + 20, text
        assert "Written with the last checkpoint of epoch" in panel.note.text()
    finally:
        _stop_the_run(qtbot, training)
    assert training.record.state == "stopped"


@pytest.mark.slow
def test_the_live_confusion_matrix_follows_every_epoch_of_a_long_run(qtbot, window):
    from app.templates import EXAMPLES

    training = window.training
    assert window.files.new_from_template(EXAMPLES / "digits_mlp.json")
    training.epochs_override = 500  # a long run: before, its matrix showed epoch 1 until 30 s had passed
    training.actions["train"].trigger()
    try:
        qtbot.waitUntil(lambda: training.record is not None and len(training.record.epochs) >= 22, timeout=120_000)
    finally:
        _stop_the_run(qtbot, training)
    record, live = training.record, training.live
    live.redraw()
    last = record.epochs[-1]
    panel = live.kind_panel
    assert isinstance(panel, ConfusionPanel)
    assert f"epoch {last['epoch']} ·" in panel.heading.text()
    assert [e["epoch"] for e in record.artifacts if e["tag"] == "confusion"] == [e["epoch"] for e in record.epochs]
    assert f"{last['val_accuracy']:.1%} of 360 validation samples" in panel.heading.text()  # the whole split
    assert sum(int(panel.matrix.item(i, j).text()) for i in range(10) for j in range(10)) == 360
