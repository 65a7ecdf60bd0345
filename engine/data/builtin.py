"""The small classification sets scikit-learn ships on disk (no download): digits, iris, wine, breast cancer.

Digits are (1, 8, 8) arrays with values 0–16. With `image_size` [H, W] or `"grayscale": false` they become
pictures instead, as an image folder's are: 0–16 drawn as 0–255 gray pixels, converted to RGB (three equal
channels) unless grayscale, resized to H × W by Pillow, then scaled to [0, 1] — so a network made for
photos (ImageNet's ResNet-18 reads (3, H, W)) trains on them offline, and its export takes uint8 pixels
(N, H, W, C) as an image folder's does.
"""

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
    raw = None
    if opts.name == "digits":
        x, raw = digit_pictures(opts, x.reshape(-1, 1, 8, 8))
    y = bunch.target.astype(np.int64)
    train, val = split_arrays(opts, x, y, seed, stratify=True)
    names = [str(name) for name in bunch.target_names]
    return assemble(opts, train, val, task="classification", num_classes=len(names), class_names=names, raw=raw)


def digit_pictures(opts: Options, x: np.ndarray) -> tuple[np.ndarray, dict | None]:
    """The digits (N, 1, 8, 8), 0–16, as `image_size` and `grayscale` ask: unchanged (and no raw description)
    when neither is set, else (N, C, H, W) pictures in [0, 1] with the image description an export builds in."""
    height, width = opts.ints("image_size", [8, 8], 2, 1, 4096)
    channels = 1 if opts.boolean("grayscale", True) else 3
    if (height, width, channels) == (8, 8, 1) and "image_size" not in opts.config:
        return x, None
    from PIL import Image

    from .images import ImageReader

    pixels = np.round(x[:, 0] * 255 / 16).astype(np.uint8)  # (N, 8, 8)
    mode = "L" if channels == 1 else "RGB"
    images = [np.asarray(Image.fromarray(p, mode="L").convert(mode).resize((width, height), Image.Resampling.BILINEAR))
              .reshape(height, width, channels) for p in pixels]
    raw = {"kind": "image", "size": [height, width], "channels": channels, "scale": 1 / 255}
    return ImageReader.scale(np.stack(images)), raw
