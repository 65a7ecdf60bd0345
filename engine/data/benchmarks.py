"""The benchmark image sets, read from the files their publishers distribute: MNIST, Fashion-MNIST,
CIFAR-10 and CIFAR-100 (the binary versions — never the pickled Python ones).

    {"name": "mnist"}                                   # fetched once into the user data folder
    {"name": "cifar10", "path": "data/cifar-10-batches-bin"}   # a copy already on disk: no download

`path` names a folder holding the files as the publisher's archive unpacks them: for MNIST and
Fashion-MNIST the four IDX files (`train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
`t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`, each gzipped or not); for CIFAR-10
`cifar-10-batches-bin/` (`data_batch_1.bin` … `data_batch_5.bin`, `test_batch.bin`); for CIFAR-100
`cifar-100-binary/` (`train.bin`, `test.bin`) — the folder itself or the one holding it. Without
`path` the files live in `<user data folder>/datasets/<name>` (download.py), fetched from the
publisher on first use and checked against the published MD5; with no network and no copy the error
names the files to put there by hand.

Images become float32 (N, 1, 28, 28) or (N, 3, 32, 32) in [0, 1] — the image folder's convention
(images.py), so they are standardised per channel the same way and an export takes uint8 pixels —
and labels int64 (CIFAR-100: the 100 fine classes). The published test set is the validation part;
with `val_split` set, that share of the training set is held out instead and the test set is unused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataUnavailable
from . import benchmark_names
from .augment import build_augment
from .benchmark_files import idx_file, read_cifar, read_idx, read_names
from .download import FetchFailed, cache_folder, default_progress, fetch, unpack
from .options import Options
from .split import DataSplit, assemble, split_arrays, val_fraction

Arrays = tuple[np.ndarray, np.ndarray]  # uint8 images (N, C, H, W), int64 labels (N,)


@dataclass(frozen=True)
class IdxSet:
    """MNIST's layout: four IDX files, each fetched on its own."""

    url: str  # the folder the files are published in
    md5: dict[str, str]  # published .gz file → its MD5
    class_names: list[str]
    size: str  # of the download, as a person reads it
    shape = (1, 28, 28)
    samples = (60_000, 10_000)  # training set, test set

    def files(self) -> list[str]:
        return [name.removesuffix(".gz") for name in self.md5]

    def missing(self, folder: Path) -> list[str]:
        return [name for name in self.files() if idx_file(folder, name) is None]

    def fetch(self, cache: Path, progress) -> None:
        for name in self.missing(cache):
            fetch(self.url + name + ".gz", cache / f"{name}.gz", self.md5[f"{name}.gz"], progress)

    def read(self, folder: Path) -> tuple[Arrays, Arrays, list[str]]:
        train_x, train_y, test_x, test_y = (idx_file(folder, name) for name in self.files())
        return self._pair(train_x, train_y), self._pair(test_x, test_y), self.class_names

    def _pair(self, images: Path, labels: Path) -> Arrays:
        x, y = read_idx(images, self.shape[1:]), read_idx(labels, ())
        if len(x) != len(y):
            raise DataUnavailable(f"{images} holds {len(x):,} images but {labels} holds {len(y):,} labels — one "
                                  "of them is damaged or from another set; download them again")
        if (y >= len(self.class_names)).any():
            raise DataUnavailable(f"{labels}: label {int(y.max())} is past the {len(self.class_names)} classes — "
                                  "the file is damaged or from another set")
        return x[:, None], y.astype(np.int64)


@dataclass(frozen=True)
class CifarSet:
    """CIFAR's layout: one archive unpacking to a folder of fixed-size record files."""

    archive: str
    md5: str
    folder: str
    train: list[str]
    test: str
    label_bytes: int
    names_file: str
    class_names: list[str]
    size: str
    url: str = "https://www.cs.toronto.edu/~kriz/"
    shape = (3, 32, 32)
    samples = (50_000, 10_000)  # training set, test set

    def files(self) -> list[str]:
        return [*self.train, self.test]

    def home(self, folder: Path) -> Path:
        """The folder holding the record files: `folder` itself, or the archive's folder inside it."""
        inner = folder / self.folder
        return inner if not (folder / self.test).is_file() and inner.is_dir() else folder

    def missing(self, folder: Path) -> list[str]:
        home = self.home(folder)
        return [name for name in self.files() if not (home / name).is_file()]

    def fetch(self, cache: Path, progress) -> None:
        archive = fetch(self.url + self.archive, cache / self.archive, self.md5, progress)
        unpack(archive, self.folder, cache)
        archive.unlink(missing_ok=True)  # the unpacked folder is what is read

    def read(self, folder: Path) -> tuple[Arrays, Arrays, list[str]]:
        home, classes = self.home(folder), len(self.class_names)
        parts = [read_cifar(home / name, self.label_bytes, classes) for name in self.files()]
        train = [np.concatenate(a) for a in zip(*parts[:-1], strict=True)]
        names = read_names(home / self.names_file, classes) or self.class_names
        return (*(self._pair(*p) for p in (train, parts[-1])), names)

    def _pair(self, x: np.ndarray, labels: np.ndarray) -> Arrays:
        return x, labels[:, -1].astype(np.int64)  # CIFAR-100: the fine label, after the coarse one


BENCHMARKS: dict[str, IdxSet | CifarSet] = {
    # torchvision's mirror of Yann LeCun's files; the MD5s are the ones torchvision and the original page list
    "mnist": IdxSet("https://ossci-datasets.s3.amazonaws.com/mnist/", {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    }, benchmark_names.MNIST, "12 MB"),
    "fashion_mnist": IdxSet("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/", {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    }, benchmark_names.FASHION_MNIST, "31 MB"),
    # the binary versions' MD5s from https://www.cs.toronto.edu/~kriz/cifar.html
    "cifar10": CifarSet("cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530", "cifar-10-batches-bin",
                        [f"data_batch_{i}.bin" for i in range(1, 6)], "test_batch.bin", 1, "batches.meta.txt",
                        benchmark_names.CIFAR10, "170 MB"),
    "cifar100": CifarSet("cifar-100-binary.tar.gz", "03b5dce01913d631647c71ecec9e9cb8", "cifar-100-binary",
                         ["train.bin"], "test.bin", 2, "fine_label_names.txt", benchmark_names.CIFAR100,
                         "169 MB"),
}


def load_benchmark(opts: Options, seed: int) -> DataSplit:
    spec = BENCHMARKS[opts.name]
    folder = locate(opts, spec)
    (x_train, y_train), (x_test, y_test), names = spec.read(folder)
    x_train, x_test = scaled(x_train), scaled(x_test)
    if "val_split" in opts.config:  # hold out part of the training set; the test set stays unseen
        train, val = split_arrays(opts, x_train, y_train, seed, stratify=True)
    else:
        train, val = (x_train, y_train), (x_test, y_test)
    channels, height, width = spec.shape
    raw = {"kind": "image", "size": [height, width], "channels": channels, "scale": 1 / 255}
    return assemble(opts, train, val, task="classification", num_classes=len(names), class_names=names, raw=raw)


def known_info(opts: Options, unavailable: str) -> dict:
    """What a set is without its files — the shape, dtype and classes every copy has, the split sizes its
    settings give — so a graph is checked against it before the (large) download; `unavailable` says why
    the files were not read. The settings are checked as loading would check them."""
    spec = BENCHMARKS[opts.name]
    opts.text("path", None)
    opts.boolean("normalize", True)
    build_augment(opts, spec.shape, is_float=True)
    train, val = spec.samples
    if "val_split" in opts.config:  # as split_arrays: sklearn rounds the held-out share up
        val = math.ceil(val_fraction(opts) * train)
        train -= val
    opts.finish()
    classes = len(spec.class_names)
    return {"name": opts.name, "input_shape": list(spec.shape), "target_shape": [], "input_dtype": "float32",
            "task": "classification", "num_classes": classes, "class_names": list(spec.class_names),
            "train_samples": train, "val_samples": val, "vocab_size": None, "samples": [], "unavailable": unavailable,
            "description": f"{opts.name}: {train} train / {val} val, x {spec.shape} float32, {classes} classes "
                           f"— not read yet: {unavailable}"}


def scaled(pixels: np.ndarray) -> np.ndarray:
    """uint8 (N, C, H, W) → float32 in [0, 1], exactly as an image folder's pixels become x."""
    x = pixels.astype(np.float32)
    x /= 255.0
    return x


def locate(opts: Options, spec: IdxSet | CifarSet) -> Path:
    """The folder holding the set's files: `path` when given (never downloaded into), else the cache,
    fetched into on first use."""
    if opts.text("path", None):
        folder = opts.path()
        if not folder.is_dir():
            raise DataUnavailable(f"{opts.config['path']}: is not a folder — point path at the folder holding "
                                  f"{_listed(spec.files())}")
        if missing := spec.missing(folder):
            raise DataUnavailable(f"{opts.config['path']}: has no {_listed(missing)} — the folder must hold the "
                                  f"files as {opts.name}'s archive unpacks them ({_listed(spec.files())})")
        return folder
    cache = cache_folder(opts.name)
    if not spec.missing(cache):
        return cache
    wanted = spec.archive if isinstance(spec, CifarSet) else _listed(f"{n}.gz" for n in spec.missing(cache))
    if not opts.fetch:
        raise DataUnavailable(f"{opts.name}: not downloaded yet — training downloads it once ({spec.size}: {wanted}) "
                              f"into {cache}; or set the dataset's \"path\" to a folder holding the files")
    try:
        spec.fetch(cache, opts.progress or default_progress())
    except FetchFailed as exc:
        raise DataUnavailable(f"{opts.name}: no network and no copy in {cache}: download {wanted} into {cache} "
                              f"(from {spec.url}), or set the dataset's \"path\" to a folder holding the files "
                              f"({exc})") from None
    return cache


def _listed(names) -> str:
    return ", ".join(names)
