"""The live view keeps layers in graph order from the worker's message to the heatmap rows."""

from __future__ import annotations

from app.training.client import TrainingClient
from app.training.heatmap import GradientHeatmap
from app.training.runs import RunRecord

GRAPH_ORDER = ["conv1", "bn1", "conv2", "bn2", "fc1"]  # the digits CNN's layers, input to output


def _step(step: int) -> dict:
    return {"type": "step", "step": step, "epoch": 1, "loss": 1.0, "lr": 0.1, "grad_norm": 1.0,
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
