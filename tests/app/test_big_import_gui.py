"""A big imported model opens as a short graph of collapsed blocks, and each level is laid out when it is
opened: the window never builds or lays out the hundreds of layers inside until asked."""

import sys
from pathlib import Path

import torch
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from app.blocks.instance_item import InstanceItem
from engine.fileformat import save_document
from engine.layout import piled_up
from engine.onnx_import.grouping import group_repeats

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from grouping_models import SmallEncoder, residual_chain  # noqa: E402
from test_onnx_coverage import export  # noqa: E402


def open_block(window, node_id) -> None:
    item = window.scene.items_by_id[node_id]
    point = window.view.mapFromScene(item.sceneBoundingRect().center())
    QTest.mouseDClick(window.view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)


def test_an_imported_encoder_opens_as_one_collapsed_layer_times_four(window, tmp_path):
    torch.manual_seed(0)
    export(SmallEncoder().eval(), torch.randn(2, 6, 8), tmp_path / "encoder.onnx", "torchscript")
    assert window.import_onnx(str(tmp_path / "encoder.onnx"))
    [(layer, item)] = [(n, i) for n, i in window.scene.items_by_id.items() if isinstance(i, InstanceItem)]
    assert len(window.scene.items_by_id) == 6 and item.badge == "×4"
    assert window.scene.validate_now().ok
    window.view.centerOn(item)
    open_block(window, layer)
    assert window.scene.path == [layer] and not piled_up(window.editor.doc)


def test_a_900_layer_graph_opens_collapsed_and_a_piled_block_is_laid_out_when_opened(window, tmp_path):
    doc = residual_chain(180, widths=(32, 40, 48))
    group_repeats(doc, {})
    [definition] = doc.blocks.values()
    for node in definition.nodes.values():  # a definition written without positions
        node.position = (0.0, 0.0)
    save_document(doc, tmp_path / "big.json")
    assert window.files.open(tmp_path / "big.json")
    assert len(window.scene.items_by_id) == 182  # 180 collapsed blocks, not 900 layers
    report = window.scene.validate_now()
    assert report.ok and len(report.expansion.flat.nodes) > 900
    first = next(n for n, i in window.scene.items_by_id.items() if isinstance(i, InstanceItem))
    window.view.centerOn(window.scene.items_by_id[first])
    open_block(window, first)
    assert window.scene.scope() == definition.name and not piled_up(window.editor.doc)
    assert not window.editor.stack.count()  # laid out as part of opening it: no undo step
