"""Character-level next-token prediction over a text file (by default the one Layerloom ships).

The vocabulary is the text's sorted set of characters; a sample is `block_size` ids and its
target the same window shifted by one character. The text is split by position, not shuffled —
the first part trains, the last `val_split` validates — so overlapping training windows never
leak validation characters. Training windows start every `stride` characters (default a quarter
block, for more samples); validation windows do not overlap, so each character is scored once.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError
from .options import Options
from .split import DataSplit, assemble, val_fraction

SHIPPED_TEXT = Path(__file__).resolve().parents[2] / "resources" / "text" / "layerloom_tales.txt"


def read_text(path: Path, shown: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{shown}: byte {exc.start} is not UTF-8 text — save the file as UTF-8") from None
    except OSError as exc:
        raise DataError(f"{shown}: cannot read the file ({exc.strerror})") from None


def windows(ids: np.ndarray, block_size: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """x (n, block_size) and y = x shifted by one, from windows starting every `stride` ids."""
    starts = np.arange(0, len(ids) - block_size, stride)
    offsets = starts[:, None] + np.arange(block_size)
    return ids[offsets], ids[offsets + 1]


def load_text(opts: Options, seed: int) -> DataSplit:
    """`seed` is unused: the split is by position, the same for every seed."""
    custom = opts.text("path", None)
    path, shown = (opts.path(), custom) if custom else (SHIPPED_TEXT, SHIPPED_TEXT.name)
    text = read_text(path, shown)
    block_size = opts.integer("block_size", 64, 1, 100_000)
    stride = opts.integer("stride", max(1, block_size // 4), 1, 100_000)
    vocab = sorted(set(text))
    lookup = {ch: i for i, ch in enumerate(vocab)}
    ids = np.fromiter((lookup[ch] for ch in text), dtype=np.int64, count=len(text))
    cut = int(len(ids) * (1 - val_fraction(opts)))
    if min(cut, len(ids) - cut) <= block_size:
        raise DataError(f"{shown}: {len(ids)} characters are too few for block_size {block_size} with this "
                        "val_split — both parts need more than one block; lower block_size or use a longer text")
    train = windows(ids[:cut], block_size, stride)
    val = windows(ids[cut:], block_size, block_size)
    return assemble(opts, train, val, task="classification", num_classes=len(vocab), class_names=vocab, vocab=vocab)
