"""Exports: every example to verified ONNX and to standalone PyTorch code that reproduces it."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from safetensors.torch import load_file, save_file
from train_harness import iris_mlp

from engine.cli import main
from engine.compile import compile_graph
from engine.document import Edge, GraphDocument
from engine.export.bundle import export_all
from engine.export.onnx_export import ExportError, _differences, export_onnx
from engine.export.weights import WeightsError, inference_graph, load_weights
from engine.fileformat import load_document, save_document
from nodes import registry

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "resources" / "examples").glob("*.json"))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Every example exported once (ONNX + Python), with inputs and torch outputs saved for checking."""
    out = tmp_path_factory.mktemp("exports")
    results = {}
    for example in EXAMPLES:
        doc = load_document(example)
        result = export_all(doc, onnx=out / f"{example.stem}.onnx", python=out / f"{example.stem}.py")
        results[example.stem] = (doc, result)
    return out, results


@pytest.mark.parametrize("example", [p.stem for p in EXAMPLES])
def test_every_example_exports_to_onnx_with_parity(exported, example):
    out, results = exported
    doc, result = results[example]
    assert result.onnx.passed, result.onnx.summary()
    assert result.onnx.max_abs_error < 1e-4
    model = onnx.load(str(result.onnx.path))
    onnx.checker.check_model(model)
    inputs = [i.name for i in model.graph.input]
    assert inputs == [n for n, node in doc.nodes.items() if node.type_id == "Input"]
    assert [o.name for o in model.graph.output] == [n for n, node in doc.nodes.items() if node.type_id == "Output"]
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    # every ONNX node traces back to the user's node: its name is "/<node id>/<op>"
    scopes = {node.name.split("/")[1] for node in model.graph.node if node.name.startswith("/")}
    assert scopes and scopes <= set(doc.nodes), scopes - set(doc.nodes)
    # an Identity reading an initializer is torch's alias for a constant equal to another (the zero biases of fresh
    # BatchNorms folded into the convolutions of ResNet-18's same-width blocks): it computes nothing
    constants = {tensor.name for tensor in model.graph.initializer}
    computing = [node for node in model.graph.node if not (node.op_type == "Identity" and node.input[0] in constants)]
    assert sum(node.name.startswith("/") for node in computing) >= 0.8 * len(computing)
    card = json.loads((out / f"{example}.card.json").read_text())
    assert card["onnx"]["passed"] and card["parameters"] > 0 and card["inputs"][0]["name"] == inputs[0]


def test_sequence_models_get_a_dynamic_length_axis(exported):
    _, results = exported
    sequence = [(name, r) for name, (doc, r) in results.items()
                if any(node.type_id in ("LSTM", "GRU", "RNN", "Embedding") for node in doc.nodes.values())]
    assert sequence, "no sequence example to check"
    for name, result in sequence:
        axes = result.onnx.dynamic_axes[result.onnx.input_names[0]]
        assert 1 in axes, name
        assert any("length" in case.description for case in result.onnx.cases), name


def test_image_models_keep_their_fixed_axes(exported):
    _, results = exported
    _, cnn = results["digits_cnn"]
    assert cnn.onnx.dynamic_axes["input1"] == {0: "batch"}


def test_standalone_python_reproduces_the_compiled_graph_in_a_fresh_process(exported):
    out, results = exported
    cases = []
    for name, (doc, result) in results.items():
        compiled = compile_graph(doc, with_loss=False)
        load_weights(compiled.module, result.python.weights_path)
        module = compiled.module.eval()
        torch.manual_seed(0)
        args = []
        for input_name in compiled.input_names:
            shape, dtype = compiled.placeholder_specs[input_name]
            size = [3, *shape[1:]]
            args.append(torch.randint(0, 2, size) if dtype == "int64" else torch.randn(size))
        with torch.no_grad():
            expected = module(*args)
        expected = expected if isinstance(expected, tuple) else (expected,)  # a GAN returns (fake, logit)
        save_file({f"in{i}": a for i, a in enumerate(args)} | {f"out{i}": e for i, e in enumerate(expected)},
                  str(out / f"{name}.io"))
        cases.append(name)
    script = """
import importlib.util, sys, torch
from safetensors.torch import load_file
assert 'engine' not in sys.modules
for name in sys.argv[2:]:
    spec = importlib.util.spec_from_file_location(name, f"{sys.argv[1]}/{name}.py")
    code = importlib.util.module_from_spec(spec); spec.loader.exec_module(code)
    model = code.load()
    io = load_file(f"{sys.argv[1]}/{name}.io")
    args = [io[f"in{i}"] for i in range(sum(k.startswith("in") for k in io))]
    with torch.no_grad():
        got = model(*args)
    got = got if isinstance(got, tuple) else (got,)
    torch.testing.assert_close(got, tuple(io[f"out{i}"] for i in range(sum(k.startswith("out") for k in io))))
    assert not any(m.startswith(("engine", "nodes")) for m in sys.modules), name
    print("ok", name)
"""
    run = subprocess.run([sys.executable, "-c", script, str(out), *cases], capture_output=True, text=True,
                         cwd=out)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count("ok ") == len(cases)



@pytest.mark.parametrize("example", [p.stem for p in EXAMPLES])
def test_every_line_of_the_generated_forward_names_the_node_it_came_from(exported, example):
    """`relu1 = torch.relu(bn1)`, not fx's `relu = …`: the code reads in the user's node ids."""
    _, results = exported
    doc, result = results[example]
    code = result.python.code_path.read_text()
    forward = code.rsplit("    def forward(", 1)[1].split("\n\n", 1)[0]  # the graph's class comes last
    targets = [line.split("=", 1)[0].strip() for line in forward.splitlines()[1:] if " = " in line]
    assert targets
    for target in targets:
        assert target in doc.nodes or any(target.startswith(n + "_") for n in doc.nodes), (example, target)

def tiny_mlp() -> GraphDocument:
    doc = GraphDocument("tiny")
    doc.add_node("Input", {"shape": [4]}, node_id="input1")
    doc.add_node("Linear", {"out_features": 3}, node_id="fc1")
    doc.add_node("ReLU", node_id="relu1")
    doc.add_node("Output", node_id="output1")
    for a, b in [("input1", "fc1"), ("fc1", "relu1"), ("relu1", "output1")]:
        doc.add_edge(Edge(a, "out", b, "in"))
    return doc


def test_trained_weights_are_the_ones_exported(tmp_path):
    doc = tiny_mlp()
    state = {"fc1.weight": torch.full((3, 4), 0.5), "fc1.bias": torch.tensor([1.0, -1.0, 0.0])}
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    save_file(state, str(run_dir / "best.safetensors"))
    result = export_onnx(doc, tmp_path / "m.onnx", weights=run_dir)
    assert result.passed
    import onnxruntime as ort

    x = np.ones((2, 4), dtype=np.float32)
    (y,) = ort.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"input1": x})
    np.testing.assert_allclose(y, [[3.0, 1.0, 2.0]] * 2)


def test_weights_that_do_not_fit_are_named(tmp_path):
    module = compile_graph(tiny_mlp(), with_loss=False).module
    save_file({"fc1.weight": torch.zeros(3, 5), "fc1.bias": torch.zeros(3)}, str(tmp_path / "w.safetensors"))
    with pytest.raises(WeightsError, match=r"fc1.weight has shape \(3, 5\), the graph needs \(3, 4\)"):
        load_weights(module, tmp_path / "w.safetensors")
    save_file({"fc1.bias": torch.zeros(3)}, str(tmp_path / "v.safetensors"))
    with pytest.raises(WeightsError, match="no weights for fc1.weight"):
        load_weights(module, tmp_path / "v.safetensors")
    with pytest.raises(WeightsError, match="no best.safetensors or last.safetensors"):
        load_weights(module, tmp_path)
    (tmp_path / "junk.safetensors").write_bytes(b"not a tensor file")
    with pytest.raises(WeightsError, match="not a readable safetensors file"):
        load_weights(module, tmp_path / "junk.safetensors")


def test_adaptive_pooling_exports_when_the_output_size_does_not_divide_the_input(tmp_path):
    """torch's exporter refuses adaptive_avg_pool2d unless the output size divides H and W; a graph that
    trained fine then could not be exported (a traceback in the issue)."""
    doc = GraphDocument()
    doc.add_node("Input", {"shape": [2, 7, 5]}, node_id="input1")
    doc.add_node("AdaptiveAvgPool2d", {"output_size": 3}, node_id="pool1")
    doc.add_node("Output", node_id="output1")
    doc.add_edge(Edge("input1", "out", "pool1", "in"))
    doc.add_edge(Edge("pool1", "out", "output1", "in"))
    result = export_onnx(doc, tmp_path / "m.onnx")
    assert result.passed, result.summary()
    import onnxruntime as ort

    x = torch.randn(4, 2, 7, 5)
    (y,) = ort.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"input1": x.numpy()})
    np.testing.assert_allclose(y, torch.nn.functional.adaptive_avg_pool2d(x, 3).numpy(), atol=1e-6)


def test_nan_and_infinity_where_torch_gives_them_too_pass_parity(tmp_path):
    """Sqrt of the negative samples is NaN, x / (x − x) is ±inf — in torch and onnxruntime alike; a NaN
    against a number still differs infinitely."""
    import onnxruntime as ort

    doc = GraphDocument()
    for type_id, node_id in [("Input", "input1"), ("Sqrt", "sqrt1"), ("Subtract", "sub1"), ("Divide", "div1"),
                             ("Output", "root"), ("Output", "ratio")]:
        doc.add_node(type_id, {"shape": [6]} if type_id == "Input" else {}, node_id=node_id)
    for edge in [("input1", "out", "sqrt1", "in"), ("input1", "out", "sub1", "a"), ("input1", "out", "sub1", "b"),
                 ("input1", "out", "div1", "a"), ("sub1", "out", "div1", "b"), ("sqrt1", "out", "root", "in"),
                 ("div1", "out", "ratio", "in")]:
        doc.add_edge(Edge(*edge))
    result = export_onnx(doc, tmp_path / "m.onnx")
    assert result.passed and result.max_abs_error == 0.0, result.summary()
    root, ratio = ort.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"input1": np.linspace(-1, 1, 12,
                                                                                    dtype=np.float32).reshape(2, 6)})
    assert np.isnan(root).any() and np.isinf(ratio).all()
    diff, rel = _differences(np.array([np.nan, np.inf, 1.0, 2.0]), np.array([np.nan, np.inf, np.nan, -np.inf]))
    assert diff.tolist() == rel.tolist() == [0.0, 0.0, np.inf, np.inf]


class _Unexportable(torch.nn.Module):
    def forward(self, x):
        return torch.linalg.eigvals(x[:, :2].reshape(-1, 1, 1).expand(-1, 2, 2)).real.reshape(x.shape[0], -1)


def test_an_op_onnx_cannot_express_is_blamed_on_its_node(tmp_path, monkeypatch, capsys):
    relu = registry.get_spec("ReLU")
    unexportable = dataclasses.replace(relu, function=None, build=lambda p, s: _Unexportable())
    monkeypatch.setitem(registry._SPECS, "ReLU", unexportable)
    doc = tiny_mlp()
    with pytest.raises(ExportError, match=r"^node relu1 \(_Unexportable\) cannot be exported to ONNX opset 17"):
        export_onnx(doc, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()
    save_document(doc, tmp_path / "g.json")
    assert main(["export", str(tmp_path / "g.json"), "--onnx", str(tmp_path / "m.onnx")]) == 1
    assert "relu1" in capsys.readouterr().err


def test_parity_failure_is_reported_not_hidden(tmp_path):
    result = export_onnx(tiny_mlp(), tmp_path / "m.onnx", atol=0.0, rtol=0.0)
    result_strict = [case.passed for case in result.cases]
    # fp32 kernels differ in the last bits between torch and onnxruntime, or agree exactly; either
    # way the verdict must follow the numbers
    assert result_strict == [case.max_abs_error == 0.0 for case in result.cases]
    assert ("FAILED" in result.summary()) == (not all(result_strict))


def test_cli_export_prints_parity_and_writes_everything(tmp_path, capsys):
    save_document(tiny_mlp(), tmp_path / "g.json")
    code = main(["export", str(tmp_path / "g.json"), "--onnx", str(tmp_path / "m.onnx"), "--python",
                 str(tmp_path / "m.py")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "ONNX parity passed" in out
    for name in ("m.onnx", "m.py", "m.safetensors", "m.card.json", "m.card.md"):
        assert (tmp_path / name).is_file(), name
    assert main(["export", str(tmp_path / "g.json")]) == 2


def test_python_export_keeps_keys_loadable_by_the_engine(tmp_path):
    doc = tiny_mlp()
    result = export_all(doc, python=tmp_path / "m.py")
    state = load_file(str(result.python.weights_path))
    assert set(state) == {"fc1.weight", "fc1.bias"}


def test_model_card_carries_the_runs_final_metrics(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    module = compile_graph(tiny_mlp(), with_loss=False).module
    save_file(dict(module.state_dict()), str(run_dir / "best.safetensors"))
    summary = {"state": "finished", "metrics": {"epoch": 3, "val_accuracy": 0.9}, "best": {"epoch": 2},
               "run_dir": str(run_dir)}
    (run_dir / "summary.json").write_text(json.dumps(summary))
    result = export_all(tiny_mlp(), onnx=tmp_path / "m.onnx", weights=run_dir)
    card = json.loads(result.card_paths[0].read_text())
    assert card["final_metrics"] == {"state": "finished", "metrics": {"epoch": 3, "val_accuracy": 0.9},
                                     "best": {"epoch": 2}}
    assert card["weights"].endswith("best.safetensors")
    assert '"val_accuracy": 0.9' in result.card_paths[1].read_text()


def test_exports_create_the_folder_they_are_written_to(tmp_path):
    result = export_all(tiny_mlp(), onnx=tmp_path / "new" / "m.onnx", python=tmp_path / "other" / "m.py")
    assert result.onnx.passed and result.python.code_path.is_file()


# -- deployable exports: a run's preprocessing and class names travel with the model ---------------
def fake_run(tmp_path: Path, doc: GraphDocument, data: dict) -> Path:
    """A run folder holding fresh weights for `doc` and the data.json a training run would write."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    save_file(dict(compile_graph(doc, with_loss=False).module.state_dict()), str(run_dir / "best.safetensors"))
    (run_dir / "data.json").write_text(json.dumps({"task": "classification", "input_dtype": "float32", **data}))
    return run_dir


def test_exporting_untrained_weights_warns_loudly(tmp_path, capsys):
    save_document(tiny_mlp(), tmp_path / "g.json")
    assert main(["export", str(tmp_path / "g.json"), "--onnx", str(tmp_path / "m.onnx")]) == 0
    assert "warning: UNTRAINED" in capsys.readouterr().err
    card = json.loads((tmp_path / "m.card.json").read_text())
    assert card["weights"].startswith("UNTRAINED") and card["warnings"] and card["data"] is None
    assert card["training"]["optimizer"]["name"] == "adam"  # the graph's section, defaults filled in
    assert "**Warning: UNTRAINED" in (tmp_path / "m.card.md").read_text()
    assert main(["export", str(tmp_path / "g.json"), "--onnx", str(tmp_path / "s.onnx"), "--softmax"]) == 1
    assert "a softmax output needs a classifier" in capsys.readouterr().err


def test_cli_export_flags_keep_preprocessing_separate_and_add_probabilities(tmp_path, capsys):
    doc = iris_mlp()
    mean, std = np.array([10, 20, 30, 40], np.float32), np.array([1, 2, 3, 4], np.float32)
    run_dir = fake_run(tmp_path, doc, {
        "input_shape": [4], "class_names": ["a", "b", "c"],
        "raw": {"kind": "table", "features": ["f1", "f2", "f3", "f4"], "label": "y"},
        "normalization": {"mean": mean.tolist(), "std": std.tolist(), "axis": 0}})
    save_document(doc, tmp_path / "g.json")
    base = ["export", str(tmp_path / "g.json"), "--weights", str(run_dir), "--onnx"]
    assert main([*base, str(tmp_path / "raw.onnx")]) == 0
    assert main([*base, str(tmp_path / "bare.onnx"), "--no-preprocessing", "--softmax"]) == 0
    assert "warning" not in capsys.readouterr().err

    raw = np.random.default_rng(0).normal(mean, std, (5, 4)).astype(np.float32)
    import onnxruntime as ort

    (logits,) = ort.InferenceSession(str(tmp_path / "raw.onnx")).run(None, {"input1": raw})
    bare = ort.InferenceSession(str(tmp_path / "bare.onnx"))
    assert [o.name for o in bare.get_outputs()] == ["output1", "probabilities"]
    bare_logits, probabilities = bare.run(None, {"input1": (raw - mean) / std})
    np.testing.assert_allclose(logits, bare_logits, atol=1e-5)
    np.testing.assert_allclose(probabilities.sum(1), 1.0, atol=1e-6)
    for name, built_in in (("raw", True), ("bare", False)):
        meta = {p.key: p.value for p in onnx.load(str(tmp_path / f"{name}.onnx")).metadata_props}
        assert json.loads(meta["layerloom.preprocessing"])["built_in"] is built_in
        assert json.loads(meta["layerloom.class_names"]) == ["a", "b", "c"]
    model = onnx.load(str(tmp_path / "raw.onnx"))
    assert model.graph.name == "iris mlp"
    assert any(node.name.startswith("/input1/") for node in model.graph.node)  # the preprocessing names its Input


def test_a_grayscale_image_run_takes_raw_pixels(tmp_path):
    doc = GraphDocument("gray")
    doc.add_node("Input", {"shape": [1, 4, 4]}, node_id="input1")
    doc.add_node("Flatten", {"start_dim": 1}, node_id="flatten1")
    doc.add_node("Linear", {"out_features": 2}, node_id="fc1")
    doc.add_node("Output", node_id="output1")
    for a, b in [("input1", "flatten1"), ("flatten1", "fc1"), ("fc1", "output1")]:
        doc.add_edge(Edge(a, "out", b, "in"))
    data = {"input_shape": [1, 4, 4], "class_names": ["dark", "light"],
            "raw": {"kind": "image", "size": [4, 4], "channels": 1, "scale": 1 / 255},
            "normalization": {"mean": [0.5], "std": [0.25], "axis": 0}}
    run_dir = fake_run(tmp_path, doc, data)
    result = export_onnx(doc, tmp_path / "m.onnx", weights=run_dir)
    assert result.passed and result.inputs == [{"name": "input1", "shape": [None, 4, 4, 1], "dtype": "uint8"}]
    import onnxruntime as ort

    pixels = np.random.default_rng(0).integers(0, 256, (3, 4, 4, 1), dtype=np.uint8)
    (got,) = ort.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"input1": pixels})
    x = (pixels.transpose(0, 3, 1, 2) / 255 - 0.5) / 0.25
    with torch.no_grad():
        expected = inference_graph(doc, run_dir).module(torch.from_numpy(x.astype(np.float32)))
    np.testing.assert_allclose(got, expected.numpy(), atol=1e-5)


def test_a_run_whose_data_does_not_fit_the_graph_is_refused(tmp_path):
    run_dir = fake_run(tmp_path, tiny_mlp(), {"input_shape": [5], "raw": {"kind": "array"}})
    with pytest.raises(ExportError, match=r"input1 \(Input\) is \[4\] float32 but the run's data.json describes \[5\]"):
        export_onnx(tiny_mlp(), tmp_path / "m.onnx", weights=run_dir)
