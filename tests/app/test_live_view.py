"""The live view on recorded runs: layer order from the worker's message to the heatmap rows, run
comparison, smoothing, log scale and per-layer curves chosen in the layer list."""

from __future__ import annotations

import math

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QImage, QPainter

from app.theme import LIGHT
from app.training.client import TrainingClient
from app.training.heatmap import GradientHeatmap
from app.training.live_view import SMOOTHING, LiveView
from app.training.runs import RunRecord, smooth

GRAPH_ORDER = ["conv1", "bn1", "conv2", "bn2", "fc1"]  # the digits CNN's layers, input to output


def _step(step: int, loss: float = 1.0) -> dict:
    return {"type": "step", "step": step, "epoch": 1, "loss": loss, "lr": 0.1, "grad_norm": 1.0,
            "layer_grad_norms": {node_id: 10.0 ** -i for i, node_id in enumerate(GRAPH_ORDER)},
            "samples_per_s": 100.0}


def test_a_worker_message_reaches_the_gui_with_its_key_order(qapp):
    client, received = TrainingClient(), []
    client.message.connect(received.append)
    client.message.emit(_step(1))
    assert list(received[0]["layer_grad_norms"]) == GRAPH_ORDER


def test_heatmap_rows_and_layer_list_follow_graph_order_first_layer_on_top(qtbot):
    heatmap = GradientHeatmap()
    qtbot.addWidget(heatmap)
    record = RunRecord("run")
    for step in (1, 2, 3):
        record.add(_step(step))
    heatmap.update_from(record)
    listed = [heatmap.layers.item(i).text() for i in range(heatmap.layers.count())]
    assert listed == GRAPH_ORDER
    ticks = heatmap.plot.getAxis("left")._tickLevels[0]
    assert [name for _, name in sorted(ticks)] == GRAPH_ORDER  # row 0 = conv1 ...
    assert heatmap.plot.getViewBox().yInverted()  # ... drawn at the top
    assert heatmap.image.image[:, 0].tolist() == [-float(i) for i in range(len(GRAPH_ORDER))]  # log10 per row


def _run(name: str, losses: list[float]) -> RunRecord:
    record = RunRecord(name)
    for step, loss in enumerate(losses, start=1):
        record.add(_step(step, loss))
    return record


@pytest.fixture
def live(qtbot):
    view = LiveView()
    qtbot.addWidget(view)
    view.show()
    return view


def _click_box(qtbot, box) -> None:
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))


def _points(curve) -> int:
    return 0 if curve.yData is None else len(curve.yData)


def test_earlier_runs_overlay_the_loss_plot_when_chosen(live):
    earlier, other, current = (_run("run-a", [3.0, 2.0, 1.5, 1.0]), _run("run-c", [5.0, 4.0]),
                               _run("run-b", [2.0, 1.0, 0.5]))
    live.show_run(current)
    live.set_overlays([earlier, other])
    first, second = live.overlay_curves
    assert list(first.xData) == [1, 2, 3, 4] and list(second.xData) == [1, 2]
    assert list(first.yData) == pytest.approx(smooth(earlier.loss, SMOOTHING))
    assert first.name() == "run-a" and first.opts["pen"].style() == Qt.PenStyle.DashLine
    live.set_overlays([])
    assert live.overlay_curves == [] and all(c not in live.loss_plot.items for c in (first, second))
    live.set_overlays([earlier])
    live.clear()  # another graph opened: nothing of this one's runs remains
    assert live.record is None and live.overlay_curves == [] and _points(live.curves["loss"]) == 0


def test_smoothing_and_log_scale_checkboxes(qtbot, live):
    record = _run("run", [4.0, 1.0, 3.0, 0.5])
    live.show_run(record)
    assert list(live.curves["loss"].yData) == pytest.approx(smooth(record.loss, SMOOTHING))
    _click_box(qtbot, live.smoothing)
    assert not live.smoothing.isChecked()
    assert list(live.curves["loss"].yData) == record.loss  # raw
    _click_box(qtbot, live.log_scale)
    assert live.curves["loss"].opts["logMode"] == [False, True]
    shown = live.curves["loss"].getData()[1]  # what is drawn: log10 of the loss
    assert list(shown) == pytest.approx([math.log10(v) for v in record.loss])


def test_ticking_a_layer_draws_its_own_gradient_curve(live):
    record = _run("run", [1.0, 0.9, 0.8])
    live.show_run(record)
    live.redraw()
    item = live.heatmap.layers.item(GRAPH_ORDER.index("conv2"))
    item.setCheckState(Qt.CheckState.Checked)
    assert list(live.layer_curves) == ["conv2"]
    assert list(live.layer_curves["conv2"].yData) == [10.0 ** -2] * 3
    item.setCheckState(Qt.CheckState.Unchecked)
    assert live.layer_curves == {}


def test_log_axes_label_only_1_2_5_ticks_so_labels_never_overprint(live):
    axis = live.grad_plot.getAxis("left")
    assert axis.logMode  # the gradient-norm plot is log-scaled from the start
    low, high = math.log10(0.15), math.log10(3.0)
    ticks = sorted(round(10 ** v, 6) for _, values in axis.tickValues(low, high, 100) for v in values)
    assert ticks == [0.2, 0.5, 1.0, 2.0]
    assert live.loss_plot.getAxis("left").tickValues(0.0, 1.0, 100)  # linear until "Log loss" is ticked


def _long_run(steps: int) -> RunRecord:
    record = RunRecord("long")
    record.add({"type": "started", "config": {"epochs": steps // 100}, "dataset": "digits", "params": 10,
                "device": "cpu", "world_size": 1, "resumed_step": 0, "steps_per_epoch": 100,
                "task_kind": "classification"})
    for step in range(1, steps + 1, 10):
        record.add(_step(step, loss=2.0 / step ** 0.5))
    for epoch in range(1, steps // 100 + 1):
        record.add({"type": "epoch", "epoch": epoch, "train_loss": 1.0 / epoch, "val_loss": 1.1 / epoch,
                    "train_accuracy": 0.9, "val_accuracy": 0.8, "lr": 0.1, "seconds": 1.0})
    return record


def _shown_plots(live: LiveView) -> list:
    return list(live.plots.ci.items)


@pytest.mark.parametrize("width", [800, 1100])
def test_legends_sit_under_the_plots_never_over_their_curves(qtbot, live, width):
    live.resize(width, 420)
    live.show_run(_long_run(1800))
    live.set_overlays([_run("Digits-MLP-20261207-045407", [3.0, 2.0, 1.0])])  # an earlier run, named as runs are
    live.redraw()
    qtbot.wait(50)  # the plots' layout settles
    for plot in _shown_plots(live):
        legend = plot.legend
        assert legend.items, plot.titleLabel.text
        plotted = plot.vb.sceneBoundingRect()
        assert not legend.sceneBoundingRect().intersects(plotted), plot.titleLabel.text
        assert legend.sceneBoundingRect().top() >= plot.getAxis("bottom").sceneBoundingRect().bottom() - 1
        for _, label in legend.items:  # every entry's text within its plot: none runs into the next plot
            text = label.item.sceneBoundingRect()
            assert plot.sceneBoundingRect().contains(text), (plot.titleLabel.text, label.text)
    names = [label.text for _, label in live.loss_plot.legend.items]
    assert names[:2] == ["train", "val"]
    live.apply_theme(LIGHT)  # every entry takes the theme's text colour, those shown before too
    for plot in _shown_plots(live):
        for _, label in plot.legend.items:
            assert QColor(LIGHT.text).name() in label.item.toHtml(), (plot.titleLabel.text, label.text)
    earlier = live.loss_plot.legend.items[2][1]
    assert earlier.text == "Digits-MLP-20261207-045407" or "…" in earlier.text  # shortened where it cannot fit
    assert earlier.toolTip() in ("", "Digits-MLP-20261207-045407")


def _tick_labels(axis) -> list[tuple]:
    """(rect, text) of the tick labels the axis draws, left to right."""
    image = QImage(4, 4, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        _, _, texts = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    return sorted(((rect, text) for rect, _, text in texts), key=lambda entry: entry[0].left())


@pytest.mark.parametrize(("width", "steps"), [(800, 1800), (1100, 7000), (1600, 120_000)])
def test_ticks_are_short_and_never_run_together_in_narrow_plots(qtbot, live, width, steps):
    live.resize(width, 420)
    live.show_run(_long_run(steps))
    live.redraw()
    qtbot.wait(50)
    for plot in [*_shown_plots(live), live.heatmap.plot.getPlotItem()]:
        axis = plot.getAxis("bottom")
        labels = _tick_labels(axis)
        assert len(labels) >= (1 if axis.width() < 100 else 2), plot.titleLabel.text  # a scale to read
        for (left, _), (right, _) in zip(labels, labels[1:], strict=False):
            assert right.left() - left.right() >= 8, (plot.titleLabel.text, [text for _, text in labels])
        for _, text in labels:
            assert len(text) <= 4 and (text[-1] in "kM" or float(text) < 1000), text  # 1.5k, not 1500
    for plot in _shown_plots(live):  # and the y labels of these short plots never touch either
        labels = sorted(_tick_labels(plot.getAxis("left")), key=lambda entry: entry[0].top())
        for (upper, _), (lower, _) in zip(labels, labels[1:], strict=False):
            assert lower.top() - upper.bottom() >= 2, (plot.titleLabel.text, [text for _, text in labels])


def test_an_ended_run_shows_its_mean_throughput_not_its_last_step_events(live):
    record = RunRecord("run")
    for step, rate in enumerate([1600.0, 8700.0, 5200.0], start=1):
        record.add({**_step(step), "samples_per_s": rate, "mean_samples_per_s": 5000.0})
    record.add({**_step(4), "samples_per_s": 177.0, "mean_samples_per_s": 5123.4})  # a window that held validation
    record.add({"type": "status", "state": "finished", "reason": None, "message": "finished 1 epoch"})
    live.show_run(record)
    assert "mean 5,123 samples/s" in live.progress.format() and "177" not in live.progress.format()
    older = _run("older", [1.0, 0.8, 0.6])  # step events without a mean (recorded before it existed)
    older.samples_per_s = [1600.0, 8700.0, 177.0]
    older.add({"type": "status", "state": "stopped", "reason": "request", "message": "stopped"})
    live.show_run(older)
    assert "mean 1,600 samples/s" in live.progress.format()  # the median: never the validation window's 177
