"""The inspector's "Set classes from dataset": which node is a classifier's head, and the edit fitting it."""

from train_harness import iris_mlp

from engine.data_fit import SetParam, data_checks, head_classes
from engine.document import Edge
from engine.validate import validate

IRIS = {"name": "iris", "input_shape": [4], "input_dtype": "float32", "task": "classification", "num_classes": 3}


def test_the_layer_a_class_loss_scores_is_the_head_and_gets_the_class_count():
    doc = iris_mlp()
    doc.set_param("fc2", "out_features", 1000)  # an imported ImageNet head
    fix = head_classes(doc, "fc2", IRIS)
    assert fix == SetParam("fc2", "out_features", 3)
    doc.set_param(*fix)
    assert data_checks(doc, validate(doc), IRIS) == []
    assert head_classes(doc, "fc2", {**IRIS, "num_classes": 7}) == ("fc2", "out_features", 7)


def test_other_nodes_and_other_datasets_have_no_head_edit():
    doc = iris_mlp()
    assert [n for n in doc.nodes if head_classes(doc, n, IRIS)] == ["fc2"]  # fc1 feeds a ReLU, not the loss
    assert head_classes(doc, None, IRIS) is None and head_classes(doc, "gone", IRIS) is None
    assert head_classes(doc, "fc2", None) is None
    regression = {**IRIS, "task": "regression", "num_classes": None}
    assert head_classes(doc, "fc2", regression) is None


def test_a_head_no_longer_wired_to_the_loss_is_not_one():
    doc = iris_mlp()
    doc.remove_edge(Edge("fc2", "out", "loss1", "pred"))
    doc.add_edge(Edge("fc1", "out", "loss1", "pred"))
    assert head_classes(doc, "fc2", IRIS) is None
    assert head_classes(doc, "fc1", IRIS) == ("fc1", "out_features", 3)
