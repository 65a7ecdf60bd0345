"""A deployable export on raw data: train, export the run, then score raw CSV rows, raw PNGs and a
text prompt with onnxruntime alone (`layerloom predict`), as a user checking a deployment would."""

import csv
import json
import shutil
import struct
import subprocess
import sys
import tracemalloc
import warnings
import zlib
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from PIL import Image, ImageDraw
from train_harness import iris_mlp

from engine import predict as engine_predict
from engine.cli import main
from engine.data import load_dataset
from engine.document import Edge, GraphDocument
from engine.export.bundle import export_all
from engine.export.weights import inference_graph
from engine.predict import (
    MAX_TOKENS,
    MIN_TEMPERATURE,
    DeployedModel,
    PredictError,
    generate,
    iter_predictions,
    next_character,
    predict_path,
    sampling_probabilities,
)
from engine.train import train

ROOT = Path(__file__).resolve().parents[2]
STATUSES = ["ok", "warn", "fail"]
SHAPES = ["cross", "ring", "square"]


def exported_accuracy(run_dir: Path) -> float:
    """The validation accuracy of the checkpoint an export takes (best, monitored on val_accuracy)."""
    best = json.loads((run_dir / "summary.json").read_text())["best"]
    assert best["monitor"] == "val_accuracy"
    return best["value"]


def metadata(path: Path) -> dict[str, str]:
    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


def predict_json(capsys, *args) -> dict:
    assert main(["predict", *map(str, args), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


# -- a CSV with string labels whose features sit far from 0 ---------------------------------------
@pytest.fixture(scope="module")
def csv_run(tmp_path_factory):
    """600 rows, 4 features with means ~1000 and stds ~50, labels ok/warn/fail; an MLP trained on them."""
    root = tmp_path_factory.mktemp("csv")
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 600)
    centres = np.array([[0, 0, 0, 0], [1.6, 1.6, 0, 0], [0, 1.6, 1.6, 1.6]])
    x = 1000 + 50 * (centres[labels] + rng.normal(0, 0.7, (600, 4))) * np.array([1.0, 2.0, 0.5, 3.0])
    with open(root / "machines.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["temp", "pressure", "vibration", "current", "status"])
        writer.writerows([*(f"{v:.3f}" for v in row), STATUSES[label]] for row, label in zip(x, labels, strict=True))
    doc = iris_mlp(epochs=12, early_stopping={"monitor": "val_accuracy"})
    doc.training["dataset"] = {"name": "csv", "path": "machines.csv"}
    train(doc, root / "run", base_dir=root)
    return doc, root


def test_exported_csv_classifier_scores_raw_rows_like_validation(csv_run, tmp_path):
    doc, root = csv_run
    result = export_all(doc, onnx=tmp_path / "m.onnx", weights=root / "run")
    assert result.onnx.passed and result.warnings == []
    meta = metadata(tmp_path / "m.onnx")
    class_names = json.loads(meta["layerloom.class_names"])
    assert sorted(class_names) == sorted(STATUSES) and meta["layerloom.task"] == "classification"
    prep = json.loads(meta["layerloom.preprocessing"])
    assert prep["kind"] == "table" and prep["built_in"] and prep["features"][0] == "temp"

    # the validation rows exactly as the CSV holds them: the loader's own split (same seed), unstandardised
    raw = load_dataset({"name": "csv", "path": "machines.csv", "normalize": False}, seed=0, base_dir=root)
    x_val, y_val = (t.numpy() for t in raw.val.tensors)
    assert x_val.mean() > 900  # raw, not standardised
    (logits,) = ort.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"input1": x_val})
    accuracy = float((logits.argmax(1) == y_val).mean())
    assert accuracy == pytest.approx(exported_accuracy(root / "run"), abs=0.01)
    assert accuracy > 0.85

    # the bare network on the same raw rows: the bug this export fixes
    export_all(doc, onnx=tmp_path / "bare.onnx", weights=root / "run", preprocessing=False)
    (bare,) = ort.InferenceSession(str(tmp_path / "bare.onnx")).run(None, {"input1": x_val})
    assert (bare.argmax(1) == y_val).mean() < 0.7


def test_predict_applies_separate_preprocessing_from_the_metadata(csv_run, tmp_path, capsys):
    doc, root = csv_run
    export_all(doc, onnx=tmp_path / "in.onnx", weights=root / "run")
    export_all(doc, onnx=tmp_path / "out.onnx", weights=root / "run", preprocessing=False)
    assert json.loads(metadata(tmp_path / "out.onnx")["layerloom.preprocessing"])["built_in"] is False
    built_in, separate = (predict_path(DeployedModel.load(tmp_path / name), root / "machines.csv")
                          for name in ("in.onnx", "out.onnx"))
    np.testing.assert_allclose([p.scores for p in separate], [p.scores for p in built_in], atol=1e-5)
    assert all(p.target in STATUSES for p in built_in)

    report = predict_json(capsys, tmp_path / "out.onnx", root / "machines.csv")
    assert len(report["predictions"]) == 600 and report["accuracy"] > 0.85
    assert main(["predict", str(tmp_path / "out.onnx"), str(root / "machines.csv"), "--top", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("row 2: ") and " %" in lines[0] and lines[0].count(",") == 1
    assert lines[-4].startswith("accuracy: ") and "600 labelled" in lines[-4]
    # then each class's precision, recall and F1, in the model's class order
    assert [line.split()[0] for line in lines[-3:]] == json.loads(metadata(tmp_path / "out.onnx")[
        "layerloom.class_names"]) and all(" recall " in line for line in lines[-3:])


def test_softmax_output_and_the_model_card(csv_run, tmp_path):
    doc, root = csv_run
    result = export_all(doc, onnx=tmp_path / "m.onnx", weights=root / "run", softmax=True)
    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    assert [o.name for o in session.get_outputs()] == ["output1", "probabilities"]
    rows = np.random.default_rng(1).normal(1000, 50, (7, 4)).astype(np.float32)
    logits, probabilities = session.run(None, {"input1": rows})
    np.testing.assert_allclose(probabilities.sum(1), 1.0, atol=1e-6)
    assert (probabilities.argmax(1) == logits.argmax(1)).all()

    card = json.loads(result.card_paths[0].read_text())
    config = json.loads((root / "run" / "config.json").read_text())
    assert card["training"] == config and card["training"]["schedule"]["name"] == "constant"  # defaults in force
    assert card["training"]["dataset"]["name"] == "csv" and "schedule" not in doc.training
    assert sorted(card["data"]["class_names"]) == sorted(STATUSES)
    assert card["data"]["raw"]["features"] == ["temp", "pressure", "vibration", "current"]
    assert "mean" not in json.dumps(card["data"]["raw"]) and "4 mean/std values" in card["data"]["standardisation"]
    assert card["final_metrics"]["best"]["monitor"] == "val_accuracy"
    assert set(card["versions"]) == {"python", "layerloom", "torch", "onnx", "onnxruntime", "numpy"}
    assert card["machine"]["cpu_count"] >= 1 and isinstance(card["machine"]["gpus"], list)
    assert card["onnx"]["preprocessing"] == "built into the graph"
    markdown = result.card_paths[1].read_text()
    for text in ("fail, ok, warn", "## Training configuration", "onnxruntime", "CPUs", "`probabilities`"):
        assert text in markdown, text


def test_predict_errors_name_the_problem_and_exit_1_or_2(csv_run, tmp_path, capsys):
    doc, root = csv_run
    export_all(doc, onnx=tmp_path / "m.onnx", weights=root / "run")
    (tmp_path / "wrong.csv").write_text("temp,pressure,status\n1,2,ok\n")
    (tmp_path / "junk.onnx").write_text("not a model")
    export_all(iris_mlp(), onnx=tmp_path / "untrained.onnx")
    bare = onnx.helper.make_model(onnx.helper.make_graph(
        [onnx.helper.make_node("Relu", ["x"], ["y"])], "g",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])]))
    onnx.save(bare, str(tmp_path / "foreign.onnx"))
    Image.new("RGB", (4, 4)).save(tmp_path / "picture.png")
    cases = [
        (["nothere.onnx", root / "machines.csv"], 2, "no such file"),
        ([tmp_path / "junk.onnx", root / "machines.csv"], 2, "not an ONNX model"),
        ([tmp_path / "foreign.onnx", root / "machines.csv"], 1, "no Layerloom metadata"),
        ([tmp_path / "untrained.onnx", root / "machines.csv"], 1, "without a training run"),
        ([tmp_path / "m.onnx", tmp_path / "nothere.csv"], 2, "no such file"),
        ([tmp_path / "m.onnx", tmp_path / "wrong.csv"], 1, "no column 'vibration', 'current'"),
        ([tmp_path / "m.onnx", tmp_path], 1, "is a folder"),
        ([tmp_path / "m.onnx", tmp_path / "picture.png"], 1, "was trained on table data, so it cannot read a PNG "
                                                             "image — give it a CSV file with the columns"),
        ([tmp_path / "m.onnx", root / "machines.csv", "--top", "0"], 1, "--top"),
    ]
    for args, status, message in cases:
        assert main(["predict", *map(str, args)]) == status, args
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and "Traceback" not in err, err


# -- a folder of raw PNGs ----------------------------------------------------------------------------
def draw(shape: str, rng: np.random.Generator) -> Image.Image:
    """A 12×12 picture of `shape` in a random colour at a random place, on a noisy background."""
    noise = rng.integers(0, 60, (12, 12, 3), dtype=np.uint8)
    image = Image.fromarray(noise, "RGB")
    pen = ImageDraw.Draw(image)
    colour = tuple(int(c) for c in rng.integers(120, 256, 3))
    x, y = (int(v) for v in rng.integers(1, 4, 2))
    box = (x, y, x + 7, y + 7)
    if shape == "square":
        pen.rectangle(box, fill=colour)
    elif shape == "ring":
        pen.ellipse(box, outline=colour, width=2)
    else:
        pen.line(box, fill=colour, width=2)
        pen.line((box[0], box[3], box[2], box[1]), fill=colour, width=2)
    return image


def image_mlp() -> GraphDocument:
    """Input (3, 8, 8) → Flatten → Linear 32 → ReLU → Linear 3 → Output, cross-entropy against Target ()."""
    doc = GraphDocument("shapes mlp")
    doc.add_node("Input", {"shape": [3, 8, 8], "dtype": "float32"}, node_id="input1")
    doc.add_node("Flatten", {"start_dim": 1}, node_id="flatten1")
    doc.add_node("Linear", {"out_features": 32}, node_id="fc1")
    doc.add_node("ReLU", node_id="relu1")
    doc.add_node("Linear", {"out_features": 3}, node_id="fc2")
    doc.add_node("Output", node_id="output1")
    doc.add_node("Target", {"shape": [], "dtype": "int64"}, node_id="target1")
    doc.add_node("CrossEntropyLoss", node_id="loss1")
    for edge in [("input1", "out", "flatten1", "in"), ("flatten1", "out", "fc1", "in"), ("fc1", "out", "relu1", "in"),
                 ("relu1", "out", "fc2", "in"), ("fc2", "out", "output1", "in"), ("fc2", "out", "loss1", "pred"),
                 ("target1", "out", "loss1", "target")]:
        doc.add_edge(Edge(*edge))
    doc.training = {"dataset": {"name": "image_folder", "path": "shapes", "image_size": [8, 8]},
                    "optimizer": {"name": "adam", "lr": 0.01}, "epochs": 10, "batch_size": 16, "device": "cpu",
                    "early_stopping": {"monitor": "val_accuracy"}}
    return doc


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    """60 raw 12×12 PNGs per shape, an MLP trained on them at 8×8, exported; plus the validation
    split written back as 8×8 PNGs in class sub-folders (exactly the pixels validation scored)."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for shape in SHAPES:
        (root / "shapes" / shape).mkdir(parents=True)
        for i in range(60):
            draw(shape, rng).save(root / "shapes" / shape / f"{i:03}.png")
    doc = image_mlp()
    train(doc, root / "run", base_dir=root)
    export_all(doc, onnx=root / "shapes.onnx", weights=root / "run")
    split = load_dataset({**doc.training["dataset"], "normalize": False}, seed=0, base_dir=root)
    x_val, y_val = (t.numpy() for t in split.val.tensors)
    for i, (x, y) in enumerate(zip(x_val, y_val, strict=True)):
        folder = root / "val" / split.class_names[y]
        folder.mkdir(parents=True, exist_ok=True)
        pixels = np.rint(x.transpose(1, 2, 0) * 255).astype(np.uint8)  # (C, H, W) in [0, 1] → the PNG's bytes
        Image.fromarray(pixels, "RGB").save(folder / f"{i:03}.png")
    return root


def test_predict_on_raw_pngs_matches_validation_accuracy(image_run, capsys):
    session = ort.InferenceSession(str(image_run / "shapes.onnx"))
    (raw_input,) = session.get_inputs()
    assert raw_input.type == "tensor(uint8)" and raw_input.shape[1:] == [8, 8, 3]  # pixels as Pillow gives them
    assert json.loads(metadata(image_run / "shapes.onnx")["layerloom.class_names"]) == SHAPES

    report = predict_json(capsys, image_run / "shapes.onnx", image_run / "val")
    assert report["accuracy"] == pytest.approx(exported_accuracy(image_run / "run"), abs=0.01)
    assert {p["target"] for p in report["predictions"]} == set(SHAPES)
    # sample by sample, what torch gives for the standardised tensors validation scored
    doc = image_mlp()
    x_val = load_dataset(doc.training["dataset"], seed=0, base_dir=image_run).val.tensors[0]
    with torch.no_grad():
        expected = torch.softmax(inference_graph(doc, image_run / "run").module(x_val), -1).numpy()
    for row in report["predictions"]:
        i = int(row["sample"].split("/")[1][:3])
        assert row["probabilities"][row["label"]] == pytest.approx(expected[i][SHAPES.index(row["label"])], abs=1e-5)
    # the 12×12 originals are resized as in training
    everything = predict_json(capsys, image_run / "shapes.onnx", image_run / "shapes")
    assert len(everything["predictions"]) == 180 and everything["accuracy"] > 0.8
    assert main(["predict", str(image_run / "shapes.onnx"), str(image_run / "shapes" / "ring" / "000.png"),
                 "--top", "1"]) == 0
    assert capsys.readouterr().out.startswith("000.png: ")


def test_predict_runs_without_torch(image_run):
    script = ("import sys; from engine.cli import main; status = main(sys.argv[1:]); "
              "assert 'torch' not in sys.modules, 'torch was imported'; sys.exit(status)")
    run = subprocess.run([sys.executable, "-c", script, "predict", str(image_run / "shapes.onnx"),
                          str(image_run / "val")], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.splitlines()[-4].startswith("accuracy: ")  # and a line per class (3)


def test_an_image_model_refuses_a_csv_and_a_stray_folder(image_run, tmp_path, capsys):
    (tmp_path / "rows.csv").write_text("a,b\n1,2\n")
    (tmp_path / "dogs").mkdir()
    for target, status, message in [(tmp_path / "rows.csv", 2, "not an image"),
                                    (tmp_path, 1, "dogs: is not one of the model's classes")]:
        assert main(["predict", str(image_run / "shapes.onnx"), str(target)]) == status
        assert message in capsys.readouterr().err


# -- a text model ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def text_model(tmp_path_factory) -> Path:
    """A bigram model trained on "abcd" repeated, exported with its softmax."""
    tmp_path = tmp_path_factory.mktemp("text")
    (tmp_path / "abc.txt").write_text("abcd" * 300)
    doc = GraphDocument("bigram")
    doc.add_node("Input", {"shape": [8], "dtype": "int64"}, node_id="input1")
    doc.add_node("Embedding", {"num_embeddings": 4, "embedding_dim": 8}, node_id="emb1")
    doc.add_node("Linear", {"out_features": 4}, node_id="fc1")
    doc.add_node("Output", node_id="output1")
    doc.add_node("Target", {"shape": [8], "dtype": "int64"}, node_id="target1")
    doc.add_node("CrossEntropyLoss", node_id="loss1")
    for edge in [("input1", "out", "emb1", "in"), ("emb1", "out", "fc1", "in"), ("fc1", "out", "output1", "in"),
                 ("fc1", "out", "loss1", "pred"), ("target1", "out", "loss1", "target")]:
        doc.add_edge(Edge(*edge))
    doc.training = {"dataset": {"name": "text", "path": "abc.txt", "block_size": 8},
                    "optimizer": {"name": "adam", "lr": 0.05}, "epochs": 3, "device": "cpu"}
    train(doc, tmp_path / "run", base_dir=tmp_path)
    export_all(doc, onnx=tmp_path / "abc.onnx", weights=tmp_path / "run", softmax=True)
    return tmp_path / "abc.onnx"


def test_a_text_model_continues_a_prompt(text_model, capsys):
    prep = json.loads(metadata(text_model)["layerloom.preprocessing"])
    assert prep["kind"] == "text" and prep["vocab"] == ["a", "b", "c", "d"]

    report = predict_json(capsys, text_model, "dab", "--tokens", "6")
    assert next(iter(report["next"])) == "c" and report["generated"] == "cdabcd"
    assert main(["predict", str(text_model), "abx"]) == 1
    assert "'x'" in capsys.readouterr().err


def test_sampling_settings_that_make_no_sense_are_refused_naming_the_flag(text_model, capsys):
    greedy = predict_json(capsys, text_model, "dab", "--tokens", "6")["generated"]
    # 0 is the documented default: the most likely character each time, not an error
    assert predict_json(capsys, text_model, "dab", "--tokens", "6", "--temperature", "0")["generated"] == greedy
    # the sharpest temperature allowed samples without overflowing: the most likely character wins
    assert predict_json(capsys, text_model, "dab", "--tokens", "6", "--temperature", "0.001")["generated"] == greedy
    for option, shown in [("--temperature=-1", "got -1.0"), ("--temperature=1e-320", "got 1e-320"),
                          ("--temperature=0.0009", "got 0.0009"), ("--temperature=nan", "got nan"),
                          ("--temperature=inf", "got inf"), ("--temperature=-inf", "got -inf"), ("--top=0", "got 0"),
                          ("--top=-5", "got -5"), ("--tokens=-1", "got -1"), (f"--tokens={MAX_TOKENS + 1}", "got")]:
        assert main(["predict", str(text_model), "dab", "--tokens", "3", option]) == 1, option
        captured = capsys.readouterr()
        flag = option.partition("=")[0]
        assert captured.err.startswith(f"error: {flag} must be ") and shown in captured.err, captured.err
        assert "Traceback" not in captured.err and captured.out == ""

    model = DeployedModel.load(text_model)
    for temperature in (0, -1, 1e-320, float("nan"), float("inf")):
        with pytest.raises(PredictError, match="temperature must be"):
            next_character(model, "dab", temperature)
    with pytest.raises(PredictError, match="--temperature must be"):
        generate(model, "dab", 3, temperature=1e-320)
    # probabilities never hold NaN, whatever the logits
    logits = np.array([3e38, -3e38, 3e38, 0], dtype=np.float32)
    assert sampling_probabilities(logits, MIN_TEMPERATURE).tolist() == [0.5, 0, 0.5, 0]
    assert sampling_probabilities(np.array([np.inf, 0, np.inf, -np.inf]), 2.0).tolist() == [0.5, 0, 0.5, 0]
    assert sampling_probabilities(np.array([1.0, 1.0]), 1e300).tolist() == [0.5, 0.5]
    with pytest.raises(PredictError, match="NaN"):
        sampling_probabilities(np.array([np.nan, 1.0]), 1.0)


# -- hostile inputs: decompression bombs, large CSV files ---------------------------------------------
def bomb_png(path: Path, width: int, height: int) -> Path:
    """A PNG of about a hundred bytes declaring `width` × `height` RGB pixels (its data ends at once)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 4096, 9))
                     + chunk(b"IEND", b""))
    return path


def test_a_decompression_bomb_is_refused_naming_the_file_alone_and_in_a_folder(image_run, tmp_path, capsys):
    model = str(image_run / "shapes.onnx")
    bomb = bomb_png(tmp_path / "bomb.png", 30000, 30000)  # past twice Pillow's limit: it raises
    large = bomb_png(tmp_path / "large.png", 10000, 10000)  # past the limit: Pillow only warns, then decodes
    assert bomb.stat().st_size < 400
    with pytest.warns(Image.DecompressionBombWarning), Image.open(large) as image:
        assert image.size == (10000, 10000)
    limit = f"more than the {Image.MAX_IMAGE_PIXELS:,} Pillow reads safely — refused as a possible decompression bomb"
    for image, pixels in [(bomb, "900,000,000"), (large, "100,000,000")]:
        assert main(["predict", model, str(image)]) == 2
        captured = capsys.readouterr()
        assert captured.err.startswith(f"error: {image}: declares {pixels} pixels, {limit}"), captured.err
        assert "Traceback" not in captured.err and captured.out == ""

    # in a folder, the whole folder is refused naming the file, before any prediction is printed
    for image, where in [(bomb, "ring"), (large, ".")]:
        folder = tmp_path / f"val-{image.stem}"
        shutil.copytree(image_run / "val", folder)
        shutil.copy(image, folder / where / "zz.png")
        assert main(["predict", model, str(folder)]) == 2
        captured = capsys.readouterr()
        assert captured.err.startswith(f"error: {(folder / where / 'zz.png')}: declares ") and captured.out == ""
        assert "Traceback" not in captured.err
    assert not [f for f in warnings.filters if f[2] is Image.DecompressionBombWarning]  # reading's filter is gone


def labelled_rows(root: Path, path: Path, copies: int) -> int:
    """machines.csv's rows `copies` times over, with blank lines and a label quoted over two lines; the
    number of data rows."""
    header, *rows = (root / "machines.csv").read_text().splitlines()
    with open(path, "w") as handle:
        handle.write(header + "\n")
        for k in range(copies):
            handle.write("\n".join(rows) + "\n\n ,,,, \n")
            handle.write(rows[k % len(rows)].rsplit(",", 1)[0] + ',"ok\n"\n')
    return copies * (len(rows) + 1)


def test_a_csv_is_streamed_chunk_by_chunk_with_memory_bounded_by_the_chunk(csv_run, tmp_path, monkeypatch, capsys):
    doc, root = csv_run
    export_all(doc, onnx=tmp_path / "m.onnx", weights=root / "run")
    model = DeployedModel.load(tmp_path / "m.onnx")
    big = tmp_path / "big.csv"
    rows = labelled_rows(root, big, 60)  # 36,060 rows, 1.5 MB
    size = big.stat().st_size
    assert 1e6 < size < 3e6

    whole = predict_path(model, big)  # the default chunk: 8192 rows
    assert len(whole) == rows and whole[-1].target == "ok" and whole[-1].sample == f"row {1 + 60 * 604}"
    chunks = []  # the rows the reader holds at a time
    real_chunk = engine_predict._chunk

    def chunk(*args):
        rows = real_chunk(*args)
        chunks.append(len(rows))
        return rows

    monkeypatch.setattr(engine_predict, "_chunk", chunk)
    stream = iter_predictions(model, big, chunk_rows=50)
    first = next(stream)
    assert first.sample == whole[0].sample and chunks == [50]  # lazily: one chunk read so far
    tracemalloc.start()
    count = 1 + sum(1 for _ in stream)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert count == rows and max(chunks) == 50 and len(chunks) == -(-rows // 50) + 1  # the last one is empty
    assert peak < size / 10, (peak, size)  # the rows of one chunk at a time, not the file's
    streamed = list(iter_predictions(model, big, chunk_rows=7))
    assert [p.sample for p in streamed] == [p.sample for p in whole]
    assert [p.target for p in streamed] == [p.target for p in whole]
    np.testing.assert_allclose([p.scores for p in streamed], [p.scores for p in whole], atol=1e-6)

    # the command prints as it goes: a bad cell far down stops the output at its row
    lines = big.read_text().splitlines()
    cells = lines[30_000].split(",")  # physical line 30001: a data row of the 50th copy
    lines[30_000] = ",".join([cells[0], "x", *cells[2:]])
    big.write_text("\n".join(lines) + "\n")
    assert main(["predict", str(tmp_path / "m.onnx"), str(big)]) == 1
    captured = capsys.readouterr()
    assert captured.err == f"error: {big}: row 30001, column 'pressure': 'x' is not a number\n"
    assert 0 < len(captured.out.splitlines()) < rows and "accuracy" not in captured.out
