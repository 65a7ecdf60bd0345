"""Import takes what export gives: a model exported deployable — its run's preprocessing built into the
graph — imports back with that preprocessing as its data record, and exporting the import builds the
same preprocessing in again: both files give the same outputs for the same raw data."""

import functools
import json
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from benchmark_writers import write_cifar10, write_mnist
from onnx import numpy_helper
from safetensors.torch import save_file

from engine.cli import main
from engine.compile import compile_graph
from engine.data import load_dataset
from engine.document import Edge, GraphDocument
from engine.export.onnx_export import export_onnx
from engine.fileformat import load_document
from engine.onnx_import import import_onnx
from engine.preprocessing import standardisation
from engine.validate import validate

TINY_FILES = {"mnist": write_mnist, "cifar10": write_cifar10}
EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "resources" / "examples").glob("*.json"))
BATCH = 3
ORT_TYPES = {"tensor(float)": np.float32, "tensor(int64)": np.int64, "tensor(uint8)": np.uint8}


@functools.cache
def _record(config: str) -> str:
    settings = json.loads(config)
    return json.dumps(load_dataset(settings, seed=0).record(settings))


def template_data(doc: GraphDocument) -> dict:
    """The data.json a training run of the template writes (its dataset is loaded, nothing is trained; a
    benchmark set from tiny files in its real format — tests never download)."""
    settings = dict(doc.training["dataset"])
    if settings["name"] in TINY_FILES:
        settings["path"] = str(_tiny_files(settings["name"]))
    return json.loads(_record(json.dumps(settings, sort_keys=True)))


@functools.cache
def _tiny_files(name: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix=f"layerloom-{name}-"))
    TINY_FILES[name](folder)
    return folder


def fake_run(folder: Path, doc: GraphDocument, data: dict) -> Path:
    """A run folder: fresh weights for `doc` and `data` as its data.json."""
    folder.mkdir(parents=True)
    torch.manual_seed(0)
    save_file(dict(compile_graph(doc, with_loss=False).module.state_dict()), str(folder / "best.safetensors"))
    (folder / "data.json").write_text(json.dumps(data))
    return folder


def metadata(path: Path) -> dict:
    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


def described(path: Path) -> dict:
    """What the file says about its data and signature (not the graph's name: the import names it after the file)."""
    return {key: value for key, value in metadata(path).items() if key != "layerloom.graph"}


def sources(doc: GraphDocument) -> dict[str, str]:
    return {node_id: node.params.get("source", "data") for node_id, node in doc.nodes.items()
            if node.type_id == "Input"}


def prefix_constants(path: Path, input_name: str) -> dict[str, np.ndarray]:
    """The constants the preprocessing of `input_name` holds (the nodes named /<input>/…)."""
    model = onnx.load(str(path))
    stored = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    found = {}
    for node in model.graph.node:
        if node.name.startswith(f"/{input_name}/"):
            found |= {f"{node.op_type}:{name}": stored[name] for name in node.input if name in stored}
            if node.op_type == "Constant":
                found[node.name] = numpy_helper.to_array(node.attribute[0].t)
    return found


def raw_feeds(path: Path, data: dict, seed: int = 0) -> dict[str, np.ndarray]:
    """Raw samples for every input of the exported model at `path`: the data input's values spread as the
    training data's were, token ids within the vocabulary, pixels 0–255; dynamic axes at the trained size."""
    rng = np.random.default_rng(seed)
    prep = json.loads(metadata(path)["layerloom.preprocessing"])
    feeds = {}
    for spec in ort.InferenceSession(str(path)).get_inputs():
        dtype = ORT_TYPES[spec.type]
        fixed = all(isinstance(size, int) for size in spec.shape[1:])
        shape = (BATCH, *spec.shape[1:]) if fixed else (BATCH, *data["input_shape"])  # only data has a length
        if dtype == np.int64:
            feeds[spec.name] = rng.integers(0, len(data["raw"].get("vocab") or [0, 1]), shape)
        elif dtype == np.uint8:
            feeds[spec.name] = rng.integers(0, 256, shape, dtype=np.uint8)
        else:
            stats = standardisation(prep) if prep and spec.name == prep["input"] else None
            mean, std = stats if stats is not None else (0.0, 1.0)
            feeds[spec.name] = (rng.standard_normal(shape) * std + mean).astype(np.float32)
    return feeds


def assert_same_outputs(first: Path, second: Path, data: dict) -> None:
    a, b = ort.InferenceSession(str(first)), ort.InferenceSession(str(second))
    assert [(i.name, i.type) for i in a.get_inputs()] == [(i.name, i.type) for i in b.get_inputs()]
    assert [o.name for o in a.get_outputs()] == [o.name for o in b.get_outputs()]
    feeds = raw_feeds(second, data)  # (a Layerloom export: its metadata names the data input)
    for name, want, got in zip([o.name for o in a.get_outputs()], a.run(None, feeds), b.run(None, feeds), strict=True):
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5, err_msg=name)


def round_trip(tmp_path: Path, original: Path, capsys, *flags: str) -> tuple[GraphDocument, dict, Path]:
    """`layerloom import` the file, check the graph, and `layerloom export` it again with the imported
    weights (and so their data record); returns the graph, the record and the new file."""
    graph = tmp_path / "imported" / "graph.json"
    assert main(["import", str(original), "--out", str(graph)]) == 0, capsys.readouterr().err
    doc = load_document(graph)
    report = validate(doc)
    assert report.ok, [str(d) for d in report.diagnostics]
    record = json.loads((tmp_path / "imported" / "graph.data.json").read_text())
    again = tmp_path / "again.onnx"
    code = main(["export", str(graph), "--weights", str(graph.with_suffix(".safetensors")), "--onnx", str(again),
                 *flags])
    captured = capsys.readouterr()
    assert code == 0 and "warning" not in captured.err, captured.out + captured.err
    return doc, record, again


@pytest.mark.parametrize("example", [p.stem for p in EXAMPLES])
def test_every_template_exported_deployable_imports_and_exports_the_same_model(example, tmp_path, capsys):
    doc = load_document(next(p for p in EXAMPLES if p.stem == example))
    data = template_data(doc)
    original = tmp_path / "original.onnx"
    result = export_onnx(doc, original, weights=fake_run(tmp_path / "run", doc, data))
    assert result.passed and result.preprocessing == "built into the graph"
    prep = json.loads(metadata(original)["layerloom.preprocessing"])
    constants = prefix_constants(original, prep["input"])
    # the file really starts with the run's standardisation (a text model takes token ids as they are)
    assert bool(constants) == (data["normalization"] is not None), constants

    imported, record, again = round_trip(tmp_path, original, capsys)

    # the record keeps what the run's data.json said, the standardisation's numbers exactly
    for key in ("raw", "normalization", "input_shape", "input_dtype", "task", "class_names"):
        assert record[key] == data[key], key
    assert imported.nodes[prep["input"]].params["shape"] == data["input_shape"]  # the trained length, not a guess
    assert sources(imported) == sources(doc)  # a GAN's latent Input is noise again, so the export finds its data
    assert not any(node.type_id in ("Sub", "Div") for node in imported.nodes.values())
    # … so the export writes the same preprocessing, with the same constants, and says the same about it
    assert described(again) == described(original)
    again_constants = prefix_constants(again, prep["input"])
    assert again_constants.keys() == constants.keys()
    for key, value in constants.items():
        np.testing.assert_array_equal(again_constants[key], value, err_msg=key)
    assert_same_outputs(original, again, data)


def image_classifier() -> GraphDocument:
    doc = GraphDocument("pictures")
    chain = [("Input", {"shape": [3, 6, 5]}, "input1"), ("Conv2d", {"out_channels": 4, "kernel_size": 3}, "conv1"),
             ("ReLU", {}, "relu1"), ("Flatten", {}, "flatten1"), ("Linear", {"out_features": 2}, "fc1"),
             ("Output", {}, "output1")]
    for type_id, params, node_id in chain:
        doc.add_node(type_id, params, node_id=node_id)
    for (_, _, a), (_, _, b) in zip(chain, chain[1:], strict=False):
        doc.add_edge(Edge(a, "out", b, "in"))
    return doc


IMAGE_DATA = {"task": "classification", "class_names": ["cat", "dog"], "input_shape": [3, 6, 5],
              "input_dtype": "float32", "raw": {"kind": "image", "size": [6, 5], "channels": 3, "scale": 1 / 255},
              "normalization": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "axis": 0}}


@pytest.mark.parametrize("keep_metadata", [True, False], ids=["with metadata", "ops alone"])
def test_raw_pixels_come_back_as_an_image_record(keep_metadata, tmp_path, capsys):
    """uint8 (N, H, W, C) → Transpose, Cast, Mul(1/255), Sub, Div: the Input takes (C, H, W) floats again and
    the record holds the scale and per-channel statistics — recognised from the ops alone too."""
    doc = image_classifier()
    original = tmp_path / "original.onnx"
    assert export_onnx(doc, original, weights=fake_run(tmp_path / "run", doc, IMAGE_DATA)).passed
    if not keep_metadata:
        model = onnx.load(str(original))
        del model.metadata_props[:]
        onnx.save(model, str(original))

    imported, record, again = round_trip(tmp_path, original, capsys)

    assert imported.nodes["input1"].params == {"shape": [3, 6, 5], "dtype": "float32", "source": "data"}
    mean, std = (np.float32(IMAGE_DATA["normalization"][key]) for key in ("mean", "std"))
    assert np.array_equal(np.float32(record["normalization"]["mean"]), mean)
    assert np.array_equal(np.float32(record["normalization"]["std"]), std)
    assert record["normalization"]["axis"] == 0 and np.float32(record["raw"]["scale"]) == np.float32(1 / 255)
    assert {k: v for k, v in record["raw"].items() if k != "scale"} == {"kind": "image", "size": [6, 5], "channels": 3}
    if keep_metadata:  # the numbers as written, and the class names, which only the metadata knows
        assert record["normalization"] == IMAGE_DATA["normalization"] and record["raw"] == IMAGE_DATA["raw"]
        assert record["class_names"] == ["cat", "dog"] and record["task"] == "classification"
    else:
        assert record["class_names"] is None and record["task"] is None
    again_inputs = ort.InferenceSession(str(again)).get_inputs()
    assert [(i.name, i.type, i.shape[1:]) for i in again_inputs] == [("input1", "tensor(uint8)", [6, 5, 3])]
    assert_same_outputs(original, again, IMAGE_DATA)


def test_a_standardisation_is_recognised_by_its_ops_alone(tmp_path, capsys):
    """Without metadata the Sub and Div of one value per feature still come off, their float32 constants kept."""
    doc = load_document(next(p for p in EXAMPLES if p.stem == "sequence_lstm"))
    data = template_data(doc)
    original = tmp_path / "original.onnx"
    assert export_onnx(doc, original, weights=fake_run(tmp_path / "run", doc, data)).passed
    model = onnx.load(str(original))
    del model.metadata_props[:]
    onnx.save(model, str(original))

    imported, record, again = round_trip(tmp_path, original, capsys)

    assert record["raw"] == {"kind": "array"} and record["normalization"]["axis"] == 1  # along the features
    for key in ("mean", "std"):
        assert record["normalization"][key] == np.float32(data["normalization"][key]).tolist()
    assert record["input_shape"] == imported.nodes["input1"].params["shape"] == [16, 4]  # no metadata: a guess
    assert_same_outputs(original, again, data)


def test_a_bare_export_keeps_its_preprocessing_in_the_record(tmp_path, capsys):
    """--no-preprocessing: the graph is the network alone and the metadata says what raw data needs; the
    import keeps that record (and the length the sequence was trained with, not a guessed 16)."""
    doc = load_document(next(p for p in EXAMPLES if p.stem == "sequence_gru"))
    data = template_data(doc)
    original = tmp_path / "original.onnx"
    assert export_onnx(doc, original, weights=fake_run(tmp_path / "run", doc, data), preprocessing=False).passed

    imported, record, again = round_trip(tmp_path, original, capsys, "--no-preprocessing")

    assert record["normalization"] == data["normalization"] and record["raw"] == data["raw"]
    assert imported.nodes["input1"].params["shape"] == data["input_shape"] == [20, 4]
    assert "size 16" not in imported.description
    assert described(again) == described(original)
    assert_same_outputs(original, again, data)
    # the record builds the preprocessing in when exported deployable: raw data in, the same outputs
    deployable = tmp_path / "deployable.onnx"
    assert main(["export", str(tmp_path / "imported" / "graph.json"), "--weights",
                 str(tmp_path / "imported" / "graph.safetensors"), "--onnx", str(deployable)]) == 0
    raw = raw_feeds(deployable, data)
    mean, std = standardisation(json.loads(metadata(deployable)["layerloom.preprocessing"]))
    (want,) = ort.InferenceSession(str(original)).run(None, {"input1": (raw["input1"] - mean) / std})
    (got,) = ort.InferenceSession(str(deployable)).run(None, raw)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_a_standardisation_a_record_cannot_hold_is_not_taken_off(tmp_path):
    """A mean per pixel (two axes) is no per-feature standardisation: it is not taken off as a data record, it
    stays in the graph (its stored tensors as nodes) and computes the same."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2, 3])
    mean = numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(1, 2, 3), "mean")
    std = numpy_helper.from_array(np.full((1, 2, 3), 2.0, np.float32), "std")
    nodes = [helper.make_node("Sub", ["x", "mean"], ["c"], name="sub"),
             helper.make_node("Div", ["c", "std"], ["d"], name="div"), helper.make_node("Relu", ["d"], ["y"])]
    model = helper.make_model(helper.make_graph(nodes, "g", [x], [y], [mean, std]),
                              opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(tmp_path / "per_pixel.onnx"))
    imported = import_onnx(tmp_path / "per_pixel.onnx")
    assert imported.data is None
    assert [node.type_id for node in imported.document.nodes.values()].count("Parameter") == 2
    sample = np.random.default_rng(0).normal(size=(BATCH, 2, 3)).astype(np.float32)
    (want,) = ort.InferenceSession(str(tmp_path / "per_pixel.onnx")).run(None, {"x": sample})
    compiled = compile_graph(imported.document, with_loss=False)
    compiled.module.load_state_dict({k: torch.as_tensor(v) for k, v in imported.weights.items()}, strict=False)
    with torch.no_grad():
        np.testing.assert_allclose(compiled.module(torch.as_tensor(sample)).numpy(), want, atol=1e-6)
