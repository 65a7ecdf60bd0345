"""`DataSplit`, what every loader returns, and the steps all loaders share.

A loader turns its source into numpy arrays, then either hands all samples to `split_arrays`
(a seeded, stratified shuffle split) or splits them itself (text keeps order so windows of the
validation part never overlap the training part), and finally calls `assemble`, which standardises
features with statistics from the training part only, builds the augmentation, refuses unknown
settings and wraps everything as torch `TensorDataset`s.

Two settings `assemble` reads for every source: `normalize_target` (default true) standardises a
regression's targets with training-part statistics — a model whose outputs start near 0 with unit
scale cannot reach house prices of 1e5–1e6 by gradient descent in any sensible number of steps — and
`target_normalization` says how to map its outputs back (`destandardise`); `class_balance` (default
"none") weighs the classes of an imbalanced label equally: "oversample" repeats the training samples of
every class until each has as many as the largest; "weights" keeps the samples and gives each class the
weight n / (classes · count) — scikit-learn's "balanced" — in `DataSplit.class_weights`, which the
trainer hands to the graph's CrossEntropyLoss (engine/train/class_weights.py).

A table's split remembers where each validation sample came from (`DataSplit.val_source`: its row as a
spreadsheet shows it and its raw cells), so a mistake is shown as the CSV row a user can look up.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import DataError
from ..preprocessing import destandardise
from .augment import Augment, build_augment
from .options import Options

Arrays = tuple[np.ndarray, np.ndarray]  # (x, y), first axis = samples
STATS_SAMPLES = 1000  # training samples a lazily read dataset's standardisation statistics are taken from
IMBALANCE_RATIO = 0.5  # a class with fewer training samples than this share of the largest is warned about
BALANCES = ("none", "oversample", "weights")
STATS_CHUNK = 64  # … decoded so many at a time, so the memory they take does not grow with the image size × 1000


@dataclass
class SourceRows:
    """The source rows of a split's samples, in the split's order: `rows[i]` names sample i where its source keeps
    it — a table's row as an error would ("row 23"), an image folder's file ("cat/007.png") —, `cells[column][i]` is
    its raw cell in every column of a table's file (no columns for images)."""

    rows: list[str]
    cells: dict[str, list[str]]

    def row(self, i: int) -> dict:
        return {"row": self.rows[i], "cells": {column: values[i] for column, values in self.cells.items()}}


@dataclass
class DataSplit:
    """A training and a validation `TensorDataset` of (x, y) pairs, and what a graph needs to know."""

    name: str
    train: object  # torch.utils.data.TensorDataset, or a dataset read lazily (see batches.py: streamed)
    val: object
    input_shape: tuple[int, ...]
    target_shape: tuple[int, ...]
    input_dtype: str  # "float32" | "int64", as the Input node's dtype param
    target_dtype: str
    task: str  # "classification" | "regression"
    num_classes: int | None = None
    class_names: list[str] | None = None
    vocab: list[str] | None = None  # text only: token id → character
    # Applied by the trainer to training batches only, on the device; identity when off.
    augment: Augment = field(default_factory=Augment)
    # Per-feature mean/std taken from the training part, None when not standardised. New data
    # must be standardised the same way before it is fed to a trained model.
    normalization: dict[str, list[float]] | None = None
    # A regression's target mean/std (training part; "axis" as for normalization): y was standardised
    # for training, and a prediction p means p·std + mean in the data's own units. None when not.
    target_normalization: dict | None = None
    # What a raw input is before it becomes x (see `record`): {"kind": "array"} unless the loader says more
    # (float arrays also record the "value_range" [min, max] of the training x, before standardisation).
    raw: dict = field(default_factory=lambda: {"kind": "array"})
    # What the user should know about the data that did not stop loading it (files skipped); shown
    # by `describe`, so in the run's started event, data.json and the app's dataset summary.
    warnings: list[str] = field(default_factory=list)
    # What the loader did to the data that the user did not ask for in so many words (an image folder's
    # resizing and conversions); shown by `describe` before the warnings, so in the same places.
    notes: list[str] = field(default_factory=list)
    # class_balance "weights": the loss weight of each class (n / (classes · count) over the training part)
    class_weights: list[float] | None = None
    # A table's validation samples as rows of its file (the order of `val`); None for other sources.
    val_source: SourceRows | None = None

    def describe(self) -> str:
        kind = f"{self.num_classes} classes" if self.task == "classification" else f"y {self.target_shape} regression"
        extra = f", augment {self.augment}" if self.augment.active else ""
        if self.class_weights:
            extra += ", class weights " + " / ".join(f"{w:.3g}" for w in self.class_weights)
        warnings = "".join(f" — note: {n}" for n in self.notes) + "".join(f" — warning: {w}" for w in self.warnings)
        return (f"{self.name}: {len(self.train)} train / {len(self.val)} val, "
                f"x {self.input_shape} {self.input_dtype}, {kind}{extra}{warnings}")

    def record(self, config: dict) -> dict:
        """Everything needed to use a model trained on this data with new raw data, as plain JSON.

        Written as a run's `data.json` and read by export and `layerloom predict`. A raw input becomes
        the model's x in two steps: `raw` (how a file becomes an array: an image's size, channels and
        pixel scale; a table's feature columns; a text's vocabulary), then `normalization`
        (x = (raw·scale − mean) / std per feature along `axis` of a sample, when present).
        """
        return {"dataset": dict(config), "summary": self.describe(), "task": self.task,
                "input_shape": list(self.input_shape), "input_dtype": self.input_dtype,
                "target_shape": list(self.target_shape), "target_dtype": self.target_dtype,
                "num_classes": self.num_classes, "class_names": self.class_names,
                "train_samples": len(self.train), "val_samples": len(self.val), "class_weights": self.class_weights,
                "raw": {**self.raw, **({"vocab": self.vocab} if self.vocab else {}),
                        **({"target_normalization": self.target_normalization} if self.target_normalization else {})},
                "normalization": self.normalization}

    def preview(self, count: int) -> list[dict]:
        """The first `count` training samples as plain data for a preview: values (flat), shape, and
        the label as a person reads it — a class name, the decoded text, or the target's numbers."""
        samples = []
        for i in range(min(count, len(self.train))):
            x, y = self.train[i]
            samples.append({"x": x.reshape(-1).tolist(), "shape": list(x.shape), "text": self._decode(x),
                            "label": self._label(y)})
        return samples

    def _decode(self, tokens) -> str | None:
        return "".join(self.vocab[int(t)] for t in tokens.reshape(-1)) if self.vocab else None

    def _label(self, y) -> str:
        if self.vocab:
            return self._decode(y)
        if self.task == "classification" and y.ndim == 0:
            index = int(y)
            return self.class_names[index] if self.class_names and index < len(self.class_names) else str(index)
        values = destandardise(self.target_normalization, y.reshape(1, *y.shape).numpy())
        return ", ".join(f"{v:.4g}" for v in values.reshape(-1).tolist()[:8]) + (" …" if y.numel() > 8 else "")


def val_fraction(opts: Options) -> float:
    return opts.number("val_split", 0.2, 0.0, 1.0, open_low=True, open_high=True)


def split_arrays(opts: Options, x: np.ndarray, y: np.ndarray, seed: int, stratify: bool) -> tuple[Arrays, Arrays]:
    """A seeded shuffle split (stratified by `y` when asked and every class can be on both sides)."""
    from sklearn.model_selection import train_test_split

    fraction = val_fraction(opts)
    indices = np.arange(len(x))
    try:
        train_idx, val_idx = train_test_split(indices, test_size=fraction, random_state=seed,
                                              stratify=y if stratify else None)
    except ValueError:
        if not stratify:
            raise DataError(f"dataset {opts.name!r}: {len(x)} samples cannot be split with "
                            f"val_split {fraction:g} — add samples or change val_split") from None
        # A class too small to appear on both sides: fall back to a plain shuffle split.
        return split_arrays(opts, x, y, seed, stratify=False)
    return (x[train_idx], y[train_idx]), (x[val_idx], y[val_idx])


def assemble(opts: Options, train: Arrays, val: Arrays, *, task: str, num_classes: int | None = None,
             class_names: list[str] | None = None, vocab: list[str] | None = None,
             raw: dict | None = None, lazy=None) -> DataSplit:
    """Standardise, build the augmentation, check every setting was understood, wrap as tensors.

    With `lazy` (an image folder too big to decode up front, see images.ImageReader) the x arrays hold
    file paths: the statistics come from the first `STATS_SAMPLES` training files decoded (the split is
    already shuffled; all of them when there are no more), and the datasets read their files when asked."""
    import torch
    from torch.utils.data import TensorDataset

    (x_train, y_train), (x_val, y_val) = train, val
    if not len(x_train) or not len(x_val):
        raise DataError(f"dataset {opts.name!r}: the split leaves {len(x_train)} training and {len(x_val)} "
                        "validation samples — both need at least one; add samples or change val_split")
    sample = lazy.decode(x_train[:STATS_CHUNK]) if lazy else x_train
    is_float = sample.dtype == np.float32
    if raw is None and not vocab and is_float and sample.size:
        # the range x spans, so `layerloom predict` can give an image-shaped array model a picture on that scale
        raw = {"kind": "array", "value_range": [float(sample.min()), float(sample.max())]}
    normalization, mean, std = None, None, None
    if opts.boolean("normalize", True) and is_float:  # token ids (int64) are never standardised
        mean, std, axis = _lazy_image_stats(lazy, x_train[:STATS_SAMPLES]) if lazy else _feature_stats(sample)
        if not lazy:
            x_train, x_val = (x_train - mean) / std, (x_val - mean) / std
        normalization = {"mean": mean.ravel().tolist(), "std": std.ravel().tolist(), "axis": axis}
    augment = build_augment(opts, sample.shape[1:], is_float)
    target_normalization = None
    if opts.boolean("normalize_target", True) and task == "regression" and y_train.dtype == np.float32:
        y_mean, y_std, y_axis = _feature_stats(y_train)
        y_train, y_val = (y_train - y_mean) / y_std, (y_val - y_mean) / y_std
        target_normalization = {"mean": y_mean.ravel().tolist(), "std": y_std.ravel().tolist(), "axis": y_axis}
    balance = opts.choice("class_balance", "none", BALANCES)
    x_train, y_train, warnings = _balance(opts, balance, task, x_train, y_train, class_names)
    class_weights = _class_weights(y_train, num_classes) if balance == "weights" else None
    opts.finish()

    def dataset(x: np.ndarray, y: np.ndarray):
        if lazy:
            return lazy.dataset(x, y, mean, std)
        return TensorDataset(torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(y)))

    return DataSplit(
        name=opts.name, train=dataset(x_train, y_train), val=dataset(x_val, y_val),
        input_shape=tuple(sample.shape[1:]), target_shape=tuple(y_train.shape[1:]),
        input_dtype=str(sample.dtype), target_dtype=str(y_train.dtype), task=task,
        num_classes=num_classes, class_names=class_names, vocab=vocab, augment=augment,
        normalization=normalization, raw=raw or {"kind": "text" if vocab else "array"},
        target_normalization=target_normalization, warnings=warnings, class_weights=class_weights,
    )


def _balance(opts: Options, balance: str, task: str, x: np.ndarray, y: np.ndarray,
             class_names: list[str] | None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The training part oversampled to balanced classes when asked; else a warning when classes are imbalanced."""
    one_label = task == "classification" and y.ndim == 1 and y.dtype == np.int64
    if not one_label:
        if balance != "none":
            raise opts.error("class_balance", "applies to one class label per sample — this dataset has none")
        return x, y, []
    counts = np.bincount(y)
    present = np.flatnonzero(counts)
    if balance == "weights":
        return x, y, []
    if balance == "oversample":
        # every class's samples repeated in turn up to the largest class's count: deterministic, exactly balanced
        order = np.concatenate([np.resize(np.flatnonzero(y == c), counts.max()) for c in present])
        return x[order], y[order], []
    small, large = present[counts[present].argmin()], counts.argmax()
    if counts[small] >= IMBALANCE_RATIO * counts[large]:
        return x, y, []
    name = (lambda c: class_names[c] if class_names and c < len(class_names) else str(c))
    share = counts / counts.sum()
    return x, y, [f"classes are imbalanced: {name(small)!r} is {share[small]:.1%} of the training samples, "
                  f"{name(large)!r} {share[large]:.1%} — always answering {name(large)!r} scores "
                  f"{share[large]:.1%}; set \"class_balance\" to \"weights\" or \"oversample\" to weigh classes "
                  "equally, and read the per-class recall"]


def _class_weights(y: np.ndarray, classes: int | None) -> list[float]:
    """Each class's weight n / (classes · count) over the training labels `y`; a class without training samples
    weighs 1 (it never appears in a training loss anyway)."""
    counts = np.bincount(y, minlength=classes or 0)
    weights = np.where(counts > 0, len(y) / (len(counts) * np.maximum(counts, 1)), 1.0)
    return [float(w) for w in weights]


def _lazy_image_stats(lazy, paths: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """`_feature_stats` of the images at `paths` (N, C, H, W: per channel), decoded a chunk at a time."""
    total = squares = None
    count = 0
    for start in range(0, len(paths), STATS_CHUNK):
        x = lazy.decode(paths[start:start + STATS_CHUNK]).astype(np.float64)
        sums, sums2 = x.sum(axis=(0, 2, 3)), np.square(x).sum(axis=(0, 2, 3))
        total, squares = (sums, sums2) if total is None else (total + sums, squares + sums2)
        count += x.shape[0] * x.shape[2] * x.shape[3]
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean ** 2, 0.0))
    std[std < 1e-8] = 1.0
    shape = (1, len(mean), 1, 1)
    return mean.reshape(shape).astype(np.float32), std.reshape(shape).astype(np.float32), 0


def _feature_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Mean and std per channel for images (N, C, H, W), per last axis otherwise.

    Returns them shaped to broadcast against `x`, plus the sample axis they run along. Constant
    features (a digit image's always-blank corner) get std 1 so they stay finite.
    """
    axis = 0 if x.ndim == 4 else max(x.ndim - 2, 0)  # the feature axis within one sample
    keep = axis + 1
    reduce = tuple(i for i in range(x.ndim) if i != keep) if x.ndim > 1 else (0,)
    mean = x.mean(axis=reduce, keepdims=True, dtype=np.float64)
    std = x.std(axis=reduce, keepdims=True, dtype=np.float64)
    std[std < 1e-8] = 1.0
    return mean.astype(np.float32), std.astype(np.float32), axis
