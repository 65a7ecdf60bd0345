"""A dataset seen as the model will see it: what the app's Dataset tab shows (the worker's `dataset_summary`).

    summary = dataset_summary({"name": "cifar10", "augment": {"flip": True}}, seed=0, base_dir=None,
                              augment=True, draw=3)

Plain JSON: the split sizes; per class its training and validation counts (as trained: after
`class_balance` oversampling); the split's notes (an image folder's resizing) and warnings (class
imbalance among them, see split.py); value
ranges (min, max, mean, std) per channel of an image or per feature of a table, of training x as the
model receives it (after standardisation); a batch of BATCH training samples drawn at random (`draw`
seeds the draw: a new number is a reshuffle), after augmentation when `augment` — the trainer's own
`DataSplit.augment`, seeded by `draw` too; and for text the tokens of the first sample. A benchmark
set not on this machine is described without its files (describe.py): no batch, and `unavailable`
says why. Nothing here downloads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataUnavailable
from . import BENCHMARKS, load_dataset
from .options import Options
from .split import DataSplit

BATCH = 16  # samples in the batch shown
RANGE_SAMPLES = 512  # training samples the value ranges are taken from
FEATURES_SHOWN = 64  # rows of a table's value ranges (the rest are counted)


def dataset_summary(config: dict, seed: int, base_dir: str | Path | None, augment: bool = True,
                    draw: int = 0) -> dict:
    try:
        # an image folder is read lazily: the summary decodes the few hundred files it shows, never the whole folder
        split = load_dataset(config, seed, base_dir, in_memory=lambda size: False, fetch=False)
    except DataUnavailable as exc:
        if config.get("name") not in BENCHMARKS:
            raise
        from .benchmarks import known_info

        info = known_info(Options(config, base_dir), str(exc))
        return {**info, "classes": None, "notes": [], "warnings": [], "ranges": None, "batch": None, "tokens": None}
    classes = class_counts(split)
    return {"name": split.name, "description": split.describe(), "task": split.task,
            "input_shape": list(split.input_shape), "train_samples": len(split.train), "val_samples": len(split.val),
            "classes": classes, "notes": list(split.notes), "warnings": list(split.warnings),
            "ranges": None if split.vocab else value_ranges(split), "batch": batch(split, augment, draw),
            "tokens": tokens(split)}


def labels(dataset) -> np.ndarray | None:
    """The labels of a split part without decoding its samples (in memory, or an image folder's)."""
    if hasattr(dataset, "tensors"):
        return dataset.tensors[1].numpy()
    found = getattr(dataset, "labels", None)
    return np.asarray(found) if found is not None else None


def class_counts(split: DataSplit) -> dict | None:
    """{"names", "train", "val"}: samples per class in each part; None unless each sample has one class."""
    if split.task != "classification" or split.vocab or not split.num_classes:
        return None
    parts = [labels(split.train), labels(split.val)]
    if any(y is None or y.ndim != 1 for y in parts):
        return None
    names = split.class_names or [str(i) for i in range(split.num_classes)]
    train, val = (np.bincount(y, minlength=split.num_classes).tolist() for y in parts)
    return {"names": names, "train": train, "val": val}


def value_ranges(split: DataSplit) -> dict | None:
    """min, max, mean and std per channel (images (C, H, W)) or per feature (tables (F,)) of training x."""
    x = _first(split.train, RANGE_SAMPLES).astype(np.float64)
    if x.ndim == 4:
        axis, values = "channel", x.transpose(1, 0, 2, 3).reshape(x.shape[1], -1)
        names = [f"channel {c}" for c in range(x.shape[1])]
    elif x.ndim == 2:
        axis, values = "feature", x.T
        names = split.raw.get("features") or [f"feature {f}" for f in range(x.shape[1])]
    else:
        return None
    rows = [{"name": str(name), "min": float(v.min()), "max": float(v.max()), "mean": float(v.mean()),
             "std": float(v.std())} for name, v in zip(names, values[:FEATURES_SHOWN], strict=False)]
    return {"axis": axis, "rows": rows, "more": max(0, len(values) - FEATURES_SHOWN), "samples": len(x)}


def batch(split: DataSplit, augment: bool, draw: int) -> dict:
    """BATCH training samples drawn with seed `draw`, augmented as the trainer does when `augment`."""
    import torch

    indices = np.random.default_rng(draw).permutation(len(split.train))[:BATCH].tolist()
    x, y = _items(split.train, indices)
    applied = augment and split.augment.active
    if applied:
        torch.manual_seed(draw)
        x = split.augment(x)
    # captioned as DataSplit.preview captions samples
    samples = [{"x": x[i].reshape(-1).tolist(), "shape": list(x[i].shape), "text": split._decode(x[i]),
                "label": split._label(y[i]), "index": index} for i, index in enumerate(indices)]
    return {"samples": samples, "augmented": applied, "augment": str(split.augment) if split.augment.active else None}


def tokens(split: DataSplit) -> list[dict] | None:
    """The first training sample of a text, token by token: its id and what it reads as."""
    if not split.vocab:
        return None
    x, _ = _items(split.train, [0])
    return [{"id": int(t), "text": split.vocab[int(t)]} for t in x[0].tolist()]


def _items(dataset, indices: list[int]):
    if hasattr(dataset, "__getitems__"):
        return dataset.__getitems__(indices)
    import torch

    pairs = [dataset[i] for i in indices]
    return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])


def _first(dataset, count: int) -> np.ndarray:
    if hasattr(dataset, "tensors"):
        return dataset.tensors[0][:count].numpy()
    return _items(dataset, list(range(min(count, len(dataset)))))[0].numpy()
