"""The training settings form: each field edits the document's training section, undoably, and
settings that only apply to some choices are enabled only for those."""

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from app.templates import EXAMPLES


@pytest.fixture
def panel(window):
    assert window.files.new_from_template(EXAMPLES / "digits_mlp.json")
    return window.training.settings_panel


def _type_number(qtbot, spin, text: str) -> None:
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin.lineEdit(), text)
    QTest.keyClick(spin.lineEdit(), Qt.Key.Key_Return)


def test_sgd_momentum_and_nesterov_apply_to_sgd_only(qtbot, window, panel):
    momentum, nesterov = panel.widgets["optimizer.momentum"], panel.widgets["optimizer.nesterov"]
    assert window.doc.training["optimizer"]["name"] == "adam"
    assert not momentum.isEnabled() and not nesterov.isEnabled()
    panel.widgets["optimizer.name"].setCurrentText("sgd")
    assert momentum.isEnabled() and nesterov.isEnabled()
    assert momentum.value() == pytest.approx(0.9)  # the trainer's default, shown before it is set
    _type_number(qtbot, momentum, "0.5")
    qtbot.mouseClick(nesterov, Qt.MouseButton.LeftButton, pos=QPoint(8, nesterov.height() // 2))  # the box
    assert window.doc.training["optimizer"] == {"name": "sgd", "lr": 0.003, "momentum": 0.5, "nesterov": True}
    window.editor.stack.undo()
    assert "nesterov" not in window.doc.training["optimizer"] and not nesterov.isChecked()


def test_warmup_applies_to_warmup_schedules(window, panel):
    warmup = panel.widgets["schedule.warmup_epochs"]
    panel.widgets["schedule.name"].setCurrentText("cosine")
    assert not warmup.isEnabled()
    panel.widgets["schedule.name"].setCurrentText("warmup_cosine")
    assert warmup.isEnabled()
    warmup.setValue(2.5)
    assert window.doc.training["schedule"] == {"name": "warmup_cosine", "warmup_epochs": 2.5}


def test_validation_split_and_seed_edit_the_document_and_reset_with_a_new_graph(qtbot, window, panel):
    split, seed = panel.widgets["dataset.val_split"], panel.widgets["seed"]
    assert split.value() == pytest.approx(0.2)
    _type_number(qtbot, split, "0.3")
    _type_number(qtbot, seed, "7")
    assert window.doc.training["dataset"]["val_split"] == pytest.approx(0.3)
    assert window.doc.training["seed"] == 7
    window.editor.stack.setClean()
    assert window.files.new_from_template(EXAMPLES / "sequence_lstm.json")  # no val_split in that file
    assert panel.dataset.currentData() == "sequence"
    assert split.value() == pytest.approx(0.2) and seed.value() == window.doc.training.get("seed", 0)


def test_csv_label_and_feature_columns_are_typed_and_cleared_back_to_the_defaults(qtbot, window, panel):
    label, features = panel.widgets["dataset.label"], panel.widgets["dataset.features"]
    assert not label.isEnabled() and not features.isEnabled()  # digits: no columns to choose
    panel.dataset.setCurrentIndex(panel.dataset.findData("csv"))
    assert label.isEnabled() and features.isEnabled()
    assert label.placeholderText() == "last column"
    qtbot.keyClicks(label, "species")
    QTest.keyClick(label, Qt.Key.Key_Return)
    qtbot.keyClicks(features, "petal_length,  petal_width")
    QTest.keyClick(features, Qt.Key.Key_Return)
    dataset = window.doc.training["dataset"]
    assert dataset["label"] == "species" and dataset["features"] == ["petal_length", "petal_width"]
    label.selectAll()
    QTest.keyClick(label, Qt.Key.Key_Delete)
    QTest.keyClick(label, Qt.Key.Key_Return)
    assert "label" not in window.doc.training["dataset"]  # empty: the loader's default again
    window.editor.stack.undo()
    assert window.doc.training["dataset"]["label"] == "species" and label.text() == "species"


def test_a_benchmark_set_is_listed_and_takes_an_optional_folder(window, panel):
    assert not panel.path_row.isEnabled()  # digits: no file
    panel.dataset.setCurrentIndex(panel.dataset.findData("cifar10"))
    assert window.doc.training["dataset"]["name"] == "cifar10" and "path" not in window.doc.training["dataset"]
    assert panel.path_row.isEnabled()  # a folder holding the files, else the download into the user data folder
    assert "CIFAR-10" in panel.dataset.itemData(panel.dataset.currentIndex(), Qt.ItemDataRole.ToolTipRole)


def _type_text(qtbot, field, text: str) -> None:
    field.clear()
    qtbot.keyClicks(field, text)
    QTest.keyClick(field, Qt.Key.Key_Return)


def test_fine_tuning_settings_are_rows_bound_both_ways_with_the_canvas_menu(qtbot, window, panel):
    frozen, factors = panel.widgets["frozen"], panel.widgets["lr_scale"]
    weights = panel.widgets["init_weights"]
    assert frozen.text() == "" and factors.text() == "" and weights.text() == ""
    window.editor.set_frozen(["fc1"], True)  # what the canvas menu's Freeze does: the row follows
    assert frozen.text() == "fc1"
    _type_text(qtbot, frozen, "fc1, fc2")
    assert window.doc.training["frozen"] == ["fc1", "fc2"]
    _type_text(qtbot, factors, "fc2=0.1, fc1=10")
    assert window.doc.training["lr_scale"] == {"fc2": 0.1, "fc1": 10.0}
    _type_text(qtbot, factors, "fc2=fast")  # refused, said, the document unchanged
    assert window.doc.training["lr_scale"] == {"fc2": 0.1, "fc1": 10.0}
    assert "fc2=fast" in panel.problem.text()
    _type_text(qtbot, weights, "backbone.safetensors")
    assert window.doc.training["init_weights"] == "backbone.safetensors"
    _type_text(qtbot, weights, "")  # cleared: back to a random start, which the loader reads
    assert window.doc.training["init_weights"] == ""
    while window.doc.training.get("init_weights"):  # quick edits of one field merge into one undo step
        window.editor.stack.undo()
    while window.doc.training.get("lr_scale"):
        window.editor.stack.undo()
    assert factors.text() == "" and window.doc.training["frozen"] == ["fc1", "fc2"]
    window.editor.stack.undo()
    assert frozen.text() in ("", "fc1") and window.doc.training["frozen"] in ([], ["fc1"])
