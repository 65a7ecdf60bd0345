"""GAN mode: a generator and a discriminator on one canvas, trained against each other (gan.py)."""

import json
import math
import subprocess
import sys
import threading

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file
from train_harness import EXAMPLES, of_type, run, small_graph

import engine.train.gan as gan
from engine.compile import compile_graph
from engine.config import ConfigError, TrainingConfig
from engine.data import load_dataset
from engine.errors import DataError
from engine.export.weights import load_weights
from engine.fileformat import load_document, to_dict
from engine.train.checkpoint_files import read_metadata
from engine.train.distributed import Distributed
from engine.train.worker import evaluate

GENERATOR = ("gen_fc1", "gen_fc2", "gen_fc3")
DISCRIMINATOR = ("disc_fc1", "disc_fc2", "disc_fc3")


def gan_doc(**training):
    return small_graph("mlp_gan", **training)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("gan")
    doc = gan_doc(epochs=3)
    return doc, run_dir, *run(doc, run_dir)


def test_trains_without_nan_and_reports_both_losses(trained):
    doc, run_dir, result, events = trained
    assert result.state == "finished" and result.step == 3 * 23 and result.best is None
    steps = of_type(events, "step")
    assert steps[0]["step"] == 1 and steps[-1]["step"] == result.step
    for e in steps:
        losses = e["losses"]
        assert set(losses) == {"generator", "discriminator"} and e["loss"] == losses["generator"]
        assert all(math.isfinite(v) and v > 0 for v in losses.values())
        assert set(e["layer_grad_norms"]) == {*GENERATOR, *DISCRIMINATOR}
        squares = sum(v * v for v in e["layer_grad_norms"].values())
        assert e["grad_norm"] == pytest.approx(squares ** 0.5, rel=1e-4)
    for e in of_type(events, "epoch"):
        assert e["train_loss"] == e["losses"]["generator"] and math.isfinite(e["val_loss"])
        assert e["train_accuracy"] is None and e["val_accuracy"] is None
    assert {e["tag"] for e in of_type(events, "checkpoint")} == {"last"}  # no loss measures sample quality


def test_the_discriminator_does_not_simply_win(trained):
    doc, run_dir, result, _ = trained
    compiled = compile_graph(doc, with_loss=False)  # what export sees: (noise, real) → (fake, real_logit)
    assert (compiled.input_names, compiled.output_names) == (["noise", "real"], ["fake", "real_logit"])
    load_weights(compiled.module, run_dir / "last.safetensors")  # one weights file holds both networks
    x = load_dataset(doc.training["dataset"], seed=0).val.tensors[0]
    torch.manual_seed(1)
    with torch.no_grad():
        fake, real_logit = compiled.module.eval()(torch.randn(len(x), 16), x)
        _, fake_logit = compiled.module(torch.randn(len(x), 16), fake)
    assert fake.shape == x.shape and real_logit.shape == (len(x), 1)
    accuracy = torch.cat([real_logit > 0, fake_logit < 0]).float().mean().item()
    assert 0.5 <= accuracy < 0.95, accuracy
    assert result.metrics["losses"]["generator"] < 5


@pytest.fixture(scope="module")
def two_steps(tmp_path_factory):
    """A run stopped after two steps, with its initial weights, noise batches and discriminator inputs."""
    run_dir = tmp_path_factory.mktemp("two_steps")
    initial, noise, judged = {}, [], []
    real_compile, real_noise, real_judge = gan.compile_graph, gan.noise_batch, gan.GanSetup.discriminate

    def compile_graph(*args, **kwargs):
        compiled = real_compile(*args, **kwargs)
        initial.update({k: v.clone() for k, v in compiled.module.state_dict().items()})
        return compiled

    def noise_batch(*args, **kwargs):
        noise.append(real_noise(*args, **kwargs))
        return noise[-1]

    def discriminate(setup, x):
        judged.append(x.detach().clone())
        return real_judge(setup, x)

    stop = threading.Event()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gan, "compile_graph", compile_graph)
        patch.setattr(gan, "noise_batch", noise_batch)
        patch.setattr(gan.GanSetup, "discriminate", discriminate)
        result, events = run(gan_doc(), run_dir, stop=stop, on_event=lambda e: e["type"] == "step" and stop.set())
    assert result.state == "stopped" and result.step == 2
    return run_dir, events, initial, noise, judged


def test_noise_inputs_are_sampled_afresh_every_step(two_steps):
    _, _, _, noise, _ = two_steps
    first, second = noise[:2]  # one draw per step (validation draws from its own seeded generator)
    assert first.shape == second.shape == (64, 16) and not torch.equal(first, second)
    for z in (first, second):
        assert abs(z.mean().item()) < 0.1 and 0.9 < z.std().item() < 1.1


def reference_networks(state: dict) -> tuple[nn.Module, nn.Module]:
    """The example's two networks written by hand, loaded with the trainer's initial weights."""
    generator = nn.Sequential(nn.Linear(16, 64), nn.LeakyReLU(0.2), nn.Linear(64, 128), nn.LeakyReLU(0.2),
                              nn.Linear(128, 64), nn.Unflatten(1, (1, 8, 8)))
    discriminator = nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.LeakyReLU(0.2), nn.Linear(128, 64),
                                  nn.LeakyReLU(0.2), nn.Linear(64, 1))
    for network, names, first in ((generator, GENERATOR, 0), (discriminator, DISCRIMINATOR, 1)):
        for i, name in enumerate(names):
            network[first + 2 * i].load_state_dict({"weight": state[f"{name}.weight"], "bias": state[f"{name}.bias"]})
    return generator, discriminator


def test_each_step_is_the_standard_non_saturating_gan_update(two_steps):
    run_dir, events, initial, noise, judged = two_steps
    generator, discriminator = reference_networks(initial)
    adam = {"lr": 0.0005, "betas": (0.5, 0.999)}
    g_opt, d_opt = (torch.optim.Adam(network.parameters(), **adam) for network in (generator, discriminator))
    ones, zeros = torch.ones(64, 1), torch.zeros(64, 1)
    for step in range(2):
        x, z = judged[3 * step], noise[step]  # per step D judges x, then fake twice
        fake = generator(z)
        d_loss = (F.binary_cross_entropy_with_logits(discriminator(x), ones)
                  + F.binary_cross_entropy_with_logits(discriminator(fake.detach()), zeros))
        d_opt.zero_grad()
        d_loss.backward()
        d_opt.step()
        d_grads = {name: torch.cat([p.grad.flatten() for p in discriminator[1 + 2 * i].parameters()]).norm().item()
                   for i, name in enumerate(DISCRIMINATOR)}
        g_loss = F.binary_cross_entropy_with_logits(discriminator(fake), ones)
        g_opt.zero_grad()
        g_loss.backward()
        g_opt.step()
        event = of_type(events, "step")[step]
        assert event["losses"] == pytest.approx({"generator": g_loss.item(), "discriminator": d_loss.item()},
                                                rel=1e-5)
        # D's gradients at the log point are those of its own update, not of the generator's
        assert {name: event["layer_grad_norms"][name] for name in DISCRIMINATOR} == pytest.approx(d_grads, rel=1e-4)
    saved = load_file(str(run_dir / "last.safetensors"))
    mine = {**{f"{n}.{k}": v for n, i in zip(GENERATOR, (0, 2, 4), strict=True)
               for k, v in generator[i].state_dict().items()},
            **{f"{n}.{k}": v for n, i in zip(DISCRIMINATOR, (1, 3, 5), strict=True)
               for k, v in discriminator[i].state_dict().items()}}
    assert saved.keys() == mine.keys()
    for key, value in mine.items():
        torch.testing.assert_close(saved[key], value, rtol=1e-5, atol=1e-6)


def test_resume_continues_exactly_like_an_uninterrupted_run(tmp_path):
    doc = gan_doc(epochs=2)
    full, _ = run(doc, tmp_path / "full")
    stop = threading.Event()  # stop after the first step of epoch 2
    first, _ = run(doc, tmp_path / "cut", stop=stop, on_event=lambda e: e["type"] == "epoch" and stop.set())
    assert first.state == "stopped" and first.step == 24
    resumed, events = run(doc, tmp_path / "cut", resume=True)
    assert resumed.state == "finished" and resumed.step == full.step == 46
    def saved(run_dir):  # the weights, then both optimizers' moments and the RNG states
        weights = run_dir / "last.safetensors"
        return weights, run_dir / read_metadata(weights)["train"]

    for a_path, b_path in zip(saved(tmp_path / "full"), saved(tmp_path / "cut"), strict=True):
        a, b = load_file(str(a_path)), load_file(str(b_path))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), a_path.name
    assert any(k.startswith("optim/disc_fc1") for k in a) and any(k.startswith("optim/gen_fc1") for k in a)
    def numbers(metrics):  # the epoch means come from the partial sums kept at the stop
        return {k: v for k, v in {**metrics, **metrics["losses"]}.items() if isinstance(v, float | int)}

    assert numbers(resumed.metrics) == pytest.approx(numbers(full.metrics), rel=1e-5)
    assert set(numbers(full.metrics)) == {"epoch", "train_loss", "val_loss", "lr", "generator", "discriminator"}


@pytest.mark.parametrize("training, message", [
    ({"mode": "gan"}, "training.gan: gan mode needs {\"generator\""),
    ({"gan": {"generator": "fake", "discriminator": "real_logit"}}, "training.gan: only used in gan mode"),
    ({"mode": "gan", "gan": {"generator": "fake"}}, "training.gan.discriminator: expected a node id, got None"),
    ({"mode": "gan", "gan": {"generator": "fake", "discriminator": "fake"}},
     "training.gan.discriminator: must be another Output node than the generator's ('fake')"),
    ({"mode": "gan", "gan": {"generator": "fake", "discriminator": "real_logit", "critic": "x"}},
     "training.gan.critic: unknown setting"),
    ({"mode": "gan", "gan": {"generator": "fake", "discriminator": "real_logit"}, "early_stopping": {"patience": 3}},
     "training.early_stopping: a GAN's losses do not measure"),
    ({"mode": "wgan"}, "training.mode: expected one of supervised, gan"),
])
def test_bad_gan_settings_name_the_field(training, message):
    with pytest.raises(ConfigError) as info:
        TrainingConfig.from_dict(training)
    assert message in str(info.value)


def _unknown_generator(doc):
    doc.training["gan"]["generator"] = "gen_fc3"


def _two_logits(doc):
    doc.set_param("disc_fc3", "out_features", 2)


def _flat_fakes(doc):
    doc.set_param("gen_reshape", "shape", [64])


def _data_into_generator(doc):
    doc.set_param("noise", "source", "data")


def _loss_node(doc):
    doc.add_node("Target", {"shape": [1, 8, 8], "dtype": "float32"}, node_id="target1")
    doc.add_node("MSELoss", node_id="loss1")
    doc.add_edge(("gen_reshape", "out", "loss1", "pred"))
    doc.add_edge(("target1", "out", "loss1", "target"))


@pytest.mark.parametrize("edit, message", [
    (_unknown_generator, "training.gan.generator: 'gen_fc3' is not an Output node of the graph — name the Output of "
                         "the generator: one of fake, real_logit"),
    (_two_logits, "training.gan.discriminator: real_logit gets (N, 2) — the discriminator must give one logit per "
                  "sample, (N, 1)"),
    (_flat_fakes, "training.gan.generator: fake gets (N, 64), but the discriminator's Input real takes (N, 1, 8, 8)"),
    (_data_into_generator, "training.gan.generator: fake depends on noise, an Input of data — a generator starts "
                           "from noise"),
    (_loss_node, "training.gan: target1, loss1 belong to neither the generator (fake) nor the discriminator "
                 "(real_logit)"),
])
def test_graphs_that_are_not_a_gan_are_refused_naming_the_nodes(tmp_path, edit, message):
    doc = gan_doc(epochs=1)
    edit(doc)
    with pytest.raises(ConfigError) as info:
        run(doc, tmp_path)
    assert message in str(info.value)


def test_data_parallel_gan_training_is_refused():
    doc = gan_doc()
    with pytest.raises(ConfigError, match="training.mode: GANs train in one process"):
        gan.prepare_gan(doc, TrainingConfig.from_dict(doc.training), Distributed(world_size=2), "cpu", None)


def test_evaluate_says_a_gan_is_not_a_classifier(trained):
    doc, run_dir, _, _ = trained
    with pytest.raises(DataError, match="not a classifier.*noise, real"):
        evaluate(doc, str(run_dir), None, None)


@pytest.mark.slow
def test_the_worker_trains_a_gan_and_an_autoencoder(tmp_path):
    """The app's path: the headless worker runs both, then answers evaluate without crashing."""
    worker = subprocess.Popen([sys.executable, "-m", "engine.train.worker"], cwd=EXAMPLES.parents[1], text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def ask(**command) -> list[dict]:
        """Send a command; the messages up to its reply (which carries the command's id)."""
        worker.stdin.write(json.dumps(command) + "\n")
        worker.stdin.flush()
        messages = [json.loads(worker.stdout.readline())]
        while messages[-1].get("id") != command["id"]:
            messages.append(json.loads(worker.stdout.readline()))
        return messages

    try:
        assert json.loads(worker.stdout.readline())["type"] == "ready"
        replies = {}
        for name in ("digits_gan", "digits_autoencoder"):
            graph = to_dict(load_document(EXAMPLES / f"{name}.json"))
            messages = ask(cmd="train", graph=graph, run_dir=str(tmp_path / name), epochs=1, device="cpu", id=name)
            assert messages[-1]["type"] == "run_end" and messages[-1]["result"]["state"] == "finished", messages[-1]
            assert any("losses" in m for m in of_type(messages, "step")) == (name == "digits_gan")
            replies[name] = ask(cmd="evaluate", graph=graph, weights=str(tmp_path / name), id=name)[-1]
    finally:
        worker.communicate('{"cmd": "quit"}\n', timeout=30)
    gan_reply, autoencoder_reply = replies["digits_gan"], replies["digits_autoencoder"]
    assert gan_reply["type"] == "worker_error" and "not a classifier" in gan_reply["message"]
    assert "bug" not in gan_reply
    assert autoencoder_reply["type"] == "evaluation" and autoencoder_reply["accuracy"] is None
