"""Run an exported model on raw data with onnxruntime alone: what `layerloom predict` does.

The ONNX file carries all it takes (engine/export/metadata.py): the input it expects, the class
names and how raw data becomes that input (engine/preprocessing.py). This module reads CSV rows,
image files and text prompts, applies the preprocessing in numpy when the graph does not hold it,
and returns class probabilities (or a regression's values). It imports onnxruntime, numpy, Pillow,
the standard library and torch-free engine modules only — never torch — so a deployment can be
checked where Layerloom's training stack is not installed.

What no input can do:
- A CSV file is streamed (`iter_predictions`): read, converted and scored `CHUNK_ROWS` rows at a time,
  so memory is bounded by the chunk, not the file; a bad cell stops the stream at its row.
- An image declaring more pixels than Pillow's `Image.MAX_IMAGE_PIXELS` (a decompression bomb: a
  few hundred bytes declaring 30000 × 30000) is refused before it is decoded, as unreadable (exit 2),
  naming the file and the pixels it declares; in a folder the whole folder is refused — it is never
  skipped like a stray note, whose accuracy would silently leave it out.
- Sampling settings are checked (`check_options`): `--top` at least 1, `--tokens` from 0 to
  `MAX_TOKENS`, `--temperature` 0 (the most likely character) or finite and at least
  `MIN_TEMPERATURE` (no subnormal 1e-320 to divide by); probabilities are computed in float64 from
  the largest logit down, so they never hold NaN whatever the model outputs.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from pathlib import Path

import numpy as np

from .data.files import parse_number
from .errors import DataError, LayerloomError
from .preprocessing import ImageTooLarge, read_image, to_model_input

BATCH = 256  # samples per onnxruntime call
CHUNK_ROWS = 8192  # CSV rows read, converted and scored at a time: what bounds predict's memory
# Sampling sharper than this is the most likely character (temperature 0 says so); from it up, logits / T
# stays far inside float64 for any logit float32 holds (3.4e38 / 1e-3 = 3.4e41 < 1.8e308).
MIN_TEMPERATURE = 1e-3
MAX_TOKENS = 100_000  # characters `generate` writes: one model call each


class PredictError(LayerloomError):
    """The model or the data cannot be used as given; the message names the file, row or column."""

    exit_status = 1  # invalid


class UnreadableError(PredictError):
    """A file is missing or is not what it should be (an ONNX model, an image)."""

    exit_status = 2


@dataclass
class Prediction:
    sample: str  # "row 5", "cat/001.png"
    scores: np.ndarray  # class probabilities (C,), or a regression's values
    target: str | None = None  # the true class name, when the data says it


def softmax(z: np.ndarray) -> np.ndarray:
    """Over the last (class) axis."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@dataclass
class DeployedModel:
    """An exported ONNX model in an onnxruntime session, with what its metadata says."""

    path: Path
    session: object  # onnxruntime.InferenceSession
    name: str
    task: str
    class_names: list[str] | None
    prep: dict  # the preprocessing entry (engine/preprocessing.py)

    @classmethod
    def load(cls, path: str | Path) -> DeployedModel:
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise UnreadableError(f"{path}: no such file")
        try:
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 — onnxruntime raises its own, untyped errors
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise UnreadableError(f"{path}: not an ONNX model onnxruntime can load ({reason})") from None
        meta = session.get_modelmeta()
        entries = meta.custom_metadata_map
        if "layerloom.preprocessing" not in entries:
            raise PredictError(f"{path}: has no Layerloom metadata — export the model with "
                               "`layerloom export GRAPH --weights RUN_DIR --onnx MODEL.onnx`")
        try:
            prep, class_names = (json.loads(entries[f"layerloom.{key}"]) for key in ("preprocessing", "class_names"))
        except (KeyError, ValueError):
            raise PredictError(f"{path}: its Layerloom metadata is damaged — export the model again") from None
        if prep is None:
            raise PredictError(f"{path}: was exported without a training run, so it does not know how raw data "
                               "becomes its input — export it with --weights RUN_DIR")
        inputs = [i.name for i in session.get_inputs()]
        if inputs != [prep["input"]]:
            raise PredictError(f"{path}: takes inputs {', '.join(inputs)}; predict feeds one, the data input "
                               f"{prep['input']}")
        return cls(path, session, meta.graph_name, entries.get("layerloom.task", "unknown"), class_names, prep)

    @property
    def classifier(self) -> bool:
        return self.task == "classification" and bool(self.class_names)

    def logits(self, raw: np.ndarray) -> np.ndarray:
        """The first output (the prediction) for a batch of raw samples."""
        x = raw if self.prep["built_in"] else to_model_input(self.prep, raw)
        output = self.session.get_outputs()[0].name
        return np.concatenate([self.session.run([output], {self.prep["input"]: x[i:i + BATCH]})[0]
                               for i in range(0, len(x), BATCH)])

    def scores(self, raw: np.ndarray) -> np.ndarray:
        """Class probabilities for a classifier, the outputs as they are otherwise."""
        out = self.logits(raw)
        return softmax(out) if self.classifier else out

    def require(self, kind: str, what: str) -> None:
        """Refuse `what` unless the model was trained on `kind` data."""
        if self.prep["kind"] != kind:
            raise PredictError(f"{self.path}: was trained on {self.prep['kind']} data, so it cannot read {what} — "
                               f"give it {_WANTS.get(self.prep['kind'], _ARRAYS)}")


_WANTS = {"table": "a CSV file with the columns it was trained on", "image": "an image file or a folder of images",
          "text": "a text prompt"}
_ARRAYS = ("its x directly with onnxruntime (predict reads CSV tables, images and text prompts; the metadata entry "
           "layerloom.preprocessing says what the model expects)")


def predict_path(model: DeployedModel, path: str | Path) -> list[Prediction]:
    """Predictions for what the model reads: a CSV file's rows, or an image file or a folder of images."""
    return list(iter_predictions(model, path))


def iter_predictions(model: DeployedModel, path: str | Path, chunk_rows: int = CHUNK_ROWS) -> Iterator[Prediction]:
    """`predict_path` as it goes: a CSV file is read and scored `chunk_rows` rows at a time. Whatever is
    wrong with the model, the file or its header is raised by the first `next`, before any prediction."""
    path = Path(path)
    if not path.exists():
        raise UnreadableError(f"{path}: no such file or folder")
    if model.prep["kind"] == "image":
        return iter(predict_images(model, path))
    rows = stream_csv(model, path, max(1, chunk_rows))
    first = next(rows, None)  # the header, and the first chunk, are checked now
    return iter(()) if first is None else chain((first,), rows)


def predict_csv(model: DeployedModel, path: Path) -> list[Prediction]:
    """One prediction per row (see `stream_csv`)."""
    return list(stream_csv(model, path))


def stream_csv(model: DeployedModel, path: Path, chunk_rows: int = CHUNK_ROWS) -> Iterator[Prediction]:
    """One prediction per row, read by the feature column names the model was trained on; with the label
    column present, each carries its true class. The file is read `chunk_rows` rows at a time (as
    engine.data.files.read_rows reads it: UTF-8, blank rows skipped, rows numbered by their line)."""
    model.require("table", "a CSV table")
    path, chunk_rows = Path(path), max(1, chunk_rows)
    if path.is_dir():
        raise PredictError(f"{path}: is a folder — the model reads {_WANTS['table']}")
    shown = str(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = _header(reader, shown)
            features, label = model.prep["features"], model.prep.get("label")
            missing = [name for name in features if name not in header]
            if missing:
                raise PredictError(f"{path}: no column {', '.join(map(repr, missing))} — the model reads "
                                   f"{', '.join(features)} (this file has {', '.join(header)})")
            columns = [header.index(name) for name in features]
            target = header.index(label) if model.classifier and label in header else None
            read = 0
            while chunk := _chunk(reader, len(header), chunk_rows, shown):
                read += len(chunk)
                scores = model.scores(_numbers(chunk, columns, header, shown))
                for (line, row), score in zip(chunk, scores, strict=True):
                    yield Prediction(f"row {line}", score, row[target].strip() if target is not None else None)
            if not read:
                raise DataError(f"{shown}: the header has no data rows under it")
    except UnicodeDecodeError as exc:
        raise PredictError(f"{shown}: byte {exc.start} is not UTF-8 text — save the file as UTF-8 CSV") from None
    except (OSError, csv.Error) as exc:
        raise PredictError(f"{shown}: cannot read the file as CSV ({exc})") from None
    except DataError as exc:
        raise PredictError(str(exc)) from None


def _header(reader, shown: str) -> list[str]:
    header = [name.strip() for name in next(reader, [])]
    if not header:
        raise DataError(f"{shown}: the file is empty — the first row must name the columns")
    if len(set(header)) != len(header):
        twice = next(name for name in header if header.count(name) > 1)
        raise DataError(f"{shown}: the header names column {twice!r} twice — give every column its own name")
    return header


def _chunk(reader, width: int, size: int, shown: str) -> list[tuple[int, list[str]]]:
    """The next `size` non-blank rows (fewer at the end of the file), each with its line number."""
    rows: list[tuple[int, list[str]]] = []
    for row in reader:
        if row and (row[0].strip() or any(cell.strip() for cell in row)):
            if len(row) != width:
                raise DataError(f"{shown}: row {reader.line_num} has {len(row)} values but the header names "
                                f"{width} columns")
            rows.append((reader.line_num, row))
            if len(rows) == size:
                break
    return rows


def _numbers(chunk: list[tuple[int, list[str]]], columns: list[int], header: list[str], shown: str) -> np.ndarray:
    """The chunk's feature cells as float32 (rows, features): every cell a finite number float32 holds."""
    cells = itemgetter(*columns) if len(columns) > 1 else (lambda row: (row[columns[0]],))
    try:
        x = np.fromiter(map(float, chain.from_iterable(cells(row) for _, row in chunk)), np.float64,
                        count=len(chunk) * len(columns))
    except ValueError:  # a cell that is not a number: found and named below
        x = None
    if x is None or not np.isfinite(x).all():
        x = np.array([[parse_number(shown, line, header[c], row[c]) for c in columns] for line, row in chunk])
    with np.errstate(over="ignore"):
        x = x.astype(np.float32).reshape(len(chunk), len(columns))
    if not np.isfinite(x).all():
        i, j = (int(k) for k in np.argwhere(~np.isfinite(x))[0])
        line, row = chunk[i]
        raise DataError(f"{shown}: row {line}, column {header[columns[j]]!r}: {row[columns[j]].strip()!r} is beyond "
                        f"what the model's float32 input holds (±{float(np.finfo(np.float32).max):.4g})")
    return x


def predict_images(model: DeployedModel, path: Path) -> list[Prediction]:
    """One prediction per image: a file, or a folder's images — those in a class sub-folder carry that class.
    Every image is read before any is scored, so a decompression bomb anywhere refuses the whole folder."""
    model.require("image", "images")
    if path.is_file():
        pixels = _image(path, model.prep["size"], model.prep["channels"])
        if pixels is None:
            raise UnreadableError(f"{path}: not an image Pillow can read")
        return [Prediction(path.name, model.scores(pixels[None])[0])]
    samples = [(f"{path.name}/{file.name}", file, None) for file in _visible(path) if file.is_file()]
    for folder in (entry for entry in _visible(path) if entry.is_dir()):
        if folder.name not in (model.class_names or []):
            raise PredictError(f"{folder}: is not one of the model's classes ({', '.join(model.class_names or [])}) "
                               "— class sub-folders give accuracy; put unlabelled images directly in the folder")
        samples += [(f"{folder.name}/{file.name}", file, folder.name) for file in _visible(folder) if file.is_file()]
    size, channels = model.prep["size"], model.prep["channels"]
    read = [(name, pixels, target) for name, file, target in samples  # unreadable files (notes…) are skipped
            if (pixels := _image(file, size, channels)) is not None]
    if not read:
        raise PredictError(f"{path}: holds no image Pillow can read (nor do its sub-folders)")
    scores = model.scores(np.stack([pixels for _, pixels, _ in read]))
    return [Prediction(name, score, target) for (name, _, target), score in zip(read, scores, strict=True)]


def _image(path: Path, size: tuple[int, int], channels: int) -> np.ndarray | None:
    """`read_image`, its refusal of a decompression bomb an unreadable input here (exit 2)."""
    try:
        return read_image(path, size, channels)
    except ImageTooLarge as exc:
        raise UnreadableError(str(exc)) from None


def _visible(folder: Path) -> list[Path]:
    return sorted(entry for entry in folder.iterdir() if not entry.name.startswith("."))


def accuracy(predictions: list[Prediction], class_names: list[str]) -> tuple[float, int] | None:
    """The share of labelled samples whose most likely class is their label, and how many there are."""
    labelled = [p for p in predictions if p.target is not None]
    if not labelled:
        return None
    hits = sum(class_names[int(np.argmax(p.scores))] == p.target for p in labelled)
    return hits / len(labelled), len(labelled)


# -- text ----------------------------------------------------------------------------------------
def check_options(*, top: int = 1, tokens: int = 0, temperature: float = 0.0) -> None:
    """Refuse settings that make no sense, naming the `layerloom predict` flag: `top` classes shown per
    sample (at least 1), `tokens` to generate (0 to MAX_TOKENS), `temperature` (0: the most likely
    character; else finite and at least MIN_TEMPERATURE)."""
    if top < 1:
        raise PredictError(f"--top must be at least 1 (the classes shown per sample), got {top}")
    if not 0 <= tokens <= MAX_TOKENS:
        raise PredictError(f"--tokens must be from 0 to {MAX_TOKENS:,} (the characters generated), got {tokens}")
    if temperature_problem(temperature):
        raise PredictError(f"--temperature {temperature_problem(temperature)}")


def temperature_problem(temperature: float) -> str | None:
    """Why `temperature` cannot sample (0 means the most likely character), or None."""
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not math.isfinite(temperature) \
            or not (temperature == 0 or temperature >= MIN_TEMPERATURE):
        return (f"must be 0 (the most likely character each time) or a finite number of at least {MIN_TEMPERATURE:g} "
                f"(sampling, sharper below 1, more varied above), got {temperature!r}")
    return None


def next_character(model: DeployedModel, prompt: str, temperature: float = 1.0) -> np.ndarray:
    """Probabilities (V,) of the character after `prompt`, softened or sharpened by `temperature` (> 0)."""
    if problem := temperature_problem(temperature) or ("must be above 0 to give probabilities" if not temperature
                                                       else None):
        raise PredictError(f"temperature {problem}")
    model.require("text", "a text prompt")
    vocab = model.prep["vocab"]
    lookup = {ch: i for i, ch in enumerate(vocab)}
    unknown = sorted({ch for ch in prompt if ch not in lookup})
    if unknown:
        raise PredictError(f"the prompt holds {', '.join(map(repr, unknown))}, which the model never saw — "
                           f"its characters are {''.join(vocab)!r}")
    block = model.prep["input_shape"][0]
    fixed = isinstance(model.session.get_inputs()[0].shape[1], int)  # else its length axis is dynamic
    if not prompt or (fixed and len(prompt) < block):
        raise PredictError(f"the model reads {'exactly ' if fixed else 'up to '}{block} characters; "
                           f"the prompt has {len(prompt)} — give it a longer one")
    ids = np.array([[lookup[ch] for ch in prompt[-block:]]], dtype=np.int64)
    return sampling_probabilities(model.logits(ids)[0, -1], temperature)


def sampling_probabilities(logits: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(logits / temperature) in float64, safe whatever the logits: +inf ones share the probability,
    the rest get none; NaN logits are refused (the model is broken, there is nothing to sample)."""
    z = np.asarray(logits, dtype=np.float64).reshape(-1)
    if np.isnan(z).any() or not (z > -np.inf).any():
        raise PredictError("the model's output holds NaN (or only -inf) for this prompt, so there is nothing to "
                           "sample from — check the exported model")
    with np.errstate(over="ignore"):
        z = z / temperature
    top = z.max()
    weights = (z == top).astype(np.float64) if np.isinf(top) else np.exp(z - top)
    return weights / weights.sum()


def generate(model: DeployedModel, prompt: str, tokens: int, temperature: float = 0.0,
             rng: np.random.Generator | None = None) -> str:
    """`tokens` characters after `prompt`: the most likely each time (temperature 0), else sampled."""
    check_options(tokens=tokens, temperature=temperature)
    rng = rng or np.random.default_rng()
    vocab, text = model.prep["vocab"], prompt
    for _ in range(tokens):
        if temperature > 0:
            probabilities = next_character(model, text, temperature)
            text += vocab[int(rng.choice(len(vocab), p=probabilities))]
        else:
            text += vocab[int(np.argmax(next_character(model, text)))]
    return text[len(prompt):]
