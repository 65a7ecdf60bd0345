"""Every template in resources/examples trains on built-in offline data and exports what it learned.

Validation and the export of fresh weights of every example are covered by test_cli_validate.py and
test_export.py; here each template trains a few epochs on a shrunken split of its own dataset (a
few steps each, seconds on a CPU) and its run's weights export to ONNX with parity, preprocessing
built in. A GAN also exports its generator alone (`--output fake`): the file takes only the noise.
bench/templates.py trains them to their configured end and measures what they reach.
"""

from __future__ import annotations

import json
import math

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from benchmark_writers import write_cifar10, write_mnist
from train_harness import EXAMPLES, example, of_type, run

from engine.cli import main
from engine.compile import compile_graph
from engine.data import BENCHMARKS, DATASETS, load_dataset
from engine.export.bundle import export_all
from engine.export.weights import load_weights
from engine.train.init_weights import SHIPPED, init_weights_path
from engine.validate import validate

TEMPLATES = sorted(path.stem for path in EXAMPLES.glob("*.json"))
GANS = [name for name in TEMPLATES
        if json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))["training"].get("mode") == "gan"]
EPOCHS = 3
# each dataset shrunk to a few training steps per epoch (the validation part grows instead)
SMALL = {"digits": {"val_split": 0.85}, "breast_cancer": {"val_split": 0.5}, "sequence": {"samples": 300},
         "text": {"val_split": 0.3, "stride": 512}}
# a benchmark set is read from tiny files in its published format (benchmark_writers.py), never downloaded
TINY_FILES = {"mnist": write_mnist, "cifar10": write_cifar10}
FAMILIES = {"digits_cnn", "digits_mlp", "digits_resnet", "digits_autoencoder", "digits_gan", "digits_vit",
            "sequence_lstm", "sequence_gru", "text_transformer", "mnist_cnn", "cifar10_resnet", "finetune_digits",
            "finetune_resnet18"}


def test_the_gallery_has_every_family():
    assert FAMILIES <= set(TEMPLATES)


@pytest.mark.parametrize("name", TEMPLATES)
def test_a_template_describes_itself_in_one_line_and_uses_built_in_data(name):
    data = json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))
    description = data["description"]
    assert data["name"] and description.strip() == description and "\n" not in description
    assert 20 < len(description) <= 200
    dataset = data["training"]["dataset"]
    # shipped with Layerloom, or a benchmark set fetched once into the user data folder
    assert dataset["name"] in DATASETS and "path" not in dataset
    if dataset["name"] in BENCHMARKS:
        assert "(downloaded once)" in description
    # weights a template starts from ship with Layerloom and are found wherever the graph is saved
    init_weights = data["training"].get("init_weights")
    if init_weights:
        assert init_weights.startswith(SHIPPED) and init_weights_path(init_weights, None).is_file()


@pytest.fixture(scope="module", params=TEMPLATES)
def trained(request, tmp_path_factory):
    doc = example(request.param, epochs=EPOCHS)
    dataset = doc.training["dataset"]
    run_dir = tmp_path_factory.mktemp(request.param)
    if dataset["name"] in TINY_FILES:
        folder = tmp_path_factory.mktemp(f"{request.param}-data")
        TINY_FILES[dataset["name"]](folder)
        dataset["path"] = str(folder)
        # a few steps of the template's own recipe on a small batch; SGD's learning rate scales with the batch
        # (the linear rule), Adam's normalised steps need no scaling
        batch, optimizer = doc.training["batch_size"], doc.training["optimizer"]
        doc.training["batch_size"] = 16
        if optimizer["name"] == "sgd":
            optimizer["lr"] *= 16 / batch
    else:
        dataset.update(SMALL[dataset["name"]])
    assert not validate(doc).errors
    result, events = run(doc, run_dir)
    assert result.state == "finished", result.message
    return request.param, doc, run_dir, events


def _spread_gap(doc, run_dir=None) -> float:
    """How far the per-pixel spread of 512 fakes is from the validation images' (mean squared gap of the
    per-pixel standard deviations): a fresh generator's, or the one trained in `run_dir`."""
    torch.manual_seed(0)
    generator = compile_graph(doc, with_loss=False, outputs=[doc.training["gan"]["generator"]])
    if run_dir is not None:
        load_weights(generator.module, run_dir / "last.safetensors")
    (noise,) = generator.input_names
    with torch.no_grad():
        fakes = generator.module.eval()(torch.randn(512, *doc.nodes[noise].params["shape"]))
    real = load_dataset(doc.training["dataset"], doc.training["seed"]).val.tensors[0]
    return float((fakes.std(0) - real.std(0)).pow(2).mean())


def test_a_template_trains_on_the_cpu_and_its_loss_falls(trained):
    name, doc, run_dir, events = trained
    steps, epochs = of_type(events, "step"), of_type(events, "epoch")
    assert len(epochs) == EPOCHS and all(math.isfinite(e["train_loss"]) for e in epochs)
    if doc.training.get("mode") == "gan":  # neither loss need fall: each network trains against the other
        fresh, learned = (_spread_gap(doc, run_dir if trained else None) for trained in (False, True))
        assert learned < 0.75 * fresh, f"{name}: fakes vary per pixel unlike the data: {fresh:.3f} → {learned:.3f}"
        return
    first, last = steps[0]["loss"], epochs[-1]["train_loss"]
    assert last < first, f"{name}: loss {first:.4f} at step 1, {last:.4f} over the last epoch"


def test_a_trained_template_exports_to_onnx_with_parity(trained, tmp_path):
    name, doc, run_dir, _ = trained
    result = export_all(doc, onnx=tmp_path / f"{name}.onnx", weights=run_dir)
    assert result.onnx.passed, result.onnx.summary()
    assert not result.warnings, result.warnings  # trained weights: nothing to warn about


@pytest.mark.parametrize("trained", GANS, indirect=True)
def test_a_gan_exports_its_generator_alone(trained, tmp_path, capsys):
    name, doc, run_dir, _ = trained
    generator, discriminator = doc.training["gan"]["generator"], doc.training["gan"]["discriminator"]
    path = tmp_path / "generator.onnx"
    assert main(["export", str(EXAMPLES / f"{name}.json"), "--weights", str(run_dir), "--onnx", str(path),
                 "--output", generator]) == 0
    assert "ONNX parity passed" in capsys.readouterr().out
    model = onnx.load(str(path))
    (noise,) = [i.name for i in model.graph.input]
    assert doc.nodes[noise].params["source"] == "noise"
    assert [o.name for o in model.graph.output] == [generator]
    assert not {n.name.split("/")[1] for n in model.graph.node if n.name.startswith("/")} & {discriminator}
    compiled = compile_graph(doc, with_loss=False, outputs=[generator])
    load_weights(compiled.module, run_dir / "last.safetensors")
    z = torch.randn(7, *doc.nodes[noise].params["shape"])
    with torch.no_grad():
        expected = compiled.module.eval()(z).numpy()
    (got,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {noise: z.numpy()})
    (real,) = [n for n, node in doc.nodes.items() if node.type_id == "Input" and node.params.get("source") == "data"]
    assert got.shape == (7, *doc.nodes[real].params["shape"])
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-3)
    assert main(["export", str(EXAMPLES / f"{name}.json"), "--onnx", str(tmp_path / "x.onnx"),
                 "--output", "nothing"]) == 1
    assert f"'nothing' is not an Output node of the graph — choose one of {generator}" in capsys.readouterr().err
