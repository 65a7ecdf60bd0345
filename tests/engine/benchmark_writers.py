"""Tiny files in the benchmark sets' published formats (IDX, CIFAR binary), for tests that read them
through a dataset's `path`: never a download."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

IDX_FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def idx_bytes(array: np.ndarray) -> bytes:
    """`array` (uint8) as an IDX file: 0, 0, 0x08 (unsigned byte), the number of dimensions; the dimensions
    as big-endian int32; the values."""
    header = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def mnist_arrays(train: int = 40, test: int = 20, seed: int = 0) -> dict[str, np.ndarray]:
    """Images whose class is written in them (a bright square at a place per class) and their labels."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for prefix, count in (("train", train), ("t10k", test)):
        labels = np.arange(count) % 10
        images = rng.integers(0, 40, (count, 28, 28))
        for image, label in zip(images, labels, strict=True):
            image[2 + 2 * label:8 + 2 * label, 4:10] = 250
        arrays[f"{prefix}-images-idx3-ubyte"], arrays[f"{prefix}-labels-idx1-ubyte"] = images, labels
    return arrays


def write_mnist(folder: Path, gzipped=(True, False, False, True), **kwargs) -> dict[str, np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    arrays = mnist_arrays(**kwargs)
    for (name, array), packed in zip(arrays.items(), gzipped, strict=True):
        data = idx_bytes(array)
        (folder / (name + ".gz" if packed else name)).write_bytes(gzip.compress(data) if packed else data)
    return arrays


def cifar_records(count: int, label_bytes: int, classes: int, seed: int) -> tuple[bytes, np.ndarray, np.ndarray]:
    """`count` CIFAR binary records: (labels (count, label_bytes), pixels (count, 3, 32, 32)) and their bytes.
    The fine label is written in the picture (a bright square at a place per class), so a model can learn it."""
    rng = np.random.default_rng(seed)
    labels = np.stack([rng.integers(0, 20, count), np.arange(count) % classes], 1)[:, 2 - label_bytes:]
    pixels = rng.integers(0, 120, (count, 3, 32, 32))
    for image, label in zip(pixels, labels[:, -1], strict=True):
        row, col = divmod(int(label) % 16, 4)
        image[:, 8 * row:8 * row + 6, 8 * col:8 * col + 6] = 250
    records = np.concatenate([labels, pixels.reshape(count, -1)], 1).astype(np.uint8)
    return records.tobytes(), labels, pixels


def write_cifar10(folder: Path, count: int = 6) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for i, name in enumerate([f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]):
        data, labels, pixels = cifar_records(count, 1, 10, seed=i)
        (folder / name).write_bytes(data)
        written[name] = (labels[:, 0], pixels)
    return written
