"""Published weights fetched through their library (`layerloom weights fetch`), mapped onto a graph by name, and
the ResNet-18 template starting from them. torchvision is a fake here (tests/fake_zoo.py): nothing downloads."""

from __future__ import annotations

import shutil
import sys
import types

import pytest
import torch
import tqdm.std
from fake_zoo import SOURCE, fake_torchvision, published_state
from train_harness import EXAMPLES, of_type, run

from engine.cli import main
from engine.config import TrainingConfig
from engine.download_watch import DownloadCancelled, watching
from engine.errors import ConfigError
from engine.export.weights import read_weights
from engine.fileformat import load_document, save_document
from engine.published_weights import PublishedSourceError, fetch_state_dict, parse_source
from engine.trainability import unfetched_weights
from engine.validate import validate

TEMPLATE = EXAMPLES / "finetune_resnet18.json"


@pytest.fixture
def zoo(tmp_path):
    with fake_torchvision(tmp_path / "site"):
        yield


@pytest.fixture
def graph(tmp_path):
    path = tmp_path / "resnet18.json"
    shutil.copy(TEMPLATE, path)
    return path


def test_sources_are_read_and_refused_with_what_to_write():
    assert str(parse_source("torchvision:resnet18")) == "torchvision:resnet18"
    assert parse_source("torchvision:resnet18:IMAGENET1K_V1").variant == "IMAGENET1K_V1"
    assert parse_source("timm:resnet18.a1_in1k").name == "resnet18.a1_in1k"
    assert parse_source("hf:google-bert/bert-base-uncased").package == "transformers"
    for text, expected in (("resnet18", "expected torchvision:resnet18"), ("hf:bert", "hf:owner/name"),
                           ("torchvision:resnet18:1x", "torchvision:MODEL[:WEIGHTS]"), ("pip:x", "timm:")):
        with pytest.raises(PublishedSourceError, match=expected.replace("[", r"\[")):
            parse_source(text)
    assert TrainingConfig.from_dict({"pretrained": "torchvision:resnet18"}).pretrained == "torchvision:resnet18"
    with pytest.raises(ConfigError, match="training.pretrained: 'hf:bert'"):
        TrainingConfig.from_dict({"pretrained": "hf:bert"})


def test_fetching_maps_every_tensor_of_a_full_resnet18(zoo, graph, capsys):
    doc = load_document(graph)
    doc.set_param("fc", "out_features", 1000)  # torchvision's own head: every published tensor has its place
    save_document(doc, graph)
    assert main(["weights", "fetch", str(graph), "torchvision:resnet18"]) == 0
    out = capsys.readouterr().out
    published = published_state()
    assert f"{len(published)} tensors matched" in out
    assert not any(word in out for word in ("wrong shape", "missing:", "unused:"))
    doc = load_document(graph)
    assert doc.training["init_weights"] == "resnet18.weights.safetensors"
    assert doc.training["pretrained"] == SOURCE  # the default, pinned to the weights it stands for
    written = read_weights(graph.with_name("resnet18.weights.safetensors"))
    assert len(written) == len(published)
    assert torch.equal(written["conv1.weight"], published["conv1.weight"])
    assert torch.equal(written["layer4_1.bn2.running_var"], published["layer4.1.bn2.running_var"])
    assert torch.equal(written["fc.weight"], published["fc.weight"])


def test_the_template_says_it_has_no_weights_yet_and_trains_from_the_fetched_ones(zoo, graph, tmp_path, capsys):
    doc = load_document(graph)
    assert validate(doc).ok
    (warning,) = unfetched_weights(doc)
    assert warning.severity == "warning" and SOURCE in warning.message and "random weights" in warning.message

    assert main(["weights", "fetch", str(graph), SOURCE]) == 0
    out = capsys.readouterr().out
    published = published_state()
    assert f"{len(published) - 2} tensors matched" in out  # all but the head, replaced for the template's classes
    assert "wrong shape: fc.weight is [1000, 512]" in out and "wrong shape: fc.bias" in out
    doc = load_document(graph)
    assert not unfetched_weights(doc)

    # a short run on small pictures: the frozen backbone keeps the fetched tensors, the new head learns
    doc.set_param("x", "shape", [3, 16, 16])
    doc.training.update({"epochs": 1, "device": "cpu", "batch_size": 32,
                         "dataset": {**doc.training["dataset"], "image_size": [16, 16], "val_split": 0.9}})
    result, events = run(doc, tmp_path / "run", base_dir=graph.parent)
    assert result.state == "finished", result.message
    after = read_weights(tmp_path / "run" / "last.safetensors")
    for key, name in (("conv1.weight", "conv1.weight"), ("layer1.0.conv1.weight", "layer1.0.conv1.weight"),
                      ("layer3_0.downsample_0.weight", "layer3.0.downsample.0.weight"),
                      ("bn1.running_mean", "bn1.running_mean")):
        assert torch.equal(after[key], published[name]), key
    assert after["fc.weight"].shape == (10, 512)
    warnings = " ".join(e["message"] for e in of_type(events, "warning"))
    assert "fc.weight" in warnings and "no pretrained weights yet" not in warnings


def test_a_run_without_fetched_weights_warns_and_starts_from_random_ones(tmp_path):
    doc = load_document(TEMPLATE)
    doc.set_param("x", "shape", [3, 16, 16])
    doc.training.update({"epochs": 1, "device": "cpu", "batch_size": 32,
                         "dataset": {**doc.training["dataset"], "image_size": [16, 16], "val_split": 0.95}})
    result, events = run(doc, tmp_path / "run")
    assert result.state == "finished", result.message
    warnings = [e["message"] for e in of_type(events, "warning")]
    assert any("no pretrained weights yet" in message and SOURCE in message for message in warnings)


def test_progress_is_reported_and_cancel_stops_the_download(zoo):
    seen = []
    with watching(lambda *progress: seen.append(progress)):
        fetched = fetch_state_dict("torchvision:resnet18")
    assert str(fetched.source) == SOURCE
    total = seen[-1][2]
    assert len(seen) == 4 and total > 40e6 and [done for _, done, _ in seen] == [total // 4 * i for i in range(1, 5)]
    patched = tqdm.std.tqdm.update
    with pytest.raises(DownloadCancelled), watching(lambda *progress: None, cancelled=lambda: True):
        fetch_state_dict("torchvision:resnet18")
    assert tqdm.std.tqdm.update is patched  # put back after the watch


def test_unknown_names_and_a_missing_library_say_what_to_do(zoo, graph, monkeypatch, capsys):
    assert main(["weights", "fetch", str(graph), "torchvision:resnet99"]) == 1
    assert "torchvision publishes no model 'resnet99'" in capsys.readouterr().err
    assert main(["weights", "fetch", str(graph), "torchvision:resnet18:IMAGENET9K"]) == 1
    assert "it publishes IMAGENET1K_V1" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "timm", None)  # not installed
    assert main(["weights", "fetch", str(graph), "timm:resnet18.a1_in1k"]) == 2
    assert "pip install 'layerloom[models]'" in capsys.readouterr().err
    assert "init_weights" not in load_document(graph).training  # nothing written


def test_timm_and_the_hugging_face_hub_go_through_their_libraries(monkeypatch):
    asked = []

    def model(*args, **kwargs):
        asked.append((args, kwargs))
        return torch.nn.Linear(3, 2)

    timm = types.SimpleNamespace(is_model=lambda name: name == "resnet18", create_model=model)
    transformers = types.SimpleNamespace(AutoModel=types.SimpleNamespace(from_pretrained=model))
    monkeypatch.setitem(sys.modules, "timm", timm)
    monkeypatch.setitem(sys.modules, "transformers", transformers)
    assert set(fetch_state_dict("timm:resnet18.a1_in1k").state) == {"weight", "bias"}
    assert set(fetch_state_dict("hf:owner/tiny").state) == {"weight", "bias"}
    assert asked == [(("resnet18.a1_in1k",), {"pretrained": True}), (("owner/tiny",), {})]
    with pytest.raises(PublishedSourceError, match="timm knows no model 'convnext9'"):
        fetch_state_dict("timm:convnext9")
