"""Incremental validation after param edits gives exactly the full validation's report (hypothesis)."""

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.blocks import INSTANCE_PARAMS, is_instance
from engine.fileformat import load_document
from engine.validate import revalidate, validate
from nodes import get_spec

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "resources" / "examples").glob("*.json"))


def value_for(param, draw):
    """A value for `param`: usually sensible, sometimes out of range or of the wrong kind."""
    if param.kind == "bool":
        return draw(st.sampled_from([True, False, 3]))
    if param.kind == "choice":
        return draw(st.sampled_from([*param.choices, "nonsense"]))
    if param.kind == "int":
        return draw(st.integers(-2, 70))
    if param.kind == "float":
        return draw(st.sampled_from([0.0, 0.1, 0.5, 1.0, 2.0, -1.0, 1e-5]))
    if param.kind == "ints":
        return draw(st.lists(st.integers(-1, 12), min_size=0, max_size=4))
    return draw(st.sampled_from(["", "x", "mean"]))


def report_state(report):
    return ([(d.severity, d.message, d.node, d.port, d.param, d.stage) for d in report.diagnostics],
            dict(report.shapes), dict(report.dtypes), {k: dict(v) for k, v in report.input_shapes.items()},
            list(report.order))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_revalidating_edits_equals_validating_afresh(data):
    doc = load_document(data.draw(st.sampled_from(EXAMPLES)))
    report = validate(doc)
    for _ in range(data.draw(st.integers(1, 6))):
        node_id = data.draw(st.sampled_from(sorted(doc.nodes)))
        node = doc.nodes[node_id]
        params = INSTANCE_PARAMS if is_instance(node) else get_spec(node.type_id).params  # an instance: repeat
        if not params:
            continue
        param = data.draw(st.sampled_from(params))
        doc.nodes[node_id].params[param.name] = value_for(param, data.draw)  # what set_param stores
        report = revalidate(doc, report, {node_id})
        assert report_state(report) == report_state(validate(doc)), (node_id, param.name)


def test_an_edit_that_changes_no_shape_re_infers_only_its_node():
    doc = load_document(EXAMPLES[[p.stem for p in EXAMPLES].index("digits_cnn")])
    report = validate(doc)
    doc.nodes["dropout1"].params["p"] = 0.3  # no shape changes
    assert revalidate(doc, report, {"dropout1"}).touched == {"dropout1"}
    doc.nodes["conv1"].params["out_channels"] = 8  # bn1's channels no longer match: the error stops there
    again = revalidate(doc, report, {"conv1"})
    assert "conv1" in again.touched and "fc1" not in again.touched
    assert report_state(again) == report_state(validate(doc))


def test_an_input_dtype_edit_reaches_the_layer_behind_a_reshape():
    """An element type changes no shape, and still decides errors further down."""
    doc = load_document(Path(__file__).parent / "graphs" / "mlp_autoencoder.json")  # input1 → flatten1 → fc1
    report = validate(doc)
    doc.nodes["input1"].params["dtype"] = "int64"
    again = revalidate(doc, report, {"input1"})
    assert report_state(again) == report_state(validate(doc))
    assert [(d.node, d.port) for d in again.errors] == [("fc1", "in"), ("loss1", "target")]  # (the input is the target)
