"""Byte-level BPE text (engine/data/tokens.py, engine/data/text.py): a tokenizer trained on the bundled text
round-trips every sample, a tokenizer.json is read or refused by name, and the tokenizer travels with the run
and the ONNX export, so `generate` and `predict` decode with it."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from train_harness import example, run

from engine.cli import main
from engine.data import load_dataset
from engine.data.describe import describe_dataset
from engine.data.text import SHIPPED_TEXT
from engine.data.tokens import BpeCodec, CharCodec, codec_from_record
from engine.data_fit import data_checks
from engine.document import Edge, GraphDocument
from engine.errors import DataError
from engine.export.bundle import export_all
from engine.export.weights import inference_graph
from engine.validate import validate

BLOCK = 16
BPE = {"name": "text", "tokenizer": "bpe", "vocab_size": 300, "block_size": BLOCK}


@pytest.fixture(scope="module")
def split():
    return load_dataset(BPE, seed=0)


def test_a_tokenizer_trained_on_the_bundled_text_round_trips_every_sample(split):
    text = SHIPPED_TEXT.read_text(encoding="utf-8")
    codec = codec_from_record(split.record(BPE)["raw"])
    assert isinstance(codec, BpeCodec) and len(codec.vocab) == split.num_classes == 300
    encoding = codec.tokenizer.encode(text)
    ids, offsets = encoding.ids, encoding.offsets
    assert codec.decode(ids) == text and len(ids) < 0.75 * len(text)  # 44 merges: fewer tokens than characters
    cut = int(len(ids) * 0.8)
    for part, start, stride in ((split.train, 0, BLOCK // 4), (split.val, cut, BLOCK)):
        x, y = (t.numpy() for t in part.tensors)
        for i, (window, shifted) in enumerate(zip(x, y, strict=True)):
            first = start + i * stride
            assert window.tolist() == ids[first:first + BLOCK] and shifted.tolist() == ids[first + 1:first + BLOCK + 1]
            # the sample's tokens decode to exactly the stretch of the text they were cut from
            assert codec.decode(window.tolist()) == text[offsets[first][0]:offsets[first + BLOCK - 1][1]]
    sample = "Ünïcode — 漢字 and\ttabs\n\n  emoji 🦊 too"  # bytes never seen in the ASCII corpus still encode
    assert codec.decode(codec.encode(sample)) == sample


def test_training_is_deterministic_and_a_saved_tokenizer_json_reads_back(split, tmp_path):
    raw = split.record(BPE)["raw"]
    assert load_dataset(BPE, seed=1).record(BPE)["raw"]["tokenizer"] == raw["tokenizer"]
    (tmp_path / "tokenizer.json").write_text(json.dumps(raw["tokenizer"]), encoding="utf-8")
    loaded = load_dataset({"name": "text", "tokenizer": "bpe", "tokenizer_file": "tokenizer.json",
                           "block_size": BLOCK}, seed=0, base_dir=tmp_path)
    assert torch.equal(loaded.train.tensors[0], split.train.tensors[0]) and loaded.vocab == split.vocab


@pytest.mark.parametrize(("setting", "message"), [
    ({"tokenizer_file": "bad.json"}, "bad.json: not a tokenizer.json the tokenizers library reads"),
    ({"tokenizer_file": "missing.json"}, "missing.json: not found"),
    ({"tokenizer_file": "bad.json", "vocab_size": 300}, "'vocab_size' is the file's own when tokenizer_file is set"),
    ({"tokenizer": "chars", "tokenizer_file": "bad.json"}, "'tokenizer_file' applies to \"tokenizer\": \"bpe\" only"),
    ({"vocab_size": 100}, "'vocab_size' must be a whole number from 256"),
    ({"tokenizer": "words"}, "'tokenizer' must be one of chars, bpe"),
])
def test_bad_tokenizer_settings_are_refused_naming_the_setting_or_file(tmp_path, setting, message):
    (tmp_path / "bad.json").write_text('{"model": {"type": "NoSuchModel"}}', encoding="utf-8")
    with pytest.raises(DataError, match=message.replace("(", r"\(")):
        load_dataset({"name": "text", "tokenizer": "bpe", **setting}, seed=0, base_dir=tmp_path)


def test_characters_stay_the_default_and_their_record_has_no_tokenizer():
    split = load_dataset({"name": "text", "vocab_size": 300}, seed=0)  # kept, unused, when switched back
    raw = split.record({})["raw"]
    assert "tokenizer" not in raw and isinstance(codec_from_record(raw), CharCodec) and len(raw["vocab"]) == 61


@pytest.fixture(scope="module")
def bpe_run(tmp_path_factory):
    """A bigram model on BPE tokens of the bundled text: trained an epoch, exported with its preprocessing."""
    folder = tmp_path_factory.mktemp("bpe")
    doc = GraphDocument("bpe bigram")
    doc.add_node("Input", {"shape": [BLOCK], "dtype": "int64"}, node_id="input1")
    doc.add_node("Embedding", {"num_embeddings": 300, "embedding_dim": 16}, node_id="emb1")
    doc.add_node("Linear", {"out_features": 300}, node_id="fc1")
    doc.add_node("Output", node_id="output1")
    doc.add_node("Target", {"shape": [BLOCK], "dtype": "int64"}, node_id="target1")
    doc.add_node("CrossEntropyLoss", node_id="loss1")
    for edge in [("input1", "out", "emb1", "in"), ("emb1", "out", "fc1", "in"), ("fc1", "out", "output1", "in"),
                 ("fc1", "out", "loss1", "pred"), ("target1", "out", "loss1", "target")]:
        doc.add_edge(Edge(*edge))
    doc.training = {"dataset": {**BPE, "stride": BLOCK}, "optimizer": {"name": "adam", "lr": 0.02}, "epochs": 1,
                    "batch_size": 64, "device": "cpu"}
    result, _ = run(doc, folder / "run")
    assert result.state == "finished", result.message
    export_all(doc, onnx=folder / "lm.onnx", weights=folder / "run")
    return doc, folder


def greedy(scores, codec, prompt: str, tokens: int) -> str:
    """The likeliest token `tokens` times, by hand: `scores(ids (1, T)) → (1, T, V)`."""
    ids = codec.encode(prompt)
    for _ in range(tokens):
        ids.append(int(np.argmax(scores(np.array([ids[-BLOCK:]], dtype=np.int64))[0, -1])))
    return codec.decode(ids)


def test_the_tokenizer_travels_to_the_export_and_predict_decodes_with_it(bpe_run, capsys):
    _, folder = bpe_run
    data = json.loads((folder / "run" / "data.json").read_text())
    props = {p.key: p.value for p in onnx.load(str(folder / "lm.onnx")).metadata_props}
    prep = json.loads(props["layerloom.preprocessing"])
    assert prep["kind"] == "text" and prep["tokenizer"] == data["raw"]["tokenizer"]
    codec = codec_from_record(prep)
    session = ort.InferenceSession(str(folder / "lm.onnx"), providers=["CPUExecutionProvider"])
    prompt = "Once upon a time the weaver"
    expected = greedy(lambda ids: session.run(None, {"input1": ids})[0], codec, prompt, 8)
    assert main(["predict", str(folder / "lm.onnx"), prompt, "--tokens", "8", "--temperature", "0", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert prompt + report["generated"] == expected and report["generated"]


def test_generate_decodes_a_run_with_its_tokenizer(bpe_run, capsys):
    doc, folder = bpe_run
    codec = codec_from_record(json.loads((folder / "run" / "data.json").read_text())["raw"])
    model = inference_graph(doc, folder / "run" / "best.safetensors").module

    def scores(ids):
        with torch.no_grad():
            return model(torch.from_numpy(ids)).numpy()

    prompt = "The river"
    assert main(["generate", str(folder / "run"), "--prompt", prompt, "--tokens", "6", "--temperature", "0"]) == 0
    assert capsys.readouterr().out.rstrip("\n") == greedy(scores, codec, prompt, 6)


def test_the_language_template_switches_to_bpe_through_its_data_checks(tmp_path):
    doc = example("text_transformer", epochs=1)
    doc.training["dataset"].update(tokenizer="bpe", vocab_size=300, val_split=0.3, stride=512)
    info = describe_dataset(doc.training["dataset"], 0, None, 2)
    assert info["vocab_size"] == info["num_classes"] == 300
    checks = data_checks(doc, validate(doc), info)
    assert {c.fix for c in checks} == {("emb1", "num_embeddings", 300), ("fc1", "out_features", 300)}
    assert any(c.message == "the text has 300 tokens, but emb1 has 61 rows (one per token id)" for c in checks)
    for check in checks:
        doc.set_param(*check.fix)
    assert data_checks(doc, validate(doc), info) == []
    result, events = run(doc, tmp_path / "run")
    assert result.state == "finished", result.message
    (generated,) = [e for e in events if e["type"] == "artifact" and e["tag"] == "generated"]
    codec = codec_from_record(json.loads((tmp_path / "run" / "data.json").read_text())["raw"])
    prompt = codec.decode(load_dataset(doc.training["dataset"], 0).val.tensors[0][0].tolist())
    assert isinstance(codec, BpeCodec) and generated["text"].startswith(prompt) and len(generated["text"]) > len(prompt)
