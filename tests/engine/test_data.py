"""engine.data: built-in and file datasets, splitting, standardisation, augmentation, errors."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import sklearn.datasets
import torch
import torch.nn.functional as F
from PIL import Image
from sklearn.linear_model import LogisticRegression

from engine.data import DATASETS, load_dataset
from engine.data.sequence import make_sequences
from engine.data.text import SHIPPED_TEXT
from engine.errors import DataError

EXAMPLES = Path(__file__).resolve().parents[2] / "resources" / "examples"


def tensors(dataset) -> tuple[torch.Tensor, torch.Tensor]:
    return dataset.tensors


def sorted_rows(x) -> np.ndarray:
    flat = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    return flat[np.lexsort(flat.T[::-1])]


# -- built-ins ---------------------------------------------------------------------------------
BUILTIN = {
    "digits": (sklearn.datasets.load_digits, (1, 8, 8), 10),
    "iris": (sklearn.datasets.load_iris, (4,), 3),
    "wine": (sklearn.datasets.load_wine, (13,), 3),
    "breast_cancer": (sklearn.datasets.load_breast_cancer, (30,), 2),
}


@pytest.mark.parametrize("name", BUILTIN)
def test_builtin_is_a_stratified_partition_of_the_sklearn_data(name):
    loader, shape, classes = BUILTIN[name]
    bunch = loader()
    split = load_dataset({"name": name, "normalize": False}, seed=0)
    (xt, yt), (xv, yv) = tensors(split.train), tensors(split.val)
    n = len(bunch.target)
    assert (len(xt), len(xv)) == (n - math.ceil(0.2 * n), math.ceil(0.2 * n))
    assert split.input_shape == shape == tuple(xt.shape[1:])
    assert (split.input_dtype, split.target_dtype, xt.dtype, yt.dtype) == ("float32", "int64", torch.float32,
                                                                          torch.int64)
    assert split.target_shape == () and split.task == "classification" and split.num_classes == classes
    assert split.class_names == [str(c) for c in bunch.target_names]
    # Train + val hold exactly the original samples, each once, with their own labels.
    xy = np.concatenate([np.concatenate([x.reshape(len(x), -1), y[:, None]], 1) for x, y in ((xt, yt), (xv, yv))])
    np.testing.assert_array_equal(sorted_rows(xy), sorted_rows(np.c_[bunch.data.astype(np.float32), bunch.target]))
    # Stratified: every class is in val in proportion to its size.
    val_counts = np.bincount(yv.numpy(), minlength=classes)
    np.testing.assert_allclose(val_counts, 0.2 * np.bincount(bunch.target), atol=1.01)


def test_describe_reads_like_the_documented_example():
    split = load_dataset({"name": "digits"}, seed=0)
    assert split.describe() == "digits: 1437 train / 360 val, x (1, 8, 8) float32, 10 classes"


def test_same_seed_same_split_other_seed_other_split():
    a, b, c = (load_dataset({"name": "wine", "val_split": 0.3}, seed=s) for s in (7, 7, 8))
    for part in ("train", "val"):
        for ta, tb in zip(tensors(getattr(a, part)), tensors(getattr(b, part)), strict=True):
            assert torch.equal(ta, tb)
    assert not torch.equal(tensors(a.val)[0], tensors(c.val)[0])
    assert len(a.val) == math.ceil(0.3 * 178)


def test_normalisation_uses_training_statistics_only():
    raw = load_dataset({"name": "iris", "normalize": False}, seed=3)
    norm = load_dataset({"name": "iris"}, seed=3)
    raw_train, raw_val = tensors(raw.train)[0].double(), tensors(raw.val)[0].double()
    mean, std = raw_train.mean(0), raw_train.std(0, unbiased=False)
    torch.testing.assert_close(tensors(norm.val)[0].double(), (raw_val - mean) / std, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(tensors(norm.train)[0].mean(0), torch.zeros(4), atol=1e-5, rtol=0)
    assert not torch.allclose(tensors(norm.val)[0].mean(0), torch.zeros(4), atol=1e-3)  # val stats were not used
    assert norm.normalization["mean"] == pytest.approx(mean.tolist(), rel=1e-5)


def test_images_are_standardised_per_channel_and_blank_pixels_stay_finite():
    split = load_dataset({"name": "digits"}, seed=0)
    x = tensors(split.train)[0]
    assert torch.isfinite(x).all()
    assert x.mean().abs() < 1e-4 and (x.std() - 1).abs() < 1e-3
    assert len(split.normalization["mean"]) == 1  # one channel, not 64 pixels


# -- sequence ----------------------------------------------------------------------------------
def test_sequence_shapes_and_determinism():
    config = {"name": "sequence", "length": 12, "features": 5, "samples": 300}
    split = load_dataset(config, seed=1)
    assert split.input_shape == (12, 5) and split.num_classes == 4 and split.target_shape == ()
    assert (len(split.train), len(split.val)) == (240, 60)
    again = load_dataset(config, seed=1)
    assert torch.equal(tensors(split.train)[0], tensors(again.train)[0])


def test_sequence_label_is_in_the_early_steps_not_the_last():
    x, y = make_sequences(2000, 20, 4, seed=0)
    train, test = slice(0, 1500), slice(1500, None)

    def accuracy(features):
        model = LogisticRegression(max_iter=500).fit(features[train], y[train])
        return model.score(features[test], y[test])

    assert accuracy(x[:, -1, :]) < 0.45  # chance is 1/3
    marked = x[np.arange(len(x)), x[:, :, 0].argmax(axis=1)]  # (N, F): the step the marker points at
    assert accuracy(marked) > 0.98  # a model that remembers the marked step can solve it



def test_preview_gives_the_first_training_samples_with_readable_labels(tmp_path):
    digits = load_dataset({"name": "digits"}, seed=0)
    x, y = tensors(digits.train)
    preview = digits.preview(3)
    assert [s["shape"] for s in preview] == [[1, 8, 8]] * 3
    assert preview[0]["x"] == pytest.approx(x[0].reshape(-1).tolist())
    assert [s["label"] for s in preview] == [digits.class_names[int(c)] for c in y[:3]]
    assert preview[0]["text"] is None
    assert len(digits.preview(10_000)) == len(digits.train)

    text = load_dataset({"name": "text", "block_size": 16}, seed=0)
    (sample,) = text.preview(1)
    assert SHIPPED_TEXT.read_text(encoding="utf-8").startswith(sample["text"])
    assert sample["label"] == sample["text"][1:] + sample["label"][-1]  # the next characters

    np.savez(tmp_path / "reg.npz", x=np.zeros((20, 3), np.float32), y=np.arange(20, dtype=np.float32) / 4)
    regression = load_dataset({"name": "npz", "path": str(tmp_path / "reg.npz")}, seed=0)
    assert regression.task == "regression"
    stats = regression.target_normalization  # trained on standardised targets, shown in the data's units
    shown = float(tensors(regression.train)[1][0]) * stats["std"][0] + stats["mean"][0]
    assert regression.preview(1)[0]["label"] == f"{shown:.4g}" and (4 * shown) % 1 == pytest.approx(0, abs=1e-4)

# -- text --------------------------------------------------------------------------------------
def test_text_windows_are_next_character_targets_split_by_position():
    split = load_dataset({"name": "text", "block_size": 32}, seed=0)
    text = SHIPPED_TEXT.read_text(encoding="utf-8")
    (xt, yt), (xv, yv) = tensors(split.train), tensors(split.val)
    assert split.input_shape == split.target_shape == (32,)
    assert (split.input_dtype, split.target_dtype, xt.dtype) == ("int64", "int64", torch.int64)
    assert split.vocab == sorted(set(text)) == split.class_names and split.num_classes == len(split.vocab)
    assert torch.equal(yt[:, :-1], xt[:, 1:]) and torch.equal(yv[:, :-1], xv[:, 1:])
    decode = lambda ids: "".join(split.vocab[i] for i in ids)
    cut = int(len(text) * 0.8)
    assert text.startswith(decode(xt[0]) + decode(yt[0])[-1])
    assert text.find(decode(xv[0])) >= cut - 1  # validation comes from the end of the text
    assert len(xv) == (len(text) - cut - 1) // 32


def test_text_from_a_user_file_relative_to_base_dir(tmp_path):
    (tmp_path / "poem.txt").write_text("abcab" * 40, encoding="utf-8")
    split = load_dataset({"name": "text", "path": "poem.txt", "block_size": 4}, seed=0, base_dir=tmp_path)
    assert split.vocab == ["a", "b", "c"]


# -- CSV ---------------------------------------------------------------------------------------
def write_csv(path, rows, header="age,height,kind"):
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")


def test_csv_with_text_labels_is_classification(tmp_path):
    rows = [f"{i},{i * 2 + 0.5},{'cat' if i % 2 else 'dog'}" for i in range(20)]
    write_csv(tmp_path / "data.csv", rows)
    split = load_dataset({"name": "csv", "path": "data.csv", "normalize": False}, seed=0, base_dir=tmp_path)
    assert split.task == "classification" and split.class_names == ["cat", "dog"] and split.input_shape == (2,)
    x, y = tensors(split.train)
    assert torch.equal(y, (x[:, 0].long() % 2 == 0).long())  # dog (index 1) for even ages
    assert torch.equal(x[:, 1], x[:, 0] * 2 + 0.5)


def test_csv_with_many_real_labels_is_regression_and_features_can_be_chosen(tmp_path):
    write_csv(tmp_path / "data.csv", [f"{i},{i % 3},{i * 0.37}" for i in range(30)])
    split = load_dataset({"name": "csv", "path": str(tmp_path / "data.csv"), "features": ["age"], "normalize": False,
                          "normalize_target": False}, seed=0)
    x, y = tensors(split.train)
    assert split.task == "regression" and split.target_shape == (1,) and split.target_dtype == "float32"
    assert split.input_shape == (1,) and split.num_classes is None
    torch.testing.assert_close(y[:, 0], x[:, 0] * 0.37)


@pytest.mark.parametrize("bad_row, config, message", [
    ("abc,1,cat", {"encode": {"age": "number"}}, "data.csv: row 17, column 'age': 'abc' is not a number"),
    ("inf,1,cat", {}, "data.csv: row 17, column 'age': 'inf' is not a finite number"),
    ("3,1,cat", {"encode": {"weight": "number"}}, "data.csv: 'encode' names no column 'weight'"),
    ("3,1,cat", {"missing": "zero"}, "dataset 'csv': 'missing' must be one of median, mean, most_frequent, drop"),
    ("3,1", {}, "data.csv: row 17 has 2 values but the header names 3 columns"),
    ("3,1,cat", {"label": "label"}, "data.csv: no column 'label' (columns: age, height, kind)"),
    ("3,1,cat", {"features": ["age", "weight"]}, "data.csv: no column 'weight'"),
    ("3,1,x7", {"task": "regression"}, "data.csv: row 17, column 'kind': 'x7' is not a number"),
])
def test_csv_errors_name_the_file_row_and_column(tmp_path, bad_row, config, message):
    rows = [f"{i},{i},{i % 2}" for i in range(20)]
    rows[15] = bad_row  # the header is row 1, so this is row 17
    write_csv(tmp_path / "data.csv", rows)
    with pytest.raises(DataError) as err:
        load_dataset({"name": "csv", "path": "data.csv", **config}, seed=0, base_dir=tmp_path)
    assert message in str(err.value)


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(DataError, match=r"nothere\.csv: not found \(looked for .*nothere\.csv\)"):
        load_dataset({"name": "csv", "path": "nothere.csv"}, seed=0, base_dir=tmp_path)


# -- NPZ ---------------------------------------------------------------------------------------
def test_npz_integer_labels_classify_and_float_labels_regress(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3, 5)).astype(np.float64)
    np.savez(tmp_path / "a.npz", x=x, y=np.arange(40) % 4, target=x.sum(axis=(1, 2)))
    split = load_dataset({"name": "npz", "path": "a.npz"}, seed=0, base_dir=tmp_path)
    assert split.task == "classification" and split.num_classes == 4 and split.input_shape == (3, 5)
    assert split.input_dtype == "float32" and (len(split.train), len(split.val)) == (32, 8)

    reg = load_dataset({"name": "npz", "path": "a.npz", "y_key": "target", "normalize": False,
                        "normalize_target": False}, seed=0, base_dir=tmp_path)
    xr, yr = tensors(reg.train)
    assert reg.task == "regression" and reg.target_shape == (1,)
    torch.testing.assert_close(yr[:, 0], xr.sum(dim=(1, 2)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("arrays, config, message", [
    ({"x": np.zeros((4, 2)), "y": np.zeros(4, int)}, {"y_key": "label"}, "a.npz: no array 'label' (arrays: x, y)"),
    ({"x": np.zeros((4, 2)), "y": np.zeros(5, int)}, {}, "a.npz: array 'x' has 4 samples but 'y' has 5"),
    ({"x": np.zeros((4, 2)), "y": np.array([0, 1, -2, 1])}, {}, "a.npz: array 'y', sample 2: class -2 is negative"),
    ({"x": np.array([[0.0], [np.nan], [1], [2]]), "y": np.zeros(4, int)}, {}, "a.npz: array 'x', sample 1: holds NaN"),
    ({"x": np.array([[1], ["a"], [2], [3]], dtype=object), "y": np.zeros(4, int)}, {}, "a.npz: not a readable"),
])
def test_npz_errors_name_the_file_and_array(tmp_path, arrays, config, message):
    np.savez(tmp_path / "a.npz", **arrays)
    with pytest.raises(DataError) as err:
        load_dataset({"name": "npz", "path": "a.npz", **config}, seed=0, base_dir=tmp_path)
    assert message in str(err.value)


def test_a_single_npy_array_is_refused(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros(3))
    with pytest.raises(DataError, match=r"a\.npy: holds one array, not an \.npz archive"):
        load_dataset({"name": "npz", "path": "a.npy"}, seed=0, base_dir=tmp_path)


# -- image folder ------------------------------------------------------------------------------
def make_images(root, classes=("cat", "dog"), per_class=5):
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = np.full((6, 10, 3), 40 * c + i, dtype=np.uint8)
            pixels[:, :5, 0] = 255  # the left half is red
            Image.fromarray(pixels).save(root / name / f"{i}.png")


def test_image_folder_loads_one_class_per_folder(tmp_path):
    make_images(tmp_path / "images")
    (tmp_path / "images" / "cat" / "notes.txt").write_text("not an image")
    split = load_dataset({"name": "image_folder", "path": "images", "image_size": [6, 10], "normalize": False},
                         seed=0, base_dir=tmp_path)
    assert split.class_names == ["cat", "dog"] and split.input_shape == (3, 6, 10)
    assert len(split.train) + len(split.val) == 10
    x, y = tensors(split.train)
    torch.testing.assert_close(x[:, 0, :, 0], torch.ones(len(x), 6))  # red channel of the left half is 255
    blue = x[:, 2, 0, 0] * 255
    assert torch.equal((blue >= 40).long(), y)  # dog images are brighter

    gray = load_dataset({"name": "image_folder", "path": "images", "image_size": [4, 4], "grayscale": True},
                        seed=0, base_dir=tmp_path)
    assert gray.input_shape == (1, 4, 4)


def test_image_folder_names_the_files_it_skips(tmp_path):
    make_images(tmp_path / "images", per_class=20)
    (tmp_path / "images" / "cat" / "notes.txt").write_text("not an image")
    (tmp_path / "images" / "dog" / "7.png").write_bytes((tmp_path / "images" / "dog" / "7.png").read_bytes()[:40])
    split = load_dataset({"name": "image_folder", "path": "images"}, seed=0, base_dir=tmp_path)
    assert len(split.train) + len(split.val) == 39
    assert split.warnings == ["skipped 2 file(s) in images/ that are not readable images: cat/notes.txt, dog/7.png"]
    assert split.describe().endswith(" — warning: " + split.warnings[0])
    assert split.warnings[0] in split.record({"name": "image_folder"})["summary"]


def test_image_folder_skips_a_decompression_bomb_by_name_and_the_reader_refuses_one(tmp_path):
    """A 100-byte PNG declaring 30000 × 30000 pixels raised Pillow's DecompressionBombError as a traceback."""
    from test_predict import bomb_png

    from engine.preprocessing import ImageTooLarge, read_image

    make_images(tmp_path / "images", per_class=20)
    bomb_png(tmp_path / "images" / "cat" / "huge.png", 30000, 30000)
    bomb_png(tmp_path / "images" / "dog" / "large.png", 10000, 10000)  # Pillow only warns: refused all the same
    split = load_dataset({"name": "image_folder", "path": "images"}, seed=0, base_dir=tmp_path)
    assert len(split.train) + len(split.val) == 40
    assert split.warnings == ["skipped 2 file(s) in images/ that are not readable images: cat/huge.png, dog/large.png"]
    with pytest.raises(ImageTooLarge, match="declares 900,000,000 pixels"):
        read_image(tmp_path / "images" / "cat" / "huge.png", (8, 8), 3)


def test_image_folder_where_many_files_fail_is_an_error_naming_them(tmp_path):
    make_images(tmp_path / "images")
    for i in range(7):
        (tmp_path / "images" / "dog" / f"broken{i}.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(DataError, match=r"images/: 7 of 17 files are not images Pillow can read \(dog/broken0.jpg, "
                                        r"dog/broken1.jpg, dog/broken2.jpg, dog/broken3.jpg, dog/broken4.jpg and 2 "
                                        r"more\) — remove them, or point path at the right folder"):
        load_dataset({"name": "image_folder", "path": "images"}, seed=0, base_dir=tmp_path)


def test_image_folder_with_an_empty_class_says_which(tmp_path):
    make_images(tmp_path / "images")
    (tmp_path / "images" / "bird").mkdir()
    (tmp_path / "images" / "bird" / "readme.txt").write_text("no pictures yet")
    with pytest.raises(DataError, match=r"images/: class folder 'bird' holds no readable images"):
        load_dataset({"name": "image_folder", "path": "images"}, seed=0, base_dir=tmp_path)


# -- augmentation ------------------------------------------------------------------------------
def test_augmentation_changes_training_batches_only_and_keeps_shapes():
    plain = load_dataset({"name": "digits"}, seed=0)
    aug = load_dataset({"name": "digits", "augment": {"flip": True, "crop": 1, "noise": 0.1}}, seed=0)
    for part in ("train", "val"):  # the datasets themselves are never augmented
        assert torch.equal(tensors(getattr(plain, part))[0], tensors(getattr(aug, part))[0])
    batch = tensors(aug.train)[0][:64]
    torch.manual_seed(0)
    out = aug.augment(batch)
    assert out.shape == batch.shape and not torch.allclose(out, batch)
    assert plain.augment(batch) is batch  # identity when off
    assert "augment flip, crop 1, noise 0.1" in aug.describe()


def test_flip_and_crop_produce_mirrors_and_windows_of_the_padded_image():
    x = torch.arange(2 * 3 * 5 * 5, dtype=torch.float32).reshape(2 * 3, 1, 5, 5)
    torch.manual_seed(0)
    flip = load_dataset({"name": "digits", "augment": {"flip": True}}, seed=0).augment
    flipped = flip(x)
    assert all(torch.equal(o, i) or torch.equal(o, i.flip(-1)) for o, i in zip(flipped, x, strict=True))
    assert any(torch.equal(o, i.flip(-1)) for o, i in zip(flipped, x, strict=True))

    crop = load_dataset({"name": "digits", "augment": {"crop": 2}}, seed=0).augment
    padded = F.pad(x, (2, 2, 2, 2))
    for out, pad in zip(crop(x), padded, strict=True):
        windows = [pad[:, t:t + 5, s:s + 5] for t in range(5) for s in range(5)]
        assert any(torch.equal(out, w) for w in windows)


def test_flip_on_feature_vectors_is_refused_but_noise_is_fine():
    with pytest.raises(DataError, match=r"dataset 'iris': 'augment' flip and crop need image samples"):
        load_dataset({"name": "iris", "augment": {"flip": True}}, seed=0)
    split = load_dataset({"name": "iris", "augment": {"noise": 0.5}}, seed=0)
    batch = tensors(split.train)[0]
    assert (split.augment(batch) - batch).std() > 0.3


# -- configuration errors ----------------------------------------------------------------------
@pytest.mark.parametrize("config, message", [
    ({"name": "imagenet"}, "unknown dataset 'imagenet' — choose one of: digits, iris"),
    ({}, "no dataset name — choose one of"),
    ({"name": "iris", "val_splt": 0.1}, "dataset 'iris': unknown setting 'val_splt'"),
    ({"name": "iris", "val_split": 1.5}, "dataset 'iris': 'val_split' must be a number in (0, 1), got 1.5"),
    ({"name": "digits", "augment": {"rotate": 5}}, "'augment' has unknown option 'rotate'"),
    ({"name": "digits", "augment": {"crop": -1}}, "dataset 'digits': 'augment.crop' must be a whole number"),
    ({"name": "text", "augment": {"noise": 0.1}}, "token ids cannot be augmented"),
    ({"name": "csv"}, "dataset 'csv': 'path' is required"),
])
def test_config_errors_say_what_to_fix(config, message):
    with pytest.raises(DataError) as err:
        load_dataset(config, seed=0)
    assert message in str(err.value)


def test_every_listed_dataset_has_a_description():
    assert set(DATASETS) == {"digits", "iris", "wine", "breast_cancer", "sequence", "text", "csv", "parquet", "npz",
                             "npy", "image_folder", "hf_dataset", "mnist", "fashion_mnist", "cifar10", "cifar100"}
    assert all(isinstance(text, str) and text for text in DATASETS.values())


def test_listing_datasets_imports_neither_torch_nor_sklearn():
    code = "import sys, engine.data; print(sorted(m for m in ('torch', 'sklearn', 'PIL') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.json")))
def test_examples_match_their_dataset(example):
    """x feeds the one data Input and y the Target, if any; noise Inputs are sampled by the trainer."""
    from engine.data.describe import describe_dataset
    from engine.fileformat import load_document
    from nodes.io import is_noise

    doc = load_document(EXAMPLES / example)
    info = describe_dataset(doc.training["dataset"], 0, None, 0)  # a benchmark set: known without its files
    split = SimpleNamespace(input_shape=tuple(info["input_shape"]), input_dtype=info["input_dtype"],
                            target_shape=tuple(info["target_shape"]), num_classes=info["num_classes"],
                            target_dtype="int64" if info["task"] == "classification" else "float32",
                            vocab_size=info["vocab_size"])
    params: dict[str, list[dict]] = {}
    for node in doc.nodes.values():
        params.setdefault(node.type_id, []).append(node.params)
    (data,) = [p for p in params["Input"] if not is_noise(p)]
    assert (tuple(data["shape"]), data["dtype"]) == (split.input_shape, split.input_dtype)
    assert all(p["dtype"] == "float32" for p in params["Input"] if is_noise(p))
    if doc.training.get("mode") == "gan":  # the trainer's own losses: no Target, no loss node, labels unused
        assert "Target" not in params and not any(type_id.endswith("Loss") for type_id in params)
    elif "Target" in params:
        (target,) = params["Target"]
        assert (tuple(target["shape"]), target["dtype"]) == (split.target_shape, split.target_dtype)
        assert params["Linear"][-1]["out_features"] == split.num_classes  # the head has one logit per class
    else:  # unsupervised: every loss compares a prediction with the data Input itself
        (data_id,) = [n for n, node in doc.nodes.items() if node.type_id == "Input"]
        loss_targets = [doc.edges_into(n, "target") for n, node in doc.nodes.items() if node.type_id.endswith("Loss")]
        assert loss_targets and all(wire.src == data_id for (wire,) in loss_targets)
    if "Embedding" in params:
        assert params["Embedding"][0]["num_embeddings"] == split.vocab_size


def test_digits_become_rgb_pictures_of_any_size_when_asked():
    plain = load_dataset({"name": "digits", "normalize": False}, seed=0)
    pictures = load_dataset({"name": "digits", "image_size": [16, 16], "grayscale": False, "normalize": False}, seed=0)
    assert plain.input_shape == (1, 8, 8) and pictures.input_shape == (3, 16, 16)
    x, small = pictures.train.tensors[0], plain.train.tensors[0]
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 1], x[:, 2])  # gray drawn in RGB
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0 and float(small.max()) == 16.0
    # the same samples in the same order: the picture, shrunk back, is close to its digit (0–16 as 0–1; the
    # bilinear resize blurs the strokes' edges), far closer than to the next sample's
    back = F.interpolate(x[:, :1], size=(8, 8), mode="area")
    own, other = (float((back - digits / 16).abs().mean()) for digits in (small, small.roll(1, 0)))
    assert own < 0.1 and own < 0.5 * other
    assert torch.equal(pictures.train.tensors[1], plain.train.tensors[1])
    with pytest.raises(DataError, match="unknown setting 'image_size'"):
        load_dataset({"name": "iris", "image_size": [16, 16]}, seed=0)
