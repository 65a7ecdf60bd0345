"""The live view on recorded runs: layer order from the worker's message to the heatmap rows, run
comparison, smoothing, log scale and per-layer curves chosen in the layer list."""

from __future__ import annotations

import math

import pytest
from PySide6.QtCore import QPoint, Qt

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
