"""The inspector's "Set classes from dataset" for a classifier's head: shown for the layer the class loss
scores once the dataset is known, one undoable edit, disabled when the head already fits."""

from app.templates import EXAMPLES

DIGITS = {"name": "digits", "input_shape": [1, 8, 8], "input_dtype": "float32", "task": "classification",
          "num_classes": 10}


def test_set_classes_from_dataset_replaces_the_head_in_one_undoable_edit(window):
    assert window.files.new_from_template(EXAMPLES / "digits_cnn.json")
    window.doc.set_param("fc1", "out_features", 1000)  # as an imported head for another dataset's classes comes
    window.training._dataset_known(DIGITS)  # as when the worker describes the graph's dataset
    head = window.inspector.head
    window.scene.select_nodes(["fc1"])
    assert head.isVisibleTo(window.inspector) and head.button.isEnabled()
    assert head.button.text() == "Set classes from dataset (10)"

    head.button.click()
    assert window.doc.nodes["fc1"].params["out_features"] == 10
    assert not head.button.isEnabled()  # it fits now
    assert window.inspector.widgets["out_features"].value() == 10
    window.editor.stack.undo()
    assert window.doc.nodes["fc1"].params["out_features"] == 1000 and head.button.isEnabled()


def test_no_button_for_other_nodes_or_before_the_dataset_is_known(window):
    assert window.files.new_from_template(EXAMPLES / "digits_cnn.json")
    window.training._dataset_known(None)
    window.scene.select_nodes(["fc1"])
    assert not window.inspector.head.isVisibleTo(window.inspector)
    window.training._dataset_known(DIGITS)
    assert window.inspector.head.isVisibleTo(window.inspector)
    window.scene.select_nodes(["conv1"])
    assert not window.inspector.head.isVisibleTo(window.inspector)
