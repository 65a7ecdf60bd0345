"""Task kinds (engine/tasks): each kind's epoch metrics and artifacts exist, sit on disk and mean something."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from train_harness import example, iris_mlp, of_type, run

from engine.cli import main
from engine.compile import compile_graph
from engine.data import load_dataset
from engine.document import Edge, GraphDocument
from engine.export.weights import inference_graph, load_weights
from engine.tasks import KINDS, TaskKind, TaskReport, report
from engine.tasks.adversarial import GRID
from engine.tasks.artifacts import image_grid
from engine.tasks.base import SUBSET
from engine.tasks.language import TOKENS
from engine.train.setup import noise_batch


def trained(tmp_path_factory, name, doc):
    run_dir = tmp_path_factory.mktemp(name)
    result, events = run(doc, run_dir)
    assert result.state == "finished", result.message
    return doc, run_dir, events


def artifacts(events, tag):
    return [e for e in of_type(events, "artifact") if e["tag"] == tag]


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    return trained(tmp_path_factory, "mlp", example("digits_mlp", epochs=1))


@pytest.fixture(scope="module")
def autoencoder(tmp_path_factory):
    return trained(tmp_path_factory, "ae", example("digits_autoencoder", epochs=3))


@pytest.fixture(scope="module")
def gan(tmp_path_factory):
    return trained(tmp_path_factory, "gan", example("digits_gan", epochs=2))


@pytest.fixture(scope="module")
def language(tmp_path_factory):
    return trained(tmp_path_factory, "lm", example("text_transformer", epochs=1))


def test_every_kind_is_registered_once():
    assert set(KINDS) == {"plain", "classification", "regression", "reconstruction", "adversarial", "language_model"}


def test_a_confusion_cell_lists_exactly_the_samples_counted_in_it(classifier):
    doc, run_dir, events = classifier
    (event,) = artifacts(events, "confusion")
    data = event["data"]
    assert event["kind"] == "data" and json.loads((run_dir / event["path"]).read_text()) == data
    counts = np.array(data["confusion"])
    split = load_dataset(doc.training["dataset"], doc.training["seed"])
    x, y = split.val.tensors
    assert counts.sum() == len(y) == 360 and len(data["class_names"]) == 10  # the whole validation split
    (epoch,) = of_type(events, "epoch")
    assert counts.trace() / counts.sum() == pytest.approx(epoch["val_accuracy"])  # the accuracy plot's point
    with torch.no_grad():
        predicted = inference_graph(doc, run_dir / "last.safetensors").module(x).argmax(-1)
    for t in range(10):
        assert data["misclassified"][t][t] == []
        assert data["per_class_accuracy"][t] == pytest.approx(counts[t, t] / counts[t].sum())
        for p in range(10):
            if t != p:
                cell = data["misclassified"][t][p]
                assert len(cell) == counts[t, p]
                assert all(y[i] == t and predicted[i] == p for i in cell)
    assert counts.trace() == (predicted == y).sum()


def test_a_long_run_writes_the_confusion_matrix_of_every_epoch(monkeypatch, tmp_path):
    monkeypatch.setattr(report, "EVERY_EPOCH_UP_TO", 2)  # a long run: other artifacts are throttled by wall time
    _, events = run(iris_mlp(epochs=4), tmp_path / "direct")
    written = artifacts(events, "confusion")
    accuracies = [e["val_accuracy"] for e in of_type(events, "epoch")]
    assert [e["epoch"] for e in written] == [1, 2, 3, 4]
    counts = [np.array(e["data"]["confusion"]) for e in written]
    assert all(c.sum() == 30 for c in counts)  # iris: 30 validation samples, every one counted
    assert [c.trace() / 30 for c in counts] == pytest.approx(accuracies)
    _, resumed = run(iris_mlp(epochs=6), tmp_path / "direct", resume=True)  # and after a resume
    assert [e["epoch"] for e in artifacts(resumed, "confusion")] == [1, 2, 3, 4, 5, 6]

    # Under DDP the validation pass sees a shard: the report then classifies the whole split itself
    monkeypatch.setattr(TaskReport, "classified", lambda self, *args: None)
    _, again = run(iris_mlp(epochs=4), tmp_path / "own pass")
    assert [e["data"] for e in artifacts(again, "confusion")] == [e["data"] for e in written]


def test_a_sequence_classifier_is_a_classification_kind(tmp_path):
    _, events = run(example("sequence_lstm", epochs=1), tmp_path)
    (event,) = artifacts(events, "confusion")
    assert np.array(event["data"]["confusion"]).sum() == 2000 * 0.2  # every validation sequence


def test_a_reconstruction_error_falls_and_its_images_are_written(autoencoder):
    _, run_dir, events = autoencoder
    errors = [e["metrics"]["reconstruction_error"] for e in of_type(events, "epoch")]
    assert errors[-1] < errors[0]
    grids, projections = artifacts(events, "reconstructions"), artifacts(events, "bottleneck_pca")
    assert [e["epoch"] for e in grids] == [e["epoch"] for e in projections] == [1, 2, 3]
    with Image.open(run_dir / grids[-1]["path"]) as image:
        assert image.mode == "L" and image.height == image.width  # 4 × 4 cells: rows of inputs, each over its rebuilds
        cells = np.asarray(image)
    cell = cells.shape[1] // 4  # about one cell with its gap
    inputs, rebuilt, other = (cells[r * cell:(r + 1) * cell].astype(float) for r in (0, 1, 2))
    assert np.abs(inputs - rebuilt).mean() < np.abs(inputs - other).mean()  # the row below is the same digits
    with Image.open(run_dir / projections[-1]["path"]) as image:
        assert len(np.unique(np.asarray(image).reshape(-1, 3), axis=0)) > 3  # dots of several label colours on white


def test_an_image_grid_on_a_value_range_saturates_beyond_it():
    images = torch.tensor([-5.0, 0.0, 0.5, 1.0, 9.0]).reshape(5, 1, 1, 1)  # five 1×1 images
    grid = np.asarray(image_grid(images, 5, (0.0, 1.0)))
    zoom = grid.shape[0] // 3  # one row of cells with 1 px gaps around, scaled up
    assert [grid[zoom + zoom // 2, (1 + 2 * i) * zoom + zoom // 2] for i in range(5)] == [0, 0, 128, 255, 255]


def test_a_gan_grid_comes_from_the_same_noise_and_changes_between_epochs(gan):
    doc, run_dir, events = gan
    grids = artifacts(events, "samples")
    assert [e["epoch"] for e in grids] == [1, 2]
    first, last = (np.asarray(Image.open(run_dir / e["path"])) for e in grids)
    assert first.shape == last.shape and not np.array_equal(first, last)
    generator = compile_graph(doc, with_loss=False, outputs=["fake"])
    load_weights(generator.module, run_dir / "last.safetensors")
    noise = torch.Generator().manual_seed(doc.training["seed"])
    with torch.no_grad():
        fake = generator.module.eval()(noise_batch(generator, "noise", GRID * GRID, torch.device("cpu"), noise))
    real = load_dataset(doc.training["dataset"], doc.training["seed"]).val.tensors[0][:SUBSET]
    shown = (float(real.min()), float(real.max()))  # drawn on the real images' value range
    assert np.array_equal(np.asarray(image_grid(fake, GRID, shown)), last)  # the run's fixed noise, regenerated
    for epoch in of_type(events, "epoch"):
        assert 0 < epoch["metrics"]["d_real"] < 1 and 0 < epoch["metrics"]["d_fake"] < 1
        assert set(epoch["losses"]) == {"generator", "discriminator"}


def test_a_language_model_reports_perplexity_and_generates_vocabulary_text(language):
    doc, run_dir, events = language
    (epoch,) = of_type(events, "epoch")
    assert 1 < epoch["metrics"]["perplexity"] < 61  # below a uniform guess over the 61 characters
    (event,) = artifacts(events, "generated")
    vocab = json.loads((run_dir / "data.json").read_text())["raw"]["vocab"]
    assert (run_dir / event["path"]).read_text() == event["text"]
    assert len(event["text"]) == 64 + TOKENS and set(event["text"]) <= set(vocab)


def test_generate_writes_the_asked_number_of_vocabulary_characters_and_is_seedable(language, capsys):
    _, run_dir, _ = language
    vocab = json.loads((run_dir / "data.json").read_text())["raw"]["vocab"]
    command = ["generate", str(run_dir), "--prompt", "the ", "--tokens", "40", "--seed", "3"]
    texts = []
    for _ in range(2):
        assert main(command) == 0
        texts.append(capsys.readouterr().out.rstrip("\n"))
    assert texts[0] == texts[1] and texts[0].startswith("the ")
    assert len(texts[0]) == 4 + 40 and set(texts[0]) <= set(vocab)
    assert main([*command[:3], "the ~\u00e9", "--tokens", "5"]) == 1
    assert "not in the model's vocabulary" in capsys.readouterr().err


def test_generate_refuses_a_run_without_a_vocabulary(classifier, capsys):
    assert main(["generate", str(classifier[1]), "--prompt", "a"]) == 1
    assert "no text vocabulary" in capsys.readouterr().err


def test_regression_reports_mae_rmse_and_predicted_against_true(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3)).astype(np.float32)
    np.savez(tmp_path / "reg.npz", x=x, y=(x @ np.array([[1.0], [-2.0], [0.5]], np.float32)))
    doc = GraphDocument("regression")
    doc.add_node("Input", {"shape": [3], "dtype": "float32"}, node_id="input1")
    doc.add_node("Linear", {"out_features": 1}, node_id="fc1")
    doc.add_node("Output", node_id="output1")
    doc.add_node("Target", {"shape": [1], "dtype": "float32"}, node_id="target1")
    doc.add_node("MSELoss", node_id="loss1")
    for edge in [("input1", "out", "fc1", "in"), ("fc1", "out", "output1", "in"), ("fc1", "out", "loss1", "pred"),
                 ("target1", "out", "loss1", "target")]:
        doc.add_edge(Edge(*edge))
    doc.training = {**iris_mlp().training, "dataset": {"name": "npz", "path": str(tmp_path / "reg.npz")},
                    "epochs": 2}
    _, events = run(doc, tmp_path / "run")
    metrics = [e["metrics"] for e in of_type(events, "epoch")]
    assert all(0 < m["mae"] <= m["rmse"] for m in metrics)
    (first, last) = artifacts(events, "predicted_vs_true")
    assert len(last["data"]["true"]) == len(last["data"]["predicted"]) == 40  # the 20 % validation part
    assert first["data"]["true"] == last["data"]["true"] and first["data"]["predicted"] != last["data"]["predicted"]


def test_a_long_run_throttles_its_artifacts_by_wall_time_but_keeps_the_last(monkeypatch, tmp_path):
    class Drawn(TaskKind):
        def artifacts(self, setup, sample, out):
            written.append(out.epoch)

    class Setup:
        class config:
            epochs = 100

        class dist:
            is_main, active = True, False

        model = torch.nn.Identity()
        device = torch.device("cpu")

    written, clock = [], iter([0.0, 10.0, 31.0, 40.0, 41.0])
    monkeypatch.setattr(report.time, "monotonic", lambda: next(clock))
    tasks = TaskReport(Drawn(), Setup, tmp_path, None)
    tasks._sample = object()  # no data needed
    for epoch in range(1, 6):
        tasks.artifacts(epoch, epoch * 10, final=epoch == 5)
    assert written == [1, 3, 5]
