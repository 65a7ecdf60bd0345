"""Data sources: turn a graph's `training["dataset"]` config into training and validation sets.

    split = load_dataset({"name": "digits", "val_split": 0.2}, seed=0)
    split.train, split.val          # TensorDatasets of (x, y)
    split.input_shape, split.describe(), split.augment(x_batch) …   (see split.DataSplit)

Settings every dataset understands: `val_split` (default 0.2; the benchmark sets in benchmarks.py
validate on their published test set unless it is set), `normalize` (default true:
standardise float inputs with training-part statistics) and `augment` (see augment.py). The rest
are per source and documented in its module. Importing this package is cheap (no torch, no
scikit-learn), so a GUI can list `DATASETS`; the loader module is imported on first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from ..errors import DataError
from .options import Options
from .split import DataSplit

DATASETS = {
    "digits": "8×8 handwritten digits as (1, 8, 8) images, 10 classes (1797 samples)",
    "iris": "iris flowers: 4 measurements, 3 species (150 samples)",
    "wine": "wines: 13 chemical measurements, 3 cultivars (178 samples)",
    "breast_cancer": "tumours: 30 cell measurements, malignant or benign (569 samples)",
    "sequence": "synthetic (T, F) sequences whose class is signalled early — needs memory (RNN/LSTM)",
    "text": "character-level next-character prediction over a shipped text (or your own UTF-8 file)",
    "csv": "your CSV table: a label column and feature columns (numbers, text categories, yes/no, empty cells)",
    "parquet": "your Parquet table: a label column and feature columns, like a CSV",
    "npz": "your numpy .npz archive with arrays x and y",
    "npy": "your two numpy .npy files: inputs (\"path\") and labels (\"labels\")",
    "image_folder": "your folder of images, one sub-folder per class",
    "hf_dataset": "a Hugging Face datasets dataset: a folder saved with save_to_disk (\"path\") or a hub name "
                  "(\"hub\"); its columns as a table, an \"image\" or a \"text\" (needs layerloom[hf])",
    "mnist": "MNIST handwritten digits as (1, 28, 28) images, 10 classes (60,000 + 10,000 test; 12 MB download once, "
             "or \"path\" to the IDX files)",
    "fashion_mnist": "Fashion-MNIST clothes as (1, 28, 28) images, 10 classes (60,000 + 10,000 test; 31 MB download "
                     "once, or \"path\" to the IDX files)",
    "cifar10": "CIFAR-10 photos as (3, 32, 32) images, 10 classes (50,000 + 10,000 test; 170 MB download once, or "
               "\"path\" to cifar-10-batches-bin)",
    "cifar100": "CIFAR-100 photos as (3, 32, 32) images, 100 fine classes (50,000 + 10,000 test; 169 MB download "
                "once, or \"path\" to cifar-100-binary)",
}
BENCHMARKS = ("mnist", "fashion_mnist", "cifar10", "cifar100")  # `path` optional: a folder, else the user's cache

# name → (module in this package, loader function)
_LOADERS = {
    "digits": ("builtin", "load_sklearn"),
    "iris": ("builtin", "load_sklearn"),
    "wine": ("builtin", "load_sklearn"),
    "breast_cancer": ("builtin", "load_sklearn"),
    "sequence": ("sequence", "load_sequence"),
    "text": ("text", "load_text"),
    "csv": ("files", "load_csv"),
    "parquet": ("parquet", "load_parquet"),
    "npz": ("files", "load_npz"),
    "npy": ("files", "load_npy"),
    "image_folder": ("images", "load_image_folder"),
    "hf_dataset": ("hf", "load_hf"),
    **{name: ("benchmarks", "load_benchmark") for name in BENCHMARKS},
}


def load_dataset(config: dict, seed: int, base_dir: str | Path | None = None,
                 in_memory: Callable[[int], bool] | None = None,
                 progress: Callable[[str, int, int | None], None] | None = None, fetch: bool = True) -> DataSplit:
    """Load and split the dataset `config` describes; relative paths are resolved against `base_dir`.

    The same config and seed always give the same split. Raises DataError naming the setting, file,
    row or column at fault (DataUnavailable when a benchmark set's files cannot be had or read).
    `in_memory(bytes)` says whether a source that can be read lazily (an image folder) should rather
    be decoded whole, given its decoded size; by default everything is. `progress(file, bytes, total)`
    follows a benchmark set's first download (by default a progress line on stderr); with `fetch` false a
    set not downloaded yet is a DataUnavailable saying so instead (a preview never starts a download).
    """
    if not isinstance(config, dict):
        raise DataError(f"the dataset setting must be an object like {{\"name\": \"digits\"}}, got {config!r}")
    name = config.get("name")
    if not isinstance(name, str) or name not in _LOADERS:
        shown = "no dataset name" if name is None else f"unknown dataset {name!r}"
        raise DataError(f"{shown} — choose one of: {', '.join(DATASETS)}")
    module, function = _LOADERS[name]
    loader = getattr(importlib.import_module(f"{__name__}.{module}"), function)
    opts = Options(config, base_dir)
    if in_memory is not None:
        opts.in_memory = in_memory
    opts.progress, opts.fetch = progress, fetch
    return loader(opts, seed)


__all__ = ["BENCHMARKS", "DATASETS", "DataError", "DataSplit", "load_dataset"]
