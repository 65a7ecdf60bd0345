"""A Hugging Face dataset chosen in the settings dock as a user would: its own fields (hub, split, image and text
columns) are enabled for it alone, typed into the document, and a saved image dataset is previewed by the real
worker in the Dataset tab with its ClassLabel names."""

import os

os.environ["HF_DATASETS_OFFLINE"] = "1"  # the worker inherits it: nothing here may reach the network

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QDockWidget  # noqa: E402

from app.templates import EXAMPLES  # noqa: E402

WORKER_MS = 90_000
HF_FIELDS = ("dataset.hub", "dataset.config", "dataset.split", "dataset.image", "dataset.text")


def _type(qtbot, field, text: str) -> None:
    field.clear()
    qtbot.keyClicks(field, text)
    QTest.keyClick(field, Qt.Key.Key_Return)


def test_the_hf_fields_apply_to_the_hf_source_only_and_edit_the_document(qtbot, window):
    assert window.files.new_from_template(EXAMPLES / "digits_mlp.json")
    panel = window.training.settings_panel
    assert not any(panel.widgets[f].isEnabled() for f in HF_FIELDS) and not panel.path_row.isEnabled()
    panel.dataset.setCurrentIndex(panel.dataset.findData("hf_dataset"))
    assert window.doc.training["dataset"]["name"] == "hf_dataset"
    assert all(panel.widgets[f].isEnabled() for f in HF_FIELDS) and panel.path_row.isEnabled()
    for shared in ("dataset.label", "dataset.features", "dataset.image_size", "dataset.grayscale", "dataset.tokenizer"):
        assert panel.widgets[shared].isEnabled(), shared  # a table, images or text: the settings of each
    assert "name a hub dataset" in panel.preview.text()
    _type(qtbot, panel.widgets["dataset.hub"], "owner/reviews")
    _type(qtbot, panel.widgets["dataset.split"], "test")
    _type(qtbot, panel.widgets["dataset.text"], "review")
    dataset = window.doc.training["dataset"]
    assert (dataset["hub"], dataset["split"], dataset["text"]) == ("owner/reviews", "test", "review")
    window.editor.stack.undo()
    assert "text" not in window.doc.training["dataset"] and panel.widgets["dataset.text"].text() == ""
    panel.dataset.setCurrentIndex(panel.dataset.findData("csv"))
    assert not any(panel.widgets[f].isEnabled() for f in HF_FIELDS)


@pytest.mark.slow
def test_a_saved_image_dataset_is_previewed_with_its_class_names(qtbot, window, tmp_path):
    hf = pytest.importorskip("datasets")
    from PIL import Image

    names = ["circle", "square", "bar"]
    images = [Image.fromarray(np.full((6, 6, 3), 10 * i, np.uint8)) for i in range(24)]
    hf.Dataset.from_dict({"photo": images, "shape": [i % 3 for i in range(24)]},
                         features=hf.Features({"photo": hf.Image(), "shape": hf.ClassLabel(names=names)})
                         ).save_to_disk(str(tmp_path / "shapes"))
    assert window.files.new_from_template(EXAMPLES / "digits_mlp.json")
    window.findChild(QDockWidget, "Dataset").raise_()
    panel, view = window.training.settings_panel, window.dataset_view
    panel.dataset.setCurrentIndex(panel.dataset.findData("hf_dataset"))
    _type(qtbot, panel.path, str(tmp_path / "shapes"))
    _type(qtbot, panel.widgets["dataset.image"], "photo")
    qtbot.waitUntil(lambda: view.summary is not None and view.summary.get("classes") is not None
                    and view.summary["name"] == "hf_dataset", timeout=WORKER_MS)
    assert view.summary["classes"]["names"] == names and view.summary["input_shape"] == [3, 32, 32]
    assert any("resized 24 of 24 images to 32×32" in note for note in view.summary["notes"])
    qtbot.waitUntil(lambda: "hf_dataset" in panel.preview.text(), timeout=WORKER_MS)
    assert "circle, square, bar" in panel.preview.text()
