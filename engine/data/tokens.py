"""How text becomes token ids and back: characters, or byte-level BPE from Hugging Face `tokenizers`.

    codec = train_bpe(text, vocab_size=512)      # or load_bpe(Path("tokenizer.json")), or CharCodec(vocab)
    ids = codec.encode("Once upon"); codec.decode(ids) == "Once upon"
    raw = {"kind": "text", "vocab": codec.vocab, **codec.record()}   # what data.json and an export carry
    codec_from_record(raw)                                            # … read back by generate and predict

A character codec's record is its `vocab` alone (token id → character). A BPE codec's also holds
`tokenizer`: the whole tokenizer as the JSON object `tokenizers` writes to a tokenizer.json (never a
pickle), so the run, the exported ONNX file's metadata and `layerloom predict` all decode with the very
tokenizer the model learned on. Its `vocab` lists each token decoded on its own — what a person reads for
one id (a byte inside a multi-byte character shows as �); `decode` of a whole id sequence is exact.

Byte-level BPE starts from the 256 byte values, so any text encodes (nothing is unknown) and decoding
returns it byte for byte. Torch-free: `layerloom predict` uses this where torch is not installed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from ..errors import DataError

BYTES = 256  # byte-level BPE's first tokens: one per byte value
MAX_VOCAB = 1_000_000


class CharCodec:
    """One token per character of `vocab` (the corpus's sorted characters)."""

    def __init__(self, vocab: Sequence[str]):
        self.vocab = list(vocab)
        self._ids = {ch: i for i, ch in enumerate(self.vocab)}

    def encode(self, text: str) -> list[int]:
        if unknown := sorted({ch for ch in text if ch not in self._ids}):
            raise DataError(f"{', '.join(map(repr, unknown))} {'is' if len(unknown) == 1 else 'are'} not in the "
                            f"model's vocabulary {''.join(self.vocab)!r}")
        return [self._ids[ch] for ch in text]

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self.vocab[i] for i in ids)

    def record(self) -> dict:
        return {}


class BpeCodec:
    """A `tokenizers.Tokenizer` (byte-level BPE, or any tokenizer.json the user brings)."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.vocab = [tokenizer.decode([i]) for i in range(tokenizer.get_vocab_size())]

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text).ids

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=False)

    def record(self) -> dict:
        return {"tokenizer": json.loads(self.tokenizer.to_str())}


Codec = CharCodec | BpeCodec


def train_bpe(text: str, vocab_size: int) -> BpeCodec:
    """A byte-level BPE tokenizer with `vocab_size` tokens learned from `text` (fewer when the text holds
    fewer merges); deterministic for the same text."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tokenizer.train_from_iterator(text.splitlines(keepends=True), trainer)
    return BpeCodec(tokenizer)


def load_bpe(path: Path, shown: str) -> BpeCodec:
    """The tokenizer in a tokenizer.json file (as `tokenizers` and the Hugging Face hub write them)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{shown}: cannot read the tokenizer file ({exc})") from None
    return _tokenizer(text, shown)


def codec_from_record(raw: dict, shown: str = "the model's preprocessing") -> Codec:
    """The codec a run's data.json `raw` (or an export's preprocessing entry) describes."""
    if raw.get("tokenizer") is not None:
        return _tokenizer(json.dumps(raw["tokenizer"]), f"{shown}: tokenizer")
    vocab = raw.get("vocab")
    if not isinstance(vocab, list) or not all(isinstance(ch, str) for ch in vocab):
        raise DataError(f"{shown}: no text vocabulary — it was not trained on a text dataset")
    return CharCodec(vocab)


def _tokenizer(text: str, shown: str) -> BpeCodec:
    from tokenizers import Tokenizer

    try:
        tokenizer = Tokenizer.from_str(text)
    except Exception as exc:  # tokenizers raises a bare Exception for malformed JSON or an unknown model type
        raise DataError(f"{shown}: not a tokenizer.json the tokenizers library reads ({exc})") from None
    if not 0 < tokenizer.get_vocab_size() <= MAX_VOCAB:
        raise DataError(f"{shown}: a vocabulary of {tokenizer.get_vocab_size():,} tokens — "
                        f"a tokenizer needs 1 to {MAX_VOCAB:,}")
    return BpeCodec(tokenizer)
