"""A Reshape that names the batch: heads (or patches, or time steps) folded into the batch and unfolded after,
`x.reshape(N·T, C)` → Linear → `y.reshape(N, T, C')`, validated, compiled, and exported to ONNX and to Python
with the batch left dynamic."""

from __future__ import annotations

import importlib.util

import numpy as np
import onnxruntime as ort
import pytest
import torch

from engine.compile import compile_graph
from engine.document import Edge, GraphDocument
from engine.export.onnx_export import export_onnx
from engine.export.python_code import export_python
from engine.validate import validate


def fold_linear_unfold(split: int = 4) -> GraphDocument:
    """(N, 4, 6) → merge → (N·4, 6) → Linear → (N·4, 5) → split by `split` → (N, 4, 5)."""
    doc = GraphDocument()
    doc.add_node("Input", {"shape": [4, 6]}, node_id="x")
    doc.add_node("Reshape", {"batch": "merge", "shape": [6]}, node_id="fold")
    doc.add_node("Linear", {"out_features": 5}, node_id="fc")
    doc.add_node("Reshape", {"batch": "split", "batch_split": split, "shape": [5]}, node_id="unfold")
    doc.add_node("Output", {}, node_id="y")
    for src, dst in (("x", "fold"), ("fold", "fc"), ("fc", "unfold"), ("unfold", "y")):
        doc.add_edge(Edge(src, "out", dst, "in"))
    return doc


def test_validation_shows_the_merged_batch_as_the_batch_axis():
    report = validate(fold_linear_unfold())
    assert report.ok, [str(d) for d in report.errors]
    assert [report.shapes[(n, "out")] for n in ("fold", "fc", "unfold")] == [(None, 6), (None, 5), (None, 4, 5)]


def test_compiled_graph_folds_the_batch_and_unfolds_it():
    compiled = compile_graph(fold_linear_unfold(), with_loss=False)
    module = compiled.module.eval()
    fc = module.get_submodule("fc")
    for batch in (1, 3):
        x = torch.randn(batch, 4, 6)
        with torch.no_grad():
            expected = fc(x.reshape(batch * 4, 6)).reshape(batch, 4, 5)
            torch.testing.assert_close(module(x), expected)


def test_a_split_factor_below_two_is_a_validation_error_on_the_param():
    report = validate(fold_linear_unfold(split=1))
    assert not report.ok
    assert [(e.node, e.param) for e in report.errors] == [("unfold", "batch_split")]
    assert "≥ 2" in report.errors[0].message


def pairs_of_samples() -> GraphDocument:
    """(N, 6) split by 2 into (N/2, 2, 6): no merge before it."""
    doc = GraphDocument()
    doc.add_node("Input", {"shape": [6]}, node_id="x")
    doc.add_node("Reshape", {"batch": "split", "batch_split": 2, "shape": [6]}, node_id="pairs")
    doc.add_node("Output", {}, node_id="y")
    doc.add_edge(Edge("x", "out", "pairs", "in"))
    doc.add_edge(Edge("pairs", "out", "y", "in"))
    return doc


def test_a_batch_that_does_not_divide_by_the_split_names_the_node():
    """Validation makes a split follow its merge; the layer still refuses a batch it cannot split (a module
    used outside a validated graph), naming its node."""
    from nodes.layers.plumbing import Reshape

    layer = Reshape((6,), "split", 2)
    layer.node_id = "pairs (Reshape)"
    assert layer(torch.randn(4, 6)).shape == (2, 2, 6)
    with pytest.raises(ValueError, match=r"pairs \(Reshape\): a batch of 3 does not split into 2"):
        layer(torch.randn(3, 6))


def test_onnx_export_keeps_the_folded_batch_dynamic(tmp_path):
    doc = fold_linear_unfold()
    result = export_onnx(doc, tmp_path / "model.onnx")  # its own parity check runs batches 1 and 5
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    module = compile_graph(doc, with_loss=False).module.eval()
    module.load_state_dict(_onnx_weights(result.path, module))
    for batch in (2, 7):
        x = torch.randn(batch, 4, 6)
        got = session.run(None, {result.input_names[0]: x.numpy()})[0]
        assert got.shape == (batch, 4, 5)
        with torch.no_grad():
            np.testing.assert_allclose(got, module(x).numpy(), atol=1e-5, rtol=1e-4)


def _onnx_weights(path, module) -> dict[str, torch.Tensor]:
    import onnx
    from onnx import numpy_helper

    stored = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in onnx.load(str(path)).graph.initializer}
    return {name: stored[name] for name in module.state_dict()}


def test_python_export_reads_the_batch_at_run_time(tmp_path):
    doc = fold_linear_unfold()
    result = export_python(doc, tmp_path / "model.py")
    spec = importlib.util.spec_from_file_location("batch_reshape_model", result.code_path)
    code = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(code)
    model = code.load().eval()
    compiled = compile_graph(doc, with_loss=False).module.eval()
    compiled.load_state_dict(model.state_dict())
    for batch in (1, 6):
        x = torch.randn(batch, 4, 6)
        with torch.no_grad():
            torch.testing.assert_close(model(x), compiled(x))
            assert model(x).shape == (batch, 4, 5)


def test_a_merged_batch_meeting_the_unmerged_one_or_an_output_is_an_error_naming_the_merge():
    doc = fold_linear_unfold()
    doc.remove_edge(Edge("unfold", "out", "y", "in"))
    doc.add_edge(Edge("fc", "out", "y", "in"))  # (N·4, 5) rows into the Output
    report = validate(doc)
    [error] = [e for e in report.errors if e.node == "y"]
    assert "N·4 rows (merged at fold)" in error.message and "batch split 4" in error.message

    doc = fold_linear_unfold()
    doc.add_node("Linear", {"out_features": 5}, node_id="side")
    doc.add_node("Add", {}, node_id="add")  # (N, 4, 5) per sample + (N·4, 5) rows: shapes alone cannot tell
    doc.add_node("Reshape", {"shape": [4, 5]}, node_id="back")
    doc.add_edge(Edge("x", "out", "side", "in"))
    doc.add_edge(Edge("side", "out", "add", "a"))
    doc.add_edge(Edge("fc", "out", "back", "in"))
    doc.add_edge(Edge("back", "out", "add", "b"))
    errors = [e for e in validate(doc).errors if e.node == "add"]
    assert len(errors) == 1 and "different batches: N rows and N·4 rows (merged at fold)" in errors[0].message


def test_a_split_that_does_not_divide_the_merge_or_groups_plain_samples_is_said():
    errors = validate(fold_linear_unfold(split=3)).errors
    assert [(e.node, e.port) for e in errors] == [("unfold", "in")] and "set batch_split to 4" in errors[0].message
    errors = validate(pairs_of_samples()).errors
    assert [(e.node, e.port) for e in errors] == [("pairs", "in")] and "no Reshape merged" in errors[0].message


def test_stats_count_the_rows_a_merged_batch_holds():
    """fc works on N·4 rows of 6: four times the multiply-adds and activations of one row per sample."""
    from engine.stats import graph_stats

    doc = fold_linear_unfold()
    stats = graph_stats(doc, validate(doc), batch_size=8)
    assert stats.nodes["fc"].macs == 8 * 4 * 6 * 5
    assert stats.nodes["fc"].activation_bytes == 8 * 4 * 5 * 4  # (N·4, 5) float32
    assert stats.nodes["unfold"].activation_bytes == 8 * 4 * 5 * 4  # (N, 4, 5): the same values
