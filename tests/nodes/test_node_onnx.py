"""Every layer exports alone to ONNX (legacy exporter, opset 17) and onnxruntime agrees with torch.

Exported at batch 2 and run at batch 3 so a batch size baked into the graph fails. Loss nodes are
skipped: export covers the inference graph up to the Output node, and a loss is never part of it.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import onnxruntime as ort
import pytest
import torch
from node_harness import batches, build, buildable_specs, outputs_by_port, sample_inputs

import nodes

LAYERS = [spec for spec in buildable_specs() if spec.role != "loss"]


def export_and_run(spec, params, in_shapes, dynamic: dict[int, str], batch: int = 3, run_shapes=None):
    """Export the module with `dynamic` axes on every input and output; run it at other sizes in ORT."""
    params = spec.resolve(params)
    module = build(spec, params, in_shapes).eval()
    names = [p.name for p in spec.inputs if p.name in in_shapes]
    outputs = [p.name for p in spec.outputs]
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation and tracer warnings
        torch.onnx.export(
            module, sample_inputs(spec, params, in_shapes, batch=batches(params, in_shapes, 2)[0]), buffer,
            dynamo=False, opset_version=17,
            input_names=names, output_names=outputs,
            dynamic_axes={name: dynamic for name in names} | {name: {0: "batch"} for name in outputs},
        )
    session = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    run_shapes = run_shapes or in_shapes
    args = sample_inputs(spec, params, run_shapes, batch=batches(params, run_shapes, batch)[0])
    got = session.run(outputs, {name: arg.numpy() for name, arg in zip(names, args, strict=True)})
    with torch.no_grad():
        expected = outputs_by_port(spec, module(*args))
    for name, value in zip(outputs, got, strict=True):
        np.testing.assert_allclose(value, expected[name].numpy(), atol=1e-4, rtol=1e-4, err_msg=f"port {name}")


@pytest.mark.parametrize("spec", LAYERS, ids=lambda s: s.type_id)
def test_exports_with_dynamic_batch(spec):
    export_and_run(spec, {}, spec.example_inputs, {0: "batch"})


@pytest.mark.parametrize(("type_id", "params"), [
    ("MultiheadAttention", {"causal": True}),
    ("TransformerBlock", {"causal": True}),
    ("PositionalEncoding", {}),
    ("PositionalEncoding", {"kind": "learned"}),
    ("LSTM", {"output": "last", "bidirectional": True}),
    ("GRU", {"output": "all", "num_layers": 2}),
])
def test_sequence_nodes_export_with_dynamic_length(type_id, params):
    """Exported at T=6, run at T=4: masks and position tables follow the run-time length."""
    spec = nodes.get_spec(type_id)
    shape = spec.example_inputs["in"]
    export_and_run(spec, params, {"in": shape}, {0: "batch", 1: "time"}, run_shapes={"in": (None, 4, *shape[2:])})


@pytest.mark.parametrize(("params", "in_shapes"), [
    ({"batch": "merge", "shape": [4]}, {"in": (None, 3, 4)}),  # heads into the batch: (N, H, d) → (N·H, d)
    ({"batch": "merge", "shape": [2, -1]}, {"in": (None, 3, 2, 4)}),
    ({"batch": "split", "batch_split": 3, "shape": [2, 2]}, {"in": (None, 4)}),  # and back: (N·H, d) → (N, H, …)
], ids=["merge", "merge-reshaped", "split"])
def test_reshape_moving_the_batch_keeps_it_dynamic(params, in_shapes):
    """Exported with 2 (or 2·A) samples, run with 3 (3·A): a batch size baked into the reshape fails."""
    export_and_run(nodes.get_spec("Reshape"), params, in_shapes, {0: "batch"})


@pytest.mark.parametrize(("params", "shape"), [
    ({"chunks": 3, "index": 0, "dim": -1}, (None, 1, 1)),  # one piece of a size-1 dim: fewer pieces than chunks
    ({"chunks": 4, "index": 2, "dim": 1}, (None, 5, 3)),  # pieces of 2, 2, 1
])
def test_a_chunk_exports_as_a_slice_of_its_known_size(params, shape):
    """Found by test_validate_matches_torch: torch.chunk exported as SplitToSequence, which onnxruntime refuses
    when the dim holds fewer elements than chunks."""
    export_and_run(nodes.get_spec("Chunk"), params, {"in": shape}, {0: "batch"})
