"""The small classification sets scikit-learn ships on disk (no download): digits, iris, wine, breast cancer."""

from __future__ import annotations

import numpy as np

from .options import Options
from .split import DataSplit, assemble, split_arrays

SKLEARN_SETS = {
    "digits": "load_digits",
    "iris": "load_iris",
    "wine": "load_wine",
    "breast_cancer": "load_breast_cancer",
}


def load_sklearn(opts: Options, seed: int) -> DataSplit:
    """Digits become (1, 8, 8) images with values 0–16; the others stay feature vectors."""
    import sklearn.datasets

    bunch = getattr(sklearn.datasets, SKLEARN_SETS[opts.name])()
    x = bunch.data.astype(np.float32)
    if opts.name == "digits":
        x = x.reshape(-1, 1, 8, 8)
    y = bunch.target.astype(np.int64)
    train, val = split_arrays(opts, x, y, seed, stratify=True)
    names = [str(name) for name in bunch.target_names]
    return assemble(opts, train, val, task="classification", num_classes=len(names), class_names=names)
