"""Hugging Face `datasets` data (engine/data/hf.py, hf_images.py): tiny datasets built here with
`Dataset.from_dict` and saved with `save_to_disk` train as a table (a ClassLabel label and a text column with
missing values), as images and as text; the table's export predicts raw rows; a missing library, a bad column
and a hub name are refused or read as they should be. The network is never touched (offline mode)."""

from __future__ import annotations

import os

os.environ["HF_DATASETS_OFFLINE"] = "1"  # before `datasets` is first imported: it reads this once
os.environ["HF_HUB_OFFLINE"] = "1"

import json  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from table_files import write_csv  # noqa: E402
from train_harness import iris_mlp, of_type, run, small_graph  # noqa: E402

from engine.cli import main  # noqa: E402
from engine.data import load_dataset  # noqa: E402
from engine.data.describe import describe_dataset  # noqa: E402
from engine.document import Edge, GraphDocument  # noqa: E402
from engine.errors import DataError, DataUnavailable  # noqa: E402
from engine.export.bundle import export_all  # noqa: E402

LEVELS = ["low", "mid", "high"]  # a ClassLabel's own order, not alphabetical
COLOURS = ["red", "green", "blue"]


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Offline whatever imported the library first: the library and the hub client read these on every call."""
    hf = pytest.importorskip("datasets")
    from huggingface_hub import constants

    monkeypatch.setattr(hf.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return hf


def save_table(hf, folder, rows: int = 300, seed: int = 0):
    """x1 decides the level but for a tenth of the rows (noise, so no model is perfect); colour (text, some
    missing) and x2 (some missing) ride along. A DatasetDict of a train and a test split."""
    rng = np.random.default_rng(seed)
    x1 = rng.uniform(-3, 3, rows)
    level = np.where(rng.random(rows) < 0.1, rng.integers(0, 3, rows), np.digitize(x1, [-1, 1]))
    x2 = [None if rng.random() < 0.1 else float(v) for v in rng.normal(size=rows)]
    colour = [None if rng.random() < 0.15 else COLOURS[int(rng.integers(3))] for _ in range(rows)]
    features = hf.Features({"x1": hf.Value("float64"), "x2": hf.Value("float32"), "colour": hf.Value("string"),
                            "level": hf.ClassLabel(names=LEVELS)})
    table = hf.Dataset.from_dict({"x1": x1.tolist(), "x2": x2, "colour": colour, "level": level.tolist()},
                                 features=features)
    hf.DatasetDict({"train": table, "test": table.select(range(10))}).save_to_disk(str(folder))


def test_a_table_keeps_its_class_names_encodes_text_and_empty_cells_and_reads_the_chosen_split(offline, tmp_path):
    save_table(offline, tmp_path / "levels")
    split = load_dataset({"name": "hf_dataset", "path": "levels", "normalize": False}, seed=0, base_dir=tmp_path)
    assert split.class_names == LEVELS and split.task == "classification"  # the ClassLabel's order, its label
    assert split.raw["kind"] == "table" and split.raw["label"] == "level" and split.raw["features"] == ["x1", "x2",
                                                                                                         "colour"]
    assert "colour (missing)" in split.raw["encoded"] and "x2 (missing)" in split.raw["encoded"]
    assert len(split.train) + len(split.val) == 300  # the train split, not test
    row = split.val_source.row(0)
    index = int(row["row"].split()[1])
    assert row["cells"]["level"] in LEVELS and 0 <= index < 300
    assert float(row["cells"]["x1"]) == pytest.approx(split.val.tensors[0][0, 0].item())  # the row it names
    test = load_dataset({"name": "hf_dataset", "path": "levels", "split": "test", "val_split": 0.5}, seed=0,
                        base_dir=tmp_path)
    assert len(test.train) + len(test.val) == 10


@pytest.fixture(scope="module")
def table_run(tmp_path_factory):
    hf = pytest.importorskip("datasets")
    root = tmp_path_factory.mktemp("hf_table")
    save_table(hf, root / "levels")
    dataset = {"name": "hf_dataset", "path": "levels"}
    width = load_dataset(dataset, seed=0, base_dir=root).input_shape[0]
    doc = iris_mlp((width,), dataset=dataset, epochs=12, batch_size=32)
    result, events = run(doc, root / "run", base_dir=root)
    assert result.state == "finished", result.message
    return doc, root, events


@pytest.mark.slow
def test_a_table_trains_and_its_export_predicts_raw_rows_at_the_runs_accuracy(table_run, tmp_path, capsys):
    doc, root, events = table_run
    assert of_type(events, "epoch")[-1]["val_accuracy"] > 0.75  # x1 decides: learnable
    data = json.loads((root / "run" / "data.json").read_text())
    assert data["class_names"] == LEVELS
    export_all(doc, onnx=tmp_path / "levels.onnx", weights=root / "run")
    # the validation rows as the dataset holds them: text, empty cells, the label as its class name
    split = load_dataset({"name": "hf_dataset", "path": "levels"}, seed=0, base_dir=root)
    header = list(split.val_source.cells)
    rows = [[split.val_source.cells[c][i] for c in header] for i in range(len(split.val_source.rows))]
    assert any("" in row for row in rows)
    write_csv(tmp_path / "val.csv", header, rows)
    assert main(["predict", str(tmp_path / "levels.onnx"), str(tmp_path / "val.csv"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    best = json.loads((root / "run" / "summary.json").read_text())["best"]  # the weights exported
    scored = next(e for e in of_type(events, "epoch") if e["epoch"] == best["epoch"])["val_accuracy"]
    assert report["accuracy"] == pytest.approx(scored, abs=1e-6) and len(report["predictions"]) == 60
    assert {p["label"] for p in report["predictions"]} <= set(LEVELS)


def streamed_levels(hf, root, monkeypatch):
    """The levels table saved, read 64 rows at a time when streamed (300 rows: five chunks)."""
    from engine.data import hf_table

    save_table(hf, root / "levels")
    monkeypatch.setattr(hf_table, "CHUNK_ROWS", 64)
    return {"name": "hf_dataset", "path": "levels"}


def test_a_table_over_the_budget_streams_the_in_memory_samples(offline, tmp_path, monkeypatch):
    """Larger than the memory budget, the table is streamed as a Parquet file is (hf_table.py, parquet_stream.py):
    within the sample its encoding is fitted on, it gives the in-memory samples bit for bit."""
    import pickle

    import torch

    from engine.config import TrainingConfig
    from engine.data import placement
    from engine.data.batches import take
    from engine.data.parquet_stream import TableRows
    from engine.train.setup import in_memory as budget

    dataset = streamed_levels(offline, tmp_path, monkeypatch)
    in_memory = load_dataset(dataset, seed=0, base_dir=tmp_path)
    monkeypatch.setattr(placement, "host_available_bytes", lambda: 1024)  # 1 KiB to spare: auto streams it
    fits = budget(TrainingConfig.from_dict({"dataset": dataset}), torch.device("cpu"))
    asked = []
    streamed = load_dataset(dataset, seed=0, base_dir=tmp_path, in_memory=lambda size: asked.append(size) or fits(size))
    assert asked == [offline.load_from_disk(str(tmp_path / "levels"))["train"].data.nbytes]  # the dataset's bytes
    assert isinstance(streamed.train, TableRows) and isinstance(streamed.val, TableRows)
    for part in ("train", "val"):
        rows, memory = getattr(streamed, part), getattr(in_memory, part)
        x, y = take(rows, list(range(len(rows))))
        assert torch.equal(x, memory.tensors[0]) and torch.equal(y, memory.tensors[1]), part
    assert streamed.record({}) | {"summary": ""} == in_memory.record({}) | {"summary": ""}
    assert streamed.class_names == LEVELS and streamed.val_source is None
    assert "streamed: 300 rows read 64 rows at a time as batches ask for them; the encoding and statistics were " \
           "fitted on all its rows" in streamed.describe()
    shuffled = [200, 3, 71, 3, 130, 64]  # rows from several chunks, one twice, in no order
    copy = pickle.loads(pickle.dumps(streamed.train))  # as a DataLoader worker gets it: the dataset by its files
    assert len(pickle.dumps(streamed.train.rows.source)) < 4096
    x, y = take(copy, shuffled)
    assert torch.equal(x, in_memory.train.tensors[0][shuffled]) and torch.equal(y, in_memory.train.tensors[1][shuffled])


def test_a_larger_table_is_fitted_on_its_first_rows_and_a_stream_refuses_what_needs_it_whole(offline, tmp_path,
                                                                                             monkeypatch):
    from engine.data import parquet_stream

    dataset = streamed_levels(offline, tmp_path, monkeypatch)
    monkeypatch.setattr(parquet_stream, "SAMPLE_ROWS", 100)
    in_memory = load_dataset(dataset, seed=0, base_dir=tmp_path)
    streamed = load_dataset(dataset, seed=0, base_dir=tmp_path, in_memory=lambda size: False)
    assert np.array_equal(streamed.train.labels, in_memory.train.tensors[1].numpy())  # every row split as in memory
    assert len(streamed.val) == len(in_memory.val) == 60 and streamed.input_shape == in_memory.input_shape
    assert "fitted on its first 100 rows" in streamed.describe()
    x, _ = streamed.train[len(streamed.train) - 1]
    assert x.isfinite().all()
    for key, value in (("missing", "drop"), ("missing", {"x2": "drop"}), ("class_balance", "oversample")):
        with pytest.raises(DataError, match=rf"'{key}' .*needs the whole table in memory, and levels \(train\) is "
                                            "streamed"):
            load_dataset({**dataset, key: value}, seed=0, base_dir=tmp_path, in_memory=lambda size: False)
    # a class the first rows never show is refused naming its row as the dataset indexes it (row 35 is ds[35])
    labels = ["a", "b"] * 20
    labels[35] = "maybe"
    offline.Dataset.from_dict({"x": [float(i) for i in range(40)], "y": labels}).save_to_disk(str(tmp_path / "late"))
    monkeypatch.setattr(parquet_stream, "SAMPLE_ROWS", 30)
    with pytest.raises(DataError, match=r"late: row 35: class 'maybe' is not among the 2 classes of the first 30 rows"):
        load_dataset({"name": "hf_dataset", "path": "late", "label": "y"}, seed=0, base_dir=tmp_path,
                     in_memory=lambda size: False)


@pytest.mark.slow
def test_a_streamed_table_trains_as_the_table_in_memory_does(offline, tmp_path, monkeypatch):
    import torch
    from safetensors.torch import load_file

    dataset = streamed_levels(offline, tmp_path, monkeypatch)
    in_memory = load_dataset(dataset, seed=0, base_dir=tmp_path)
    weights = {}
    for placement, workers in (("device", 0), ("stream", 1)):  # streamed by a DataLoader worker process
        doc = iris_mlp(in_memory.input_shape, dataset=dataset, epochs=2, batch_size=32, data_placement=placement,
                       data_workers=workers)
        result, events = run(doc, tmp_path / placement, base_dir=tmp_path)
        assert result.state == "finished", result.message
        assert of_type(events, "started")[0]["dataset"].startswith("hf_dataset: 240 train / 60 val")
        data = json.loads((tmp_path / placement / "data.json").read_text())
        assert data["raw"] == in_memory.record({})["raw"] and data["class_names"] == LEVELS
        weights[placement] = load_file(str(tmp_path / placement / "last.safetensors"))
    for key, value in weights["device"].items():
        assert torch.equal(value, weights["stream"][key]), key


def save_images(hf, folder, per_class: int = 4):
    """Ten classes of 14×14 pictures (a bright square whose place is the class), some RGB: to be made 28×28 gray."""
    from PIL import Image

    images, labels = [], []
    for label in range(10):
        for k in range(per_class):
            pixels = np.full((14, 14), 10 * k, np.uint8)
            row, col = divmod(label, 4)
            pixels[3 * row:3 * row + 4, 3 * col:3 * col + 4] = 250
            image = Image.fromarray(pixels, "L")
            images.append(image.convert("RGB") if k % 2 else image)
            labels.append(label)
    names = [f"spot {i}" for i in range(10)]
    data = hf.Dataset.from_dict({"picture": images, "spot": labels},
                                features=hf.Features({"picture": hf.Image(), "spot": hf.ClassLabel(names=names)}))
    data.save_to_disk(str(folder))
    return names


@pytest.mark.slow
def test_an_image_column_trains_a_cnn_resized_and_made_gray_like_an_image_folder(offline, tmp_path):
    names = save_images(offline, tmp_path / "spots")
    dataset = {"name": "hf_dataset", "path": "spots", "image": "picture", "image_size": [28, 28], "grayscale": True}
    split = load_dataset(dataset, seed=0, base_dir=tmp_path)
    assert split.input_shape == (1, 28, 28) and split.class_names == names and split.raw["kind"] == "image"
    assert any("resized 40 of 40 images to 28×28 (from 14×14: 40)" in note for note in split.notes)
    assert any("converted 20 of 40 images to grayscale (20 RGB)" in note for note in split.notes)
    lazy = load_dataset(dataset, seed=0, base_dir=tmp_path, in_memory=lambda size: False)  # read as batches ask
    x, y = lazy.train.__getitems__([0, 1])
    np.testing.assert_allclose(x.numpy(), split.train.tensors[0][:2].numpy(), atol=1e-5)
    assert (y == split.train.tensors[1][:2]).all()
    spot = int(split.val_source.rows[0].split()[1]) // 4  # the row a validation image came from: its class
    assert split.val.tensors[1][0].item() == spot

    result, events = run(small_graph("mnist_cnn", dataset=dataset, epochs=1), tmp_path / "run", base_dir=tmp_path)
    assert result.state == "finished", result.message
    assert of_type(events, "started")[0]["dataset"].startswith("hf_dataset: 32 train / 8 val, x (1, 28, 28)")
    data = json.loads((tmp_path / "run" / "data.json").read_text())
    assert data["raw"]["kind"] == "image" and data["raw"]["size"] == [28, 28] and data["class_names"] == names


@pytest.mark.slow
def test_a_text_column_trains_a_language_model(offline, tmp_path):
    stories = ["the cat sat on the mat.", None, "a dog ran to the park and back.", "the end."] * 20
    offline.Dataset.from_dict({"story": stories, "n": list(range(len(stories)))}).save_to_disk(str(tmp_path / "tales"))
    dataset = {"name": "hf_dataset", "path": "tales", "text": "story", "block_size": 8}
    split = load_dataset(dataset, seed=0, base_dir=tmp_path)
    assert split.raw["kind"] == "text" and split.input_shape == (8,) and split.input_dtype == "int64"
    assert "".join(split.vocab) == "".join(sorted(set("".join(s for s in stories if s) + "\n")))
    first = "".join(split.vocab[int(t)] for t in split.train.tensors[0][0])
    assert first == "the cat sat on the mat.\na dog ran"[:8]

    vocab = len(split.vocab)
    doc = GraphDocument("hf bigram")
    doc.add_node("Input", {"shape": [8], "dtype": "int64"}, node_id="input1")
    doc.add_node("Embedding", {"num_embeddings": vocab, "embedding_dim": 8}, node_id="emb1")
    doc.add_node("Linear", {"out_features": vocab}, node_id="fc1")
    doc.add_node("Output", node_id="output1")
    doc.add_node("Target", {"shape": [8], "dtype": "int64"}, node_id="target1")
    doc.add_node("CrossEntropyLoss", node_id="loss1")
    for edge in [("input1", "out", "emb1", "in"), ("emb1", "out", "fc1", "in"), ("fc1", "out", "output1", "in"),
                 ("fc1", "out", "loss1", "pred"), ("target1", "out", "loss1", "target")]:
        doc.add_edge(Edge(*edge))
    doc.training = {"dataset": dataset, "optimizer": {"name": "adam", "lr": 0.05}, "epochs": 3, "batch_size": 32,
                    "device": "cpu"}
    result, events = run(doc, tmp_path / "run", base_dir=tmp_path)
    assert result.state == "finished", result.message
    losses = [e["val_loss"] for e in of_type(events, "epoch")]
    assert losses[-1] < losses[0] < np.log(vocab) + 0.5


def test_without_the_library_the_source_names_the_extra_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "datasets", None)  # `import datasets` now fails, as when it is not installed
    config = {"name": "hf_dataset", "path": "anything"}
    with pytest.raises(DataError, match=r"install layerloom\[hf\] to read Hugging Face datasets"):
        load_dataset(config, seed=0, base_dir=tmp_path)
    with pytest.raises(DataError, match=r"install layerloom\[hf\]"):
        describe_dataset(config, seed=0, base_dir=tmp_path, samples=2)
    from engine.fileformat import save_document

    save_document(iris_mlp(dataset=config, epochs=1), tmp_path / "g.json")
    assert main(["train", str(tmp_path / "g.json"), "--out", str(tmp_path / "run")]) == 1
    assert "install layerloom[hf] to read Hugging Face datasets" in capsys.readouterr().err


@pytest.mark.parametrize(("setting", "message"), [
    ({"label": "levl"}, r"levels \(train\): no column 'levl' \(columns: x1, x2, colour, level\)"),
    ({"features": ["x1", "colour", "hue"]}, r"levels \(train\): no column 'hue'"),
    ({"image": "photo", "label": "level"}, r"levels \(train\): no column 'photo'"),
    ({"text": "colour", "label": "level"}, r"'label' does not apply with 'text'"),
    ({"image": "x1", "label": "level"}, r"levels \(train\): column 'x1' holds Value\('float64'\) values, not images"),
    ({"split": "validation"}, r"levels: no split 'validation' \(splits: train, test\)"),
    ({"config": "en"}, r"'config' applies to a hub dataset only"),
    ({"hub": "owner/name"}, r"set \"path\" .* or \"hub\" .* — one of them"),
])
def test_a_bad_column_or_setting_names_it_and_the_dataset(offline, tmp_path, setting, message):
    save_table(offline, tmp_path / "levels", rows=30)
    with pytest.raises(DataError, match=message):
        load_dataset({"name": "hf_dataset", "path": "levels", **setting}, seed=0, base_dir=tmp_path)


def test_a_folder_that_is_not_a_saved_dataset_is_named(tmp_path):
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match=r"plain: not a dataset saved with save_to_disk"):
        load_dataset({"name": "hf_dataset", "path": "plain"}, seed=0, base_dir=tmp_path)


def test_a_hub_name_is_loaded_through_the_library_and_a_preview_stays_offline(offline, tmp_path, monkeypatch):
    calls = []
    table = offline.Dataset.from_dict({"x": [float(i) for i in range(20)], "y": ["a", "b"] * 10})

    def load(path, name=None, split=None, **kwargs):
        calls.append((path, name, split, offline.config.HF_HUB_OFFLINE))
        return table

    monkeypatch.setattr(offline.config, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(offline, "load_dataset", load)
    config = {"name": "hf_dataset", "hub": "owner/name", "config": "small", "label": "y"}
    split = load_dataset(config, seed=0)
    assert split.class_names == ["a", "b"] and len(split.train) == 16
    info = describe_dataset({**config, "split": "test"}, seed=0, base_dir=None, samples=1)
    assert info["name"] == "hf_dataset" and info["input_shape"] == [1]
    # a run may download (the library online); a preview reads the cache only, and the flag is put back
    assert calls == [("owner/name", "small", "train", False), ("owner/name", "small", "test", True)]
    assert offline.config.HF_HUB_OFFLINE is False


def test_a_hub_dataset_not_in_the_cache_is_unavailable_offline(offline, tmp_path):
    config = {"name": "hf_dataset", "hub": "layerloom-tests/not-cached", "label": "y"}
    with pytest.raises(DataUnavailable, match=r"layerloom-tests/not-cached: not in the Hugging Face datasets cache"):
        describe_dataset(config, seed=0, base_dir=None, samples=1)
    with pytest.raises(DataUnavailable, match=r"layerloom-tests/not-cached: cannot reach the Hugging Face hub"):
        load_dataset(config, seed=0)


def test_a_hub_download_in_a_run_reports_its_bytes_and_stop_ends_it(offline, monkeypatch):
    """In the worker a run's downloads report as events (the app's progress dialog): the library's byte bars
    do, its other bars do not, and Stop raises inside its download loop, ending the run stopped."""
    from tqdm.auto import tqdm

    from engine.data.download import DownloadStopped, reporting
    from engine.train.download_events import DownloadEvents

    table = offline.Dataset.from_dict({"x": [float(i) for i in range(20)], "y": ["a", "b"] * 10})

    def load(path, name=None, split=None, **kwargs):  # the hub client's download bar, then the library's own
        with tqdm(total=4 << 20, unit="B", desc="data-00000.parquet") as bar:
            for _ in range(4):
                bar.update(1 << 20)
        with tqdm(total=20, unit=" examples", desc="Generating train split") as bar:
            bar.update(20)
        return table

    monkeypatch.setattr(offline.config, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(offline, "load_dataset", load)
    config = {"name": "hf_dataset", "hub": "owner/name", "label": "y"}
    sent = []
    with reporting(DownloadEvents(sent.append, lambda: False)):
        assert len(load_dataset(config, seed=0).train) == 16
    assert sent and {e["file"] for e in sent} == {"data-00000.parquet"}  # no "Generating train split" bar
    assert (sent[-1]["done"], sent[-1]["total"]) == (4 << 20, 4 << 20)
    with reporting(DownloadEvents(sent.append, lambda: True)), pytest.raises(DownloadStopped):
        load_dataset(config, seed=0)
