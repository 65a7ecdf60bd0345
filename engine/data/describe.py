"""A dataset as the editor sees it before training: what the worker's `describe_dataset` answers.

    info = describe_dataset({"name": "cifar10"}, seed=0, base_dir=None, samples=6)

`info` is plain JSON: name, input_shape, target_shape, input_dtype, task, num_classes, class_names,
train_samples, val_samples, vocab_size (text: its tokens, else None), description and the first `samples`
training samples (`DataSplit.preview`).
It feeds the settings panel's preview and the graph-against-data checks (engine/data_fit.py). A
preview never downloads: a benchmark set whose files are not on this machine (or not where `path`
says) is still described from what every copy of it is — its shape, dtype and classes — with no
samples and `unavailable` saying why, so a CNN drawn for 8×8 digits is flagged the moment CIFAR-10 is
chosen, not after a 170 MB download.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DataUnavailable
from . import BENCHMARKS, load_dataset
from .options import Options


def describe_dataset(config: dict, seed: int, base_dir: str | Path | None, samples: int) -> dict:
    try:
        split = load_dataset(config, seed, base_dir, fetch=False)
    except DataUnavailable as exc:
        if config.get("name") not in BENCHMARKS:
            raise
        from .benchmarks import known_info

        return known_info(Options(config, base_dir), str(exc))
    return {"description": split.describe(), "name": split.name, "input_shape": list(split.input_shape),
            "target_shape": list(split.target_shape), "input_dtype": split.input_dtype, "task": split.task,
            "num_classes": split.num_classes, "class_names": split.class_names, "train_samples": len(split.train),
            "val_samples": len(split.val), "vocab_size": len(split.vocab) if split.vocab else None,
            "samples": split.preview(samples)}
