"""The "Fine-tune a small ResNet" template starts from the backbone a Layerloom run pretrained
(resources/weights, written by bench/finetune.py): its `layerloom:` path is read from the resources folder
wherever the graph is saved, the backbone stays as shipped, and a fresh head learns."""

from __future__ import annotations

import pytest
import torch
from train_harness import EXAMPLES, of_type, run

from engine.errors import WeightsError
from engine.export.weights import read_weights
from engine.fileformat import load_document, save_document
from engine.train.init_weights import RESOURCES, init_weights_path

TEMPLATE = EXAMPLES / "finetune_digits.json"


def test_a_layerloom_path_is_read_from_the_resources_folder_wherever_the_graph_is(tmp_path):
    shipped = RESOURCES / "weights" / "digits_resnet_backbone.safetensors"
    for base_dir in (None, tmp_path, EXAMPLES):
        assert init_weights_path("layerloom:weights/digits_resnet_backbone.safetensors", base_dir) == shipped
    assert init_weights_path("weights/mine.safetensors", tmp_path) == tmp_path / "weights" / "mine.safetensors"
    with pytest.raises(WeightsError, match="leads out of Layerloom's resources folder"):
        init_weights_path("layerloom:../../secret.safetensors", None)


def test_the_template_saved_elsewhere_trains_its_head_on_the_shipped_frozen_backbone(tmp_path):
    doc = load_document(TEMPLATE)
    saved = tmp_path / "elsewhere" / "my_finetune.json"
    saved.parent.mkdir()
    save_document(doc, saved)  # as File → Save As does: the graph's folder is no longer resources/examples
    doc = load_document(saved)
    doc.training.update({"epochs": 1, "device": "cpu", "dataset": {"name": "digits", "val_split": 0.85}})
    result, events = run(doc, tmp_path / "run", base_dir=saved.parent)
    assert result.state == "finished", result.message

    shipped = read_weights(init_weights_path(doc.training["init_weights"], saved.parent))
    after = read_weights(tmp_path / "run" / "last.safetensors")
    backbone = [key for key in shipped if key.split(".")[0] in doc.training["frozen"]]
    assert backbone and len(backbone) == len(shipped)  # the file holds the backbone, every tensor of it frozen
    for key in backbone:
        assert torch.equal(after[key], shipped[key]), key
    warnings = " ".join(e["message"] for e in of_type(events, "warning"))
    assert "holds no weights for 2 tensors" in warnings and "head.weight" in warnings  # the head starts fresh


def test_the_template_says_how_to_point_it_at_your_own_image_folder():
    description = load_document(TEMPLATE).description
    assert "image_folder" in description and "path" in description and "grayscale" in description
