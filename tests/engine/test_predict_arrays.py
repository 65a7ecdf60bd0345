"""`layerloom predict` on a model trained on arrays (the digits CNN, input (1, 8, 8) valued 0–16, and an
iris MLP): .npy and .npz files, CSV rows of flattened samples and pictures, each checked against the same
data run through onnxruntime by hand; and errors that name the kind of input given and what would work."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image
from train_harness import example, iris_mlp

from engine.cli import main
from engine.data import load_dataset
from engine.export.bundle import export_all
from engine.predict import DeployedModel, PredictError, predict_path
from engine.predict_inputs import input_kind
from engine.train import train


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def by_hand(model: Path, x: np.ndarray) -> np.ndarray:
    """Class probabilities of the exported graph for x (N, 1, 8, 8) float32, straight from onnxruntime."""
    (logits,) = ort.InferenceSession(str(model)).run(None, {"input1": x.astype(np.float32)})
    return softmax(logits.astype(np.float64))


def scores(predictions) -> np.ndarray:
    return np.array([p.scores for p in predictions])


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> tuple[Path, np.ndarray, np.ndarray]:
    """The digits CNN template after a short run, exported; and validation samples as the data has them."""
    root = tmp_path_factory.mktemp("digits")
    doc = example("digits_cnn", epochs=2, dataset={"name": "digits", "val_split": 0.3})
    train(doc, root / "run")
    export_all(doc, onnx=root / "digits.onnx", weights=root / "run")
    split = load_dataset({"name": "digits", "val_split": 0.3, "normalize": False}, seed=0)
    x, y = (t.numpy() for t in split.val.tensors)
    return root / "digits.onnx", x[:40], y[:40]


def test_the_run_records_the_range_its_x_spans(digits):
    model, _, _ = digits
    data = json.loads((model.parent / "run" / "data.json").read_text())
    assert data["raw"] == {"kind": "array", "value_range": [0.0, 16.0]}
    prep = DeployedModel.load(model).prep
    assert prep["kind"] == "array" and prep["value_range"] == [0.0, 16.0] and prep["built_in"]


def test_npy_and_npz_files_are_scored_like_their_arrays(digits, tmp_path, capsys):
    model_path, x, y = digits
    model = DeployedModel.load(model_path)
    expected = by_hand(model_path, x)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "one.npy", x[5])  # one sample alone: (1, 8, 8)
    np.save(tmp_path / "ints.npy", x.astype(np.int16))  # digits are whole numbers: no value lost
    np.savez(tmp_path / "xy.npz", x=x, y=y)
    np.testing.assert_allclose(scores(predict_path(model, tmp_path / "x.npy")), expected, atol=1e-6)
    np.testing.assert_allclose(scores(predict_path(model, tmp_path / "ints.npy")), expected, atol=1e-6)
    (one,) = predict_path(model, tmp_path / "one.npy")
    assert one.sample == "one.npy[0]"
    np.testing.assert_allclose(one.scores, expected[5], atol=1e-6)
    labelled = predict_path(model, tmp_path / "xy.npz")
    np.testing.assert_allclose(scores(labelled), expected, atol=1e-6)
    assert [p.target for p in labelled] == [str(c) for c in y] and labelled[3].sample == "xy.npz[3]"

    assert main(["predict", str(model_path), str(tmp_path / "xy.npz"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    accuracy = float((expected.argmax(1) == y).mean())
    assert report["accuracy"] == pytest.approx(accuracy) and len(report["predictions"]) == 40


def test_a_csv_of_flattened_samples_with_or_without_a_header(digits, tmp_path):
    model_path, x, y = digits
    model = DeployedModel.load(model_path)
    expected = by_hand(model_path, x)
    rows = x.reshape(len(x), -1)
    np.savetxt(tmp_path / "plain.csv", rows, delimiter=",", fmt="%g")
    header = ",".join(f"p{i}" for i in range(64)) + ",label"
    np.savetxt(tmp_path / "named.csv", np.c_[rows, y], delimiter=",", fmt="%g", header=header, comments="")
    plain = predict_path(model, tmp_path / "plain.csv")
    np.testing.assert_allclose(scores(plain), expected, atol=1e-6)
    assert plain[0].sample == "row 1" and plain[0].target is None  # no header: the first row is a sample
    named = predict_path(model, tmp_path / "named.csv")
    np.testing.assert_allclose(scores(named), expected, atol=1e-6)
    assert named[0].sample == "row 2" and [p.target for p in named] == [str(c) for c in y]


def test_a_png_is_made_gray_resized_and_scaled_to_the_training_range(digits, tmp_path, capsys):
    model_path, x, _ = digits
    model = DeployedModel.load(model_path)
    # an 8×8 picture of a sample: 0–16 as 0–255 pixels, bright strokes as in the data
    pixels = np.rint(x[7, 0] * 255 / 16).astype(np.uint8)
    Image.fromarray(pixels, "L").save(tmp_path / "seven.png")
    (prediction,) = predict_path(model, tmp_path / "seven.png")
    expected = by_hand(model_path, (pixels.astype(np.float32) * np.float32(16 / 255))[None, None])
    np.testing.assert_allclose(prediction.scores, expected[0], atol=1e-6)
    assert abs(pixels.astype(np.float32) * 16 / 255 - x[7, 0]).max() < 0.04  # the PNG holds the sample

    # a larger colour picture: gray, then resized to 8×8 as training resizes an image folder
    big = Image.fromarray(np.kron(np.stack([pixels] * 3, -1), np.ones((3, 3, 1))).astype(np.uint8), "RGB")
    big.save(tmp_path / "big.png")
    small = np.asarray(big.convert("L").resize((8, 8), Image.Resampling.BILINEAR), dtype=np.float32)
    (prediction,) = predict_path(model, tmp_path / "big.png")
    np.testing.assert_allclose(prediction.scores, by_hand(model_path, (small * np.float32(16 / 255))[None, None])[0],
                               atol=1e-6)

    (tmp_path / "folder").mkdir()
    for name in ("seven.png", "big.png"):
        (tmp_path / "folder" / name).write_bytes((tmp_path / name).read_bytes())
    assert main(["predict", str(model_path), str(tmp_path / "folder"), "--top", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["folder/big.png", "folder/seven.png"]


def test_errors_name_the_input_given_and_what_would_work(digits, tmp_path, capsys):
    model_path, x, _ = digits
    np.save(tmp_path / "wrong.npy", np.zeros((5, 3), np.float32))
    np.save(tmp_path / "nan.npy", np.full((2, 1, 8, 8), np.nan, np.float32))
    np.savez(tmp_path / "many.npz", a=x, b=x)
    np.savetxt(tmp_path / "short.csv", np.zeros((2, 10)), delimiter=",")
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    cases = [
        ("wrong.npy", 1, "holds an array of shape (5, 3); the model reads samples shaped (1, 8, 8)"),
        ("nan.npy", 1, "sample 0 holds NaN"),
        ("many.npz", 1, "holds arrays a, b but no x"),
        ("short.csv", 1, "a row holds 10 values, but the model reads samples of 64 (its input (1, 8, 8) flattened)"),
        ("broken.png", 2, "not an image Pillow can read (a PNG image) — the model reads a .npy or .npz of samples "
                          "shaped (1, 8, 8) float32, a CSV whose rows are its 64 values flattened, or images"),
    ]
    for name, status, message in cases:
        assert main(["predict", str(model_path), str(tmp_path / name)]) == status, name
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and "Traceback" not in err, err


def test_an_iris_model_reads_rows_and_arrays_but_not_pictures(tmp_path, capsys):
    doc = iris_mlp(epochs=3)
    train(doc, tmp_path / "run")
    export_all(doc, onnx=tmp_path / "iris.onnx", weights=tmp_path / "run")
    x = load_dataset({"name": "iris", "normalize": False}, seed=0).val.tensors[0].numpy()
    np.savetxt(tmp_path / "rows.csv", x, delimiter=",", fmt="%.1f", header="a,b,c,d", comments="")
    np.save(tmp_path / "x.npy", x)
    model = DeployedModel.load(tmp_path / "iris.onnx")
    np.testing.assert_allclose(scores(predict_path(model, tmp_path / "rows.csv")),
                               scores(predict_path(model, tmp_path / "x.npy")), atol=1e-6)
    Image.new("L", (4, 1)).save(tmp_path / "a.jpg")
    with pytest.raises(PredictError) as err:
        predict_path(model, tmp_path / "a.jpg")
    assert str(err.value) == (f"{tmp_path / 'iris.onnx'}: was trained on array data, so it cannot read a JPEG image — "
                              "give it a .npy or .npz of samples shaped (4,) float32, a CSV whose rows are its 4 "
                              "values flattened")


def test_input_kinds_are_named_as_a_person_says_them(tmp_path):
    assert input_kind(tmp_path) == "a folder"
    for name, kind in [("a.PNG", "a PNG image"), ("b.jpeg", "a JPEG image"), ("c.csv", "a CSV table"),
                       ("d.npy", "a NumPy array (.npy)"), ("e.npz", "a NumPy archive (.npz)"), ("f.dat", "a .dat file"),
                       ("g", "a file without an extension")]:
        assert input_kind(tmp_path / name) == kind
