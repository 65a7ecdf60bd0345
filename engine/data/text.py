"""Next-token prediction over a text file (by default the one Layerloom ships).

    {"name": "text"}                                        # characters: the text's sorted set
    {"name": "text", "tokenizer": "bpe", "vocab_size": 512}   # byte-level BPE learned from the text
    {"name": "text", "tokenizer": "bpe", "tokenizer_file": "tokenizer.json"}   # a tokenizer you have

Tokens are characters by default, or byte-level BPE (tokens.py); the codec's record travels with the
run and the export, so generate and predict decode as training encoded. A sample is `block_size`
token ids and its target the same window shifted by one token. The text is split by position, not
shuffled — the first part trains, the last `val_split` validates — so overlapping training windows
never leak validation tokens. Training windows start every `stride` tokens (default a quarter block,
for more samples); validation windows do not overlap, so each token is scored once.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError
from .options import Options
from .split import DataSplit, assemble, val_fraction
from .tokens import BYTES, MAX_VOCAB, CharCodec, Codec, load_bpe, train_bpe

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
    return text_split(opts, read_text(path, shown), shown)


def text_split(opts: Options, text: str, shown: str) -> DataSplit:
    """Next-token windows over `text` (a file's, or a Hugging Face dataset's text column joined), as `load_text`
    describes; `shown` names the text in errors."""
    block_size = opts.integer("block_size", 64, 1, 100_000)
    stride = opts.integer("stride", max(1, block_size // 4), 1, 100_000)
    codec = text_codec(opts, text)
    ids = np.asarray(codec.encode(text), dtype=np.int64)
    cut = int(len(ids) * (1 - val_fraction(opts)))
    if min(cut, len(ids) - cut) <= block_size:
        raise DataError(f"{shown}: {len(ids)} tokens are too few for block_size {block_size} with this "
                        "val_split — both parts need more than one block; lower block_size or use a longer text")
    train = windows(ids[:cut], block_size, stride)
    val = windows(ids[cut:], block_size, block_size)
    return assemble(opts, train, val, task="classification", num_classes=len(codec.vocab), class_names=codec.vocab,
                    vocab=codec.vocab, raw={"kind": "text", **codec.record()})


def text_codec(opts: Options, text: str) -> Codec:
    """The `tokenizer` setting's codec: the text's characters, or BPE with `vocab_size` tokens trained on the
    text, or read from `tokenizer_file`. (`vocab_size` is kept, unused, when switching back to characters.)"""
    bpe = opts.choice("tokenizer", "chars", ("chars", "bpe")) == "bpe"
    vocab_size = opts.integer("vocab_size", 512, BYTES, MAX_VOCAB)
    if opts.text("tokenizer_file", None):
        if not bpe:
            raise opts.error("tokenizer_file", 'applies to "tokenizer": "bpe" only — set the tokenizer or remove it')
        if "vocab_size" in opts.config:
            raise opts.error("vocab_size", "is the file's own when tokenizer_file is set — remove one of them")
        return load_bpe(opts.path("tokenizer_file"), opts.config["tokenizer_file"])
    return train_bpe(text, vocab_size) if bpe else CharCodec(sorted(set(text)))
