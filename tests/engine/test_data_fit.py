"""Graph vs dataset checks made while editing: Input shape/dtype, class count and a missing Output, each
with its fix."""

from train_harness import iris_mlp

from engine.data_fit import AddOutput, ReplaceNode, data_checks
from engine.data_fixes import apply_fix
from engine.document import Edge
from engine.validate import validate

IRIS = {"name": "iris", "input_shape": [4], "input_dtype": "float32", "task": "classification", "num_classes": 3}


def apply(doc, check) -> None:
    node, param, value = check.fix
    doc.set_param(node, param, value)


def test_a_fitting_graph_has_no_checks():
    doc = iris_mlp()
    assert data_checks(doc, validate(doc), IRIS) == []


def test_input_shape_and_dtype_mismatches_name_the_input_and_fix_it():
    doc = iris_mlp(input_shape=(1, 28, 28))
    doc.set_param("input1", "dtype", "int64")
    checks = data_checks(doc, validate(doc), IRIS)
    assert [c.fix for c in checks] == [("input1", "shape", [4]), ("input1", "dtype", "float32")]
    assert "dataset 'iris' gives (N, 4) float32, but input1 is (N, 1, 28, 28)" in checks[0].message
    assert checks[0].fix_text() == "set input1.shape to [4]"
    for check in checks:
        apply(doc, check)
    assert data_checks(doc, validate(doc), IRIS) == []


def test_class_count_mismatch_points_at_the_layer_feeding_the_loss():
    doc = iris_mlp()
    doc.set_param("fc2", "out_features", 10)
    (check,) = data_checks(doc, validate(doc), IRIS)
    assert check.node == "fc2" and check.fix == ("fc2", "out_features", 3)
    assert "3 classes" in check.message and "loss1 gets 10 scores" in check.message
    apply(doc, check)
    assert data_checks(doc, validate(doc), IRIS) == []


def test_regression_data_has_no_class_check():
    doc = iris_mlp()
    doc.set_param("fc2", "out_features", 10)
    assert data_checks(doc, validate(doc), {**IRIS, "task": "regression", "num_classes": None}) == []


def without_output():
    doc = iris_mlp()
    doc.remove_node("output1")
    return doc


def test_a_classifier_without_output_is_told_why_it_shows_no_accuracy_and_how_to_fix_it():
    doc = without_output()
    (check,) = data_checks(doc, validate(doc), IRIS)
    assert check.node == "loss1" and check.fix == AddOutput("fc2", "out")
    assert "no Output node" in check.message and "accuracy and the confusion matrix" in check.message
    assert check.fix_text() == "add an Output node wired to fc2.out"
    output = doc.add_node("Output")
    doc.add_edge(Edge("fc2", "out", output, "in"))
    assert data_checks(doc, validate(doc), IRIS) == []


def test_the_missing_output_hint_names_what_each_kind_of_run_would_show():
    doc = without_output()
    (check,) = data_checks(doc, validate(doc), {**IRIS, "task": "regression", "num_classes": None})
    assert "MAE" in check.message and check.fix == AddOutput("fc2", "out")
    doc.remove_node("target1")  # an autoencoder's loss compares with its input: a reconstruction run
    doc.add_edge(Edge("input1", "out", "loss1", "target"))
    (check,) = data_checks(doc, validate(doc), IRIS)
    assert "reconstructions" in check.message


def test_no_missing_output_hint_without_a_wired_loss_or_in_gan_mode():
    doc = without_output()
    doc.training["mode"] = "gan"
    assert data_checks(doc, validate(doc), IRIS) == []
    doc = without_output()
    doc.remove_node("loss1")
    assert data_checks(doc, validate(doc), IRIS) == []


HOUSES = {"name": "csv", "input_shape": [4], "input_dtype": "float32", "task": "regression", "num_classes": None,
          "target_shape": [1]}


def test_a_regression_wired_to_a_class_loss_names_the_loss_and_the_target_is_fixed_in_one_click():
    doc = iris_mlp()  # CrossEntropyLoss, Target () int64: what a classifier template gives
    checks = data_checks(doc, validate(doc), HOUSES)
    assert [c.node for c in checks] == ["loss1", "target1", "target1"]
    assert checks[0].fix == ReplaceNode("loss1", "MSELoss") and "loss1 is CrossEntropyLoss" in checks[0].message
    assert "replace loss1 with MSELoss or L1Loss and give its prediction 1 value(s)" in checks[0].message
    assert [c.fix for c in checks[1:]] == [("target1", "shape", [1]), ("target1", "dtype", "float32")]
    for check in checks[1:]:
        apply(doc, check)
    apply_fix(doc, checks[0].fix)
    (width,) = data_checks(doc, validate(doc), HOUSES)  # the loss fits now: its prediction's width is checked
    assert width.fix == ("fc2", "out_features", 1) and "loss1 gets 3 values per sample from fc2" in width.message
    apply(doc, width)
    assert data_checks(doc, validate(doc), HOUSES) == []
