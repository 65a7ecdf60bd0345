"""Graph vs dataset checks made while editing: Input shape/dtype and class count, each with its fix."""

from train_harness import iris_mlp

from engine.data_fit import data_checks
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
