"""Unsupervised training: an autoencoder's loss compares its output with its own Input (no Target)."""

import pytest
import torch
import torch.nn.functional as F
from train_harness import of_type, run, small_graph

import engine.train.setup as train_setup
from engine.compile import compile_graph
from engine.data import load_dataset
from engine.document import Edge
from engine.errors import DataError
from engine.export.weights import load_weights
from engine.train.worker import evaluate


def autoencoder(**training):
    return small_graph("mlp_autoencoder", **training)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("autoencoder")
    doc = autoencoder(epochs=4)
    return doc, run_dir, *run(doc, run_dir)


def test_autoencoder_reconstructs_far_better_than_predicting_zeros(trained):
    doc, run_dir, result, events = trained
    assert result.state == "finished"
    x_val = load_dataset(doc.training["dataset"], seed=0).val.tensors[0]
    zeros_mse = float(x_val.pow(2).mean())  # standardised digits: about 1
    assert 0.8 < zeros_mse < 1.2
    epochs = of_type(events, "epoch")
    assert epochs[-1]["val_loss"] < 0.6 * zeros_mse and epochs[-1]["val_loss"] < epochs[0]["val_loss"]
    assert all(e["train_accuracy"] is None and e["val_accuracy"] is None for e in epochs)

    # torch as the oracle: the reported val_loss is the saved model's reconstruction MSE on validation
    compiled = compile_graph(doc, with_loss=False)
    load_weights(compiled.module, run_dir / "last.safetensors")
    with torch.no_grad():
        reconstruction = compiled.module.eval()(x_val)
    assert reconstruction.shape == x_val.shape
    assert F.mse_loss(reconstruction, x_val).item() == pytest.approx(epochs[-1]["val_loss"], rel=1e-4)


def test_step_events_cover_encoder_and_decoder_with_one_loss(trained):
    _, _, result, events = trained
    steps = of_type(events, "step")
    assert steps[-1]["step"] == result.step == 4 * 23
    for e in steps:
        assert set(e["layer_grad_norms"]) == {"fc1", "bottleneck", "fc2", "fc3"}
        assert "losses" not in e and e["loss"] > 0


def test_evaluate_shows_samples_without_a_confusion_matrix(trained):
    doc, run_dir, _, _ = trained
    reply = evaluate(doc, str(run_dir), None, None)
    assert reply["confusion"] == [] and reply["accuracy"] is None
    assert reply["samples"] and reply["samples"][0]["shape"] == [1, 8, 8] and reply["samples"][0]["top"] == []


def test_the_input_must_still_fit_the_dataset(tmp_path):
    doc = autoencoder(epochs=1)
    doc.set_param("input1", "shape", [64])
    doc.set_param("reshape1", "shape", [64])
    with pytest.raises(DataError, match=r"input1 \(Input\): dataset 'digits' gives \(N, 1, 8, 8\) float32, but "
                                         r"input1 is \(N, 64\)"):
        run(doc, tmp_path)


def test_a_second_data_input_is_refused_by_name(tmp_path):
    doc = autoencoder(epochs=1)
    doc.add_node("Input", {"shape": [1, 8, 8]}, node_id="input2")
    doc.add_node("MSELoss", node_id="loss2")
    doc.add_edge(("input2", "out", "loss2", "pred"))
    doc.add_edge(("reshape1", "out", "loss2", "target"))
    with pytest.raises(DataError, match=r"exactly one data Input.*\[input1, input2\]"):
        run(doc, tmp_path)


def test_a_noise_input_is_sampled_afresh_every_step_of_a_denoising_autoencoder(tmp_path, monkeypatch):
    doc = autoencoder(epochs=1)  # corrupt the input with N(0, 1) noise; reconstruct the clean image
    doc.add_node("Input", {"shape": [1, 8, 8], "source": "noise"}, node_id="noise1")
    doc.add_node("Add", node_id="add1")
    doc.remove_edge(Edge("input1", "out", "flatten1", "in"))
    for edge in [("input1", "out", "add1", "a"), ("noise1", "out", "add1", "b"), ("add1", "out", "flatten1", "in")]:
        doc.add_edge(Edge(*edge))
    drawn = []

    def noise_batch(*args, **kwargs):
        drawn.append(real_noise_batch(*args, **kwargs))
        return drawn[-1]

    real_noise_batch = train_setup.noise_batch
    monkeypatch.setattr(train_setup, "noise_batch", noise_batch)
    result, _ = run(doc, tmp_path)
    # each training step, then 6 validation batches, then the reconstruction kind's metrics and artifacts
    assert result.state == "finished" and len(drawn) == 23 + 6 + 2
    assert drawn[0].shape == (64, 1, 8, 8) and not torch.equal(drawn[0], drawn[1])
    assert abs(drawn[0].mean().item()) < 0.15 and 0.85 < drawn[0].std().item() < 1.15
