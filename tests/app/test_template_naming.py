"""A graph made from a template is its own once saved: the file's name and a description naming the template,
down to the exported model's metadata and model card (issue 23: no churn model called "Tabular MLP")."""

from __future__ import annotations

import json

import onnx

from app.templates import EXAMPLES
from engine.fileformat import load_document

WORKER_MS = 90_000  # a cold worker on a busy 2-core machine imports torch slowly


def test_save_as_names_a_template_graph_after_its_file_down_to_the_export(qtbot, window, tmp_path):
    assert window.files.new_from_template(EXAMPLES / "tabular_mlp.json")
    assert window.doc.name == "Tabular MLP"
    assert window.files.save_as(tmp_path / "churn.json")
    saved = load_document(tmp_path / "churn.json")
    assert (saved.name, saved.description) == ("churn", "Started from the template 'Tabular MLP'.")
    assert window.windowTitle().startswith("churn.json")

    window.training.export()
    dialog = window.training.export_dialog
    dialog.onnx_path.setText(str(tmp_path / "export" / "churn.onnx"))
    dialog.export()
    qtbot.waitUntil(lambda: dialog.result is not None, timeout=WORKER_MS)
    assert dialog.result.get("passed") is True, dialog.result
    metadata = {p.key: p.value for p in onnx.load(str(tmp_path / "export" / "churn.onnx")).metadata_props}
    assert metadata["layerloom.graph"] == "churn"
    card = json.loads(next((tmp_path / "export").glob("*.json")).read_text(encoding="utf-8"))
    assert card["model"] == "churn" and "Tabular MLP" in card["description"]
    assert "tumour" not in card["description"]  # the template's own text is gone
    dialog.close()


def test_the_naming_is_one_undo_step_and_a_second_save_keeps_the_users_words(window, tmp_path):
    assert window.files.new_from_template(EXAMPLES / "digits_mlp.json")
    assert window.files.save_as(tmp_path / "first.json")
    window.editor.stack.undo()
    assert (window.doc.name, window.doc.description) == (
        "Digits MLP", "A two-layer perceptron for scikit-learn's 8×8 handwritten digits (10 classes).")
    window.editor.stack.redo()
    window.editor.rename_graph("My digits")
    assert window.files.save_as(tmp_path / "second.json")  # a name the user chose is kept
    assert (window.doc.name, window.doc.description) == ("My digits", "Started from the template 'Digits MLP'.")


def test_a_graph_opened_from_a_file_keeps_its_description(window, tmp_path):
    assert window.files.open(EXAMPLES / "digits_mlp.json")  # the example itself, not a new graph from it
    description = window.doc.description
    assert window.files.save_as(tmp_path / "copy.json")
    assert window.doc.description == description
