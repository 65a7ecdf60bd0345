"""The benchmark image sets (engine/data/benchmarks.py): tiny files in the publishers' exact formats read
through `path`, damaged files refused by name, the first-use download through a fake opener (no test
touches the network), and a small CNN trained, exported and run on tiny MNIST files from the CLI."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import struct
import tarfile
import urllib.error
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from benchmark_writers import IDX_FILES, cifar_records, idx_bytes, mnist_arrays, write_cifar10, write_mnist
from PIL import Image
from train_harness import of_type, run, small_graph

from engine.cli import main
from engine.data import benchmark_names, download, load_dataset
from engine.data.benchmarks import BENCHMARKS
from engine.document import GraphDocument
from engine.errors import DataError, DataUnavailable
from engine.fileformat import save_document


def arrays_of(dataset) -> tuple[np.ndarray, np.ndarray]:
    return tuple(t.numpy() for t in dataset.tensors)


# -- reading the published formats from `path` ------------------------------------------------------
def test_mnist_reads_gzipped_and_plain_idx_files_and_validates_on_the_test_set(tmp_path):
    arrays = write_mnist(tmp_path / "mnist")
    split = load_dataset({"name": "mnist", "path": "mnist", "normalize": False}, seed=0, base_dir=tmp_path)
    (x, y), (xv, yv) = arrays_of(split.train), arrays_of(split.val)
    assert x.shape == (40, 1, 28, 28) and x.dtype == np.float32 and y.dtype == np.int64
    assert xv.shape == (20, 1, 28, 28) and yv.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()
    # the published order, scaled as an image folder's pixels are: uint8 / 255
    np.testing.assert_array_equal(x[:, 0], arrays["train-images-idx3-ubyte"].astype(np.float32) / 255.0)
    assert y.tolist() == arrays["train-labels-idx1-ubyte"].tolist()
    assert split.class_names == [str(d) for d in range(10)] and split.num_classes == 10
    record = split.record({"name": "mnist"})
    assert record["raw"] == {"kind": "image", "size": [28, 28], "channels": 1, "scale": 1 / 255}
    assert record["input_shape"] == [1, 28, 28] and record["input_dtype"] == "float32"

    # standardised per channel from the training part, like every image source
    standard = load_dataset({"name": "mnist", "path": str(tmp_path / "mnist")}, seed=0)
    assert len(standard.normalization["mean"]) == 1 and standard.normalization["axis"] == 0
    assert abs(float(standard.train.tensors[0].mean())) < 1e-5


def test_val_split_holds_out_part_of_the_training_set_instead(tmp_path):
    write_mnist(tmp_path / "m")
    split = load_dataset({"name": "fashion_mnist", "path": str(tmp_path / "m"), "val_split": 0.25}, seed=0)
    assert (len(split.train), len(split.val)) == (30, 10)  # of the 40 training images; the test set unused
    assert split.class_names == benchmark_names.FASHION_MNIST and split.class_names[9] == "Ankle boot"


def test_cifar10_reads_its_binary_batches_from_the_folder_or_the_one_holding_it(tmp_path):
    written = write_cifar10(tmp_path / "cifar-10-batches-bin")
    for path in (tmp_path, tmp_path / "cifar-10-batches-bin"):
        split = load_dataset({"name": "cifar10", "path": str(path), "normalize": False}, seed=0)
        (x, y), (xv, yv) = arrays_of(split.train), arrays_of(split.val)
        assert x.shape == (30, 3, 32, 32) and xv.shape == (6, 3, 32, 32)
        labels, pixels = written["data_batch_1.bin"]
        assert y[:6].tolist() == labels.tolist()
        # the record's first 1024 bytes are the red plane, row by row: channel 0
        np.testing.assert_array_equal(x[:6], pixels.astype(np.float32) / 255.0)
        assert yv.tolist() == written["test_batch.bin"][0].tolist()
        assert split.class_names == benchmark_names.CIFAR10
        assert split.record({})["raw"] == {"kind": "image", "size": [32, 32], "channels": 3, "scale": 1 / 255}
    # the archive's own list of names is preferred when it is there
    names = [f"class{i}" for i in range(10)]
    (tmp_path / "cifar-10-batches-bin" / "batches.meta.txt").write_text("\n".join(names) + "\n\n")
    assert load_dataset({"name": "cifar10", "path": str(tmp_path)}, seed=0).class_names == names


def test_cifar100_takes_the_fine_label_after_the_coarse_one(tmp_path):
    folder = tmp_path / "cifar-100-binary"
    folder.mkdir()
    train, train_labels, _ = cifar_records(8, 2, 100, seed=0)
    test, test_labels, _ = cifar_records(4, 2, 100, seed=1)
    (folder / "train.bin").write_bytes(train)
    (folder / "test.bin").write_bytes(test)
    split = load_dataset({"name": "cifar100", "path": str(tmp_path)}, seed=0)
    assert split.train.tensors[1].tolist() == train_labels[:, 1].tolist()  # fine, not coarse
    assert split.val.tensors[1].tolist() == test_labels[:, 1].tolist()
    assert split.num_classes == 100 and split.class_names[:3] == ["apple", "aquarium_fish", "baby"]
    (folder / "fine_label_names.txt").write_text("\n".join(f"n{i}" for i in range(99)))
    with pytest.raises(DataUnavailable, match=r"fine_label_names.txt: lists 99 class names, not 100"):
        load_dataset({"name": "cifar100", "path": str(folder)}, seed=0)


# -- damaged files are refused by name ------------------------------------------------------------------
def damage(folder: Path, name: str, change) -> Path:
    path = next(p for p in folder.iterdir() if p.name.startswith(name))
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    data = change(data)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


@pytest.mark.parametrize("name, change, message", [
    ("train-images", lambda d: b"\0\0\x08\x04" + d[4:], "the magic number is 00000804"),
    ("train-images", lambda d: b"PK\3\4" + d[4:], "the magic number is 504b0304"),
    ("train-images", lambda d: d[:-100], "its header declares 40 samples (31,360 bytes of data), but it holds "
                                         "31,260 bytes"),
    ("train-images", lambda d: d + b"\0", "but it holds more"),
    ("t10k-images", lambda d: d[:8] + struct.pack(">II", 28, 27) + d[16:], "samples of 28 × 27, not 28 × 28"),
    ("t10k-labels", lambda d: d[:8], "declares 20 samples"),
    ("train-labels", lambda d: d[:-1] + b"\x0a", "label 10 is past the 10 classes"),
    ("train-labels", lambda d: d[:4] + struct.pack(">I", 39) + d[8:-1], "holds 40 images but"),
    ("t10k-labels", lambda d: d[:2], "the magic number is 0000, not an IDX file"),
])
def test_a_damaged_idx_file_is_refused_naming_it(tmp_path, name, change, message):
    write_mnist(tmp_path)
    path = damage(tmp_path, name, change)
    with pytest.raises(DataUnavailable) as err:
        load_dataset({"name": "mnist", "path": str(tmp_path)}, seed=0)
    assert str(path) in str(err.value) and message in str(err.value), str(err.value)


def test_a_cut_gzip_stream_and_a_cifar_file_of_part_records_are_refused_naming_them(tmp_path):
    write_mnist(tmp_path / "m")
    cut = tmp_path / "m" / "train-images-idx3-ubyte.gz"
    cut.write_bytes(cut.read_bytes()[:500])
    with pytest.raises(DataUnavailable, match=f"{cut}: its compressed data is damaged"):
        load_dataset({"name": "mnist", "path": str(tmp_path / "m")}, seed=0)

    write_cifar10(tmp_path / "c")
    batch = tmp_path / "c" / "data_batch_3.bin"
    batch.write_bytes(batch.read_bytes()[:-7])
    with pytest.raises(DataUnavailable) as err:
        load_dataset({"name": "cifar10", "path": str(tmp_path / "c")}, seed=0)
    assert f"{batch}: its 18,431 bytes are not a whole number of 3,073-byte records" in str(err.value)
    batch.write_bytes(bytes([10]) + bytes(3072))
    with pytest.raises(DataUnavailable, match="record 0 has label 10, past the 10 classes"):
        load_dataset({"name": "cifar10", "path": str(tmp_path / "c")}, seed=0)


def test_a_path_missing_files_names_them_and_is_never_downloaded_into(tmp_path, monkeypatch):
    monkeypatch.setattr(download, "open_url", lambda *a, **k: pytest.fail("a path is never downloaded into"))
    write_mnist(tmp_path)
    with pytest.raises(DataError, match="'mnist': unknown setting 'val_splt'"):
        load_dataset({"name": "mnist", "path": str(tmp_path), "val_splt": 0.1}, seed=0)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataUnavailable) as err:
        load_dataset({"name": "mnist", "path": str(tmp_path)}, seed=0)
    assert f"{tmp_path}: has no t10k-labels-idx1-ubyte — the folder must hold the files" in str(err.value)
    with pytest.raises(DataError, match="nothere: not found"):
        load_dataset({"name": "cifar10", "path": str(tmp_path / "nothere")}, seed=0)


# -- the first use downloads into the cache ---------------------------------------------------------
class FakeWeb:
    """Stands in for `download.open_url`: serves `files` by URL, records what was asked for."""

    def __init__(self, files: dict[str, bytes], fail: Exception | None = None):
        self.files, self.fail, self.asked = files, fail, []

    def __call__(self, url: str, timeout: float = 0):
        self.asked.append(url)
        if self.fail is not None:
            raise self.fail
        response = io.BytesIO(self.files[url])
        response.headers = {"Content-Length": str(len(self.files[url]))}
        return response


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("LAYERLOOM_DATA_DIR", str(tmp_path / "user"))
    return tmp_path / "user" / "datasets"


def served_mnist(monkeypatch, fail: Exception | None = None, tamper: bool = False) -> FakeWeb:
    """A fake web serving tiny MNIST .gz files, and the mnist spec checking them against their own MD5s."""
    spec = BENCHMARKS["mnist"]
    packed = {name: gzip.compress(idx_bytes(array)) for name, array in mnist_arrays().items()}
    monkeypatch.setitem(BENCHMARKS, "mnist", dataclasses.replace(
        spec, md5={f"{name}.gz": md5(data) for name, data in packed.items()}))
    web = FakeWeb({spec.url + name + ".gz": data + (b"x" if tamper else b"") for name, data in packed.items()}, fail)
    monkeypatch.setattr(download, "open_url", web)
    return web


def test_the_first_use_downloads_checks_and_keeps_the_files_then_reads_the_copy(data_dir, monkeypatch):
    web = served_mnist(monkeypatch)
    calls = []
    split = load_dataset({"name": "mnist"}, seed=0, progress=lambda *args: calls.append(args))
    assert len(split.train) == 40 and len(split.val) == 20
    assert web.asked == [f"https://ossci-datasets.s3.amazonaws.com/mnist/{name}.gz" for name in IDX_FILES]
    assert sorted(p.name for p in (data_dir / "mnist").iterdir()) == sorted(f"{n}.gz" for n in IDX_FILES)
    first = [c for c in calls if c[0] == "train-images-idx3-ubyte.gz"]
    assert first[0][1] == 0 and first[-1][1] == first[-1][2] == (data_dir / "mnist" / first[0][0]).stat().st_size
    again = load_dataset({"name": "mnist"}, seed=0)  # the copy: nothing asked for
    assert len(web.asked) == 4 and len(again.train) == 40


def test_a_preview_never_starts_a_download(data_dir, monkeypatch):
    web = served_mnist(monkeypatch)
    with pytest.raises(DataUnavailable) as err:
        load_dataset({"name": "mnist"}, seed=0, fetch=False)
    assert str(err.value).startswith("mnist: not downloaded yet — training downloads it once (12 MB: "
                                     "train-images-idx3-ubyte.gz, ") and str(data_dir / "mnist") in str(err.value)
    assert web.asked == []
    load_dataset({"name": "mnist"}, seed=0, progress=lambda *a: None)
    assert len(load_dataset({"name": "mnist"}, seed=0, fetch=False).train) == 40  # the copy, once there


def test_a_download_failing_its_checksum_is_refused_and_nothing_is_kept(data_dir, monkeypatch):
    served_mnist(monkeypatch, tamper=True)
    with pytest.raises(DataUnavailable) as err:
        load_dataset({"name": "mnist"}, seed=0, progress=lambda *a: None)
    message = str(err.value)
    assert "train-images-idx3-ubyte.gz: the download's MD5 is " in message and "not the published" in message
    assert list((data_dir / "mnist").iterdir()) == []  # no file, no temporary file


def test_offline_with_no_copy_names_the_files_and_the_folder_and_the_cli_exits_2(data_dir, tmp_path, monkeypatch,
                                                                                 capsys):
    served_mnist(monkeypatch, fail=urllib.error.URLError("[Errno -3] Temporary failure in name resolution"))
    cache = data_dir / "mnist"
    with pytest.raises(DataUnavailable) as err:
        load_dataset({"name": "mnist"}, seed=0)
    files = ", ".join(f"{name}.gz" for name in IDX_FILES)
    assert str(err.value).startswith(f"mnist: no network and no copy in {cache}: download {files} into {cache}")
    assert "Temporary failure in name resolution" in str(err.value)

    doc = tiny_cnn({"name": "mnist"})
    save_document(doc, tmp_path / "g.json")
    assert main(["train", str(tmp_path / "g.json"), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert f"error: mnist: no network and no copy in {cache}: download {files}" in err and "Traceback" not in err


def test_a_cifar_archive_is_fetched_unpacked_and_removed(data_dir, tmp_path, monkeypatch):
    written = write_cifar10(tmp_path / "src" / "cifar-10-batches-bin")
    (tmp_path / "src" / "cifar-10-batches-bin" / "batches.meta.txt").write_text("\n".join(benchmark_names.CIFAR10))
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        tar.add(tmp_path / "src" / "cifar-10-batches-bin", arcname="cifar-10-batches-bin")
    spec = BENCHMARKS["cifar10"]
    monkeypatch.setitem(BENCHMARKS, "cifar10", dataclasses.replace(spec, md5=md5(archive.getvalue())))
    web = FakeWeb({"https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz": archive.getvalue()})
    monkeypatch.setattr(download, "open_url", web)
    split = load_dataset({"name": "cifar10", "normalize": False}, seed=0, progress=lambda *a: None)
    assert split.val.tensors[1].tolist() == written["test_batch.bin"][0].tolist()
    assert [p.name for p in (data_dir / "cifar10").iterdir()] == ["cifar-10-batches-bin"]  # the archive is gone

    # offline, the error names the archive; a hand-placed archive is checked, then unpacked
    monkeypatch.setitem(BENCHMARKS, "cifar100", dataclasses.replace(BENCHMARKS["cifar100"], md5="0" * 32))
    monkeypatch.setattr(download, "open_url", FakeWeb({}, fail=OSError("Network is unreachable")))
    with pytest.raises(DataUnavailable, match=r"no copy in .*cifar100: download cifar-100-binary.tar.gz into"):
        load_dataset({"name": "cifar100"}, seed=0)
    (data_dir / "cifar100" / "cifar-100-binary.tar.gz").write_bytes(b"something else")
    with pytest.raises(DataUnavailable, match=r"cifar-100-binary.tar.gz: its MD5 is \w+, not the published 0000"):
        load_dataset({"name": "cifar100"}, seed=0)


def test_an_archive_reaching_outside_its_folder_is_refused(tmp_path):
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in ("cifar-10-batches-bin/ok.bin", "../escaped.txt"):
            info = tarfile.TarInfo(name)
            info.size = 2
            tar.addfile(info, io.BytesIO(b"hi"))
    (tmp_path / "into").mkdir()
    with pytest.raises(DataUnavailable, match="evil.tar.gz: cannot be unpacked"):
        download.unpack(archive, "cifar-10-batches-bin", tmp_path / "into")
    assert not (tmp_path / "escaped.txt").exists() and list((tmp_path / "into").iterdir()) == []


def test_the_terminal_progress_line(tmp_path):
    class Log(io.StringIO):
        tty = False

        def isatty(self):
            return self.tty

    log = Log()
    progress = download.TerminalProgress(log)
    for done in (0, 500_000, 1_000_000):
        progress("a.gz", done, 1_000_000)
    assert log.getvalue() == "downloading a.gz (1.0 MB)…\ndownloaded a.gz (1.0 MB of 1.0 MB)\n"
    log = Log()
    log.tty = True
    progress = download.TerminalProgress(log)
    for done in (0, 1_000_000):
        progress("a.gz", done, 1_000_000)
    assert log.getvalue() == "downloading a.gz (1.0 MB)\rdownloading a.gz: 1.0 MB of 1.0 MB (100 %)\n"


# -- training on them ----------------------------------------------------------------------------------
def tiny_cnn(dataset: dict) -> GraphDocument:
    """Input (1, 28, 28) → Conv2d 4 → ReLU → MaxPool 4 → Flatten → Linear 10 → Output, cross-entropy."""
    return small_graph("mnist_cnn", dataset=dataset)


def test_a_cnn_trains_on_tiny_mnist_files_exports_and_predicts_a_png(tmp_path, capsys):
    arrays = write_mnist(tmp_path / "mnist")
    save_document(tiny_cnn({"name": "mnist", "path": "mnist"}), tmp_path / "g.json")
    assert main(["train", str(tmp_path / "g.json"), "--out", str(tmp_path / "run")]) == 0
    capsys.readouterr()
    data = json.loads((tmp_path / "run" / "data.json").read_text())
    assert data["dataset"] == {"name": "mnist", "path": "mnist"} and data["class_names"] == benchmark_names.MNIST
    assert data["raw"]["kind"] == "image" and data["train_samples"] == 40 and data["val_samples"] == 20

    assert main(["export", str(tmp_path / "g.json"), "--weights", str(tmp_path / "run"),
                 "--onnx", str(tmp_path / "m.onnx")]) == 0
    capsys.readouterr()
    (raw,) = ort.InferenceSession(str(tmp_path / "m.onnx")).get_inputs()
    assert raw.type == "tensor(uint8)" and raw.shape[1:] == [28, 28, 1]  # pixels, as for an image folder
    image = arrays["t10k-images-idx3-ubyte"][3].astype(np.uint8)
    Image.fromarray(image, "L").save(tmp_path / "three.png")
    assert main(["predict", str(tmp_path / "m.onnx"), str(tmp_path / "three.png"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    (logits,) = ort.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"input1": image[None, :, :, None]})
    assert report["predictions"][0]["label"] == str(int(logits.argmax()))


def test_the_trainer_reports_the_benchmark_dataset(tmp_path):
    write_mnist(tmp_path / "mnist")
    result, events = run(tiny_cnn({"name": "mnist", "path": str(tmp_path / "mnist")}), tmp_path / "run", epochs=1)
    assert result.state == "finished"
    assert of_type(events, "started")[0]["dataset"].startswith("mnist: 40 train / 20 val, x (1, 28, 28) float32")
