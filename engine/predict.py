"""Run an exported model on raw data with onnxruntime alone: what `layerloom predict` does.

The ONNX file carries all it takes (engine/export/metadata.py): the input it expects, the class
names and how raw data becomes that input (engine/preprocessing.py). This module reads CSV rows,
image files and .npy/.npz arrays — each model what fits the data it was trained on, a model trained
on arrays (the 8×8 digits) its samples as arrays, as CSV rows and as pictures (engine/predict_inputs.py)
— applies the preprocessing in numpy when the graph does not hold it, and returns class probabilities
(or a regression's values); text prompts are engine/predict_text.py's. It imports onnxruntime, numpy, Pillow,
the standard library and torch-free engine modules only — never torch — so a deployment can be
checked where Layerloom's training stack is not installed.

What no input can do:
- A CSV file is streamed (`iter_predictions`): read, converted and scored `CHUNK_ROWS` rows at a time,
  so memory is bounded by the chunk, not the file; a bad cell stops the stream at its row. A .npy is
  memory-mapped and scored as many samples at a time.
- An image declaring more pixels than Pillow's `Image.MAX_IMAGE_PIXELS` (a decompression bomb: a
  few hundred bytes declaring 30000 × 30000) is refused before it is decoded, as unreadable (exit 2),
  naming the file and the pixels it declares; in a folder the whole folder is refused — it is never
  skipped like a stray note, whose accuracy would silently leave it out.
- A text model's prompt and sampling settings are checked in engine/predict_text.py.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from pathlib import Path

import numpy as np

from .data.files import parse_number
from .data.tables import TableEncoding
from .errors import DataError, PredictError, UnreadableError
from .predict_inputs import (
    ARRAY_SUFFIXES,
    check_shape,
    converted,
    image_layout,
    input_kind,
    is_image_file,
    pixels_to_x,
    read_arrays,
    what_it_reads,
)
from .predict_text import (
    MAX_TOKENS,
    MIN_TEMPERATURE,
    check_options,
    generate,
    next_character,
    sampling_probabilities,
    temperature_problem,
)
from .preprocessing import ImageTooLarge, destandardise, read_image, to_model_input

BATCH = 256  # samples per onnxruntime call
CHUNK_ROWS = 8192  # CSV rows read, converted and scored at a time: what bounds predict's memory


__all__ = [
    "BATCH", "CHUNK_ROWS", "DeployedModel", "Prediction", "accuracy", "iter_predictions", "predict_arrays",
    "predict_csv", "predict_images", "predict_path", "softmax", "stream_csv",
    # defined elsewhere, part of this module's interface: the errors (engine/errors.py) and text models'
    # generation (engine/predict_text.py)
    "MAX_TOKENS", "MIN_TEMPERATURE", "PredictError", "UnreadableError", "check_options", "generate",
    "next_character", "sampling_probabilities", "temperature_problem",
]


@dataclass
class Prediction:
    sample: str  # "row 5", "cat/001.png"
    scores: np.ndarray  # class probabilities (C,), or a regression's values (in the data's units)
    target: str | None = None  # the true class name, or a regression's true value as written, when the data says it


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
        """Class probabilities for a classifier; otherwise the outputs, in the target's units when the run
        standardised its targets."""
        out = self.logits(raw)
        return softmax(out) if self.classifier else destandardise(self.prep.get("target_normalization"), out)

    @property
    def table(self) -> TableEncoding | None:
        """How a table model's raw cells become its features; None for a model recorded before tables were
        encoded (its features are numbers as they are)."""
        columns = self.prep.get("columns") if self.prep["kind"] == "table" else None
        return TableEncoding.from_record(columns) if columns is not None else None

    def require(self, kind: str, what: str) -> None:
        """Refuse `what` unless the model was trained on `kind` data."""
        if self.prep["kind"] != kind:
            raise self.refuse(what)

    def refuse(self, given: str) -> PredictError:
        """The error for an input this model cannot read, named as `input_kind` names it ("a PNG image")."""
        return PredictError(f"{self.path}: was trained on {self.prep['kind']} data, so it cannot read {given} — "
                            f"give it {what_it_reads(self.prep)}")


def predict_path(model: DeployedModel, path: str | Path) -> list[Prediction]:
    """Predictions for what the model reads: a CSV file's rows, an image file or a folder of images, or the
    samples of a .npy/.npz file (engine/predict_inputs.py says which model reads which)."""
    return list(iter_predictions(model, path))


def iter_predictions(model: DeployedModel, path: str | Path, chunk_rows: int = CHUNK_ROWS) -> Iterator[Prediction]:
    """`predict_path` as it goes: a CSV file or a .npy is read and scored `chunk_rows` samples at a time.
    Whatever is wrong with the model, the file or its header is raised by the first `next`, before any
    prediction."""
    path, kind = Path(path), model.prep["kind"]
    if not path.exists():
        raise UnreadableError(f"{path}: no such file or folder")
    if kind == "text":
        raise model.refuse(input_kind(path))
    if path.is_file() and path.suffix.lower() in ARRAY_SUFFIXES:
        rows = predict_arrays(model, path, max(1, chunk_rows))
    elif path.is_file() and path.suffix.lower() == ".parquet":
        from .predict_tables import predict_parquet

        rows = (Prediction(*row) for row in predict_parquet(model, path, max(1, chunk_rows)))
    elif kind == "image" or (kind == "array" and (path.is_dir() or is_image_file(path))):
        return iter(predict_images(model, path))
    else:
        rows = stream_csv(model, path, max(1, chunk_rows))
    first = next(rows, None)  # the header, and the first chunk, are checked now
    return iter(()) if first is None else chain((first,), rows)


def predict_csv(model: DeployedModel, path: Path) -> list[Prediction]:
    """One prediction per row (see `stream_csv`)."""
    return list(stream_csv(model, path))


def stream_csv(model: DeployedModel, path: Path, chunk_rows: int = CHUNK_ROWS) -> Iterator[Prediction]:
    """One prediction per row. A model trained on a table reads the feature columns it was trained on by
    name; one trained on arrays reads each row as a sample flattened (a header is optional). With a label
    column present (a table's label, or a column named "label"), each carries its true class. The file is
    read `chunk_rows` rows at a time (as engine.data.files.read_rows reads it: UTF-8, blank rows skipped,
    rows numbered by their line)."""
    path, chunk_rows, table = Path(path), max(1, chunk_rows), model.prep["kind"] == "table"
    if model.prep["kind"] not in ("table", "array") or is_image_file(path):
        raise model.refuse(input_kind(path))
    if path.is_dir():
        raise PredictError(f"{path}: is a folder — the model reads {what_it_reads(model.prep)}")
    shown = str(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader, header, columns, target = (_table_columns if table else _sample_columns)(model, handle, shown)
            read = 0
            while chunk := _chunk(reader, len(header), chunk_rows, shown):
                read += len(chunk)
                x = _features(model, chunk, columns, header, shown)
                if not table:  # (rows, values) → (rows, *input_shape), token ids as int64
                    x = converted(model.prep, x.reshape(len(x), *model.prep["input_shape"]), shown,
                                  lambda i, chunk=chunk: f"row {chunk[i][0]}")
                scores = model.scores(x)
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


def _table_columns(model: DeployedModel, handle, shown: str) -> tuple[object, list[str], list[int], int | None]:
    """A table model's CSV: the reader, the header, the feature columns in training order, the label's."""
    reader = csv.reader(handle)
    header = _header(reader, shown)
    features, label = model.prep["features"], model.prep.get("label")
    missing = [name for name in features if name not in header]
    if missing:
        raise PredictError(f"{shown}: no column {', '.join(map(repr, missing))} — the model reads "
                           f"{', '.join(features)} (this file has {', '.join(header)})")
    target = header.index(label) if label in header and (model.classifier or model.task == "regression") else None
    return reader, header, [header.index(name) for name in features], target


def _sample_columns(model: DeployedModel, handle, shown: str) -> tuple[object, list[str], list[int], int | None]:
    """An array model's CSV, a flattened sample a row: its first row is a header unless it is all numbers
    (columns are then named by number, 1 first); a header's column "label" is the true class."""
    reader = csv.reader(handle)
    first = [cell.strip() for cell in next(reader, [])]
    if not first:
        raise DataError(f"{shown}: the file is empty — give it one sample a row")
    named = not all(_is_number(cell) for cell in first)
    handle.seek(0)  # without a header, the first row is a sample
    reader = csv.reader(handle)
    header = _header(reader, shown) if named else [str(i + 1) for i in range(len(first))]
    label = header.index("label") if named and "label" in header else None
    columns = [i for i in range(len(header)) if i != label]
    size = int(np.prod(model.prep["input_shape"]))
    if len(columns) != size:
        raise PredictError(f"{shown}: a row holds {len(columns)} values, but the model reads samples of "
                           f"{size} (its input {tuple(model.prep['input_shape'])} flattened) — one sample a row")
    return reader, header, columns, label if model.classifier else None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


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


def _features(model: DeployedModel, chunk: list[tuple[int, list[str]]], columns: list[int], header: list[str],
              shown: str) -> np.ndarray:
    """The chunk's feature cells as the model's raw input: a table's encoding, or the numbers as they are."""
    encoding = model.table
    if encoding is None:
        return _numbers(chunk, columns, header, shown)
    cells = {header[c]: [row[c] for _, row in chunk] for c in columns}
    return encoding.encode(cells, [f"row {line}" for line, _ in chunk], shown)


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


def predict_arrays(model: DeployedModel, path: Path, chunk_rows: int = CHUNK_ROWS) -> Iterator[Prediction]:
    """One prediction per sample of a .npy or .npz (engine/predict_inputs.py), scored `chunk_rows` at a time;
    a .npz's `y` gives a classifier's samples their true classes."""
    shown = str(path)
    array, labels = read_arrays(path)
    array = check_shape(model.prep, array, shown)
    targets = _targets(model, labels, len(array), shown)
    for start in range(0, len(array), chunk_rows):
        x = converted(model.prep, array[start:start + chunk_rows], shown, lambda i, start=start: f"sample {start + i}")
        for i, score in enumerate(model.scores(x), start):
            yield Prediction(f"{path.name}[{i}]", score, targets[i] if targets else None)


def _targets(model: DeployedModel, labels: np.ndarray | None, count: int, shown: str) -> list[str] | None:
    """A .npz's `y` as class names, when the model is a classifier and y holds one class id per sample."""
    if labels is None or not model.classifier:
        return None
    names = model.class_names
    if labels.shape != (count,) or labels.dtype.kind not in "iu" or labels.min() < 0 or labels.max() >= len(names):
        raise PredictError(f"{shown}: its y is {labels.dtype} {tuple(labels.shape)}; as labels it must hold one "
                           f"class id from 0 to {len(names) - 1} per sample ({count}) — or leave y out")
    return [names[i] for i in labels.tolist()]


def predict_images(model: DeployedModel, path: Path) -> list[Prediction]:
    """One prediction per image: a file, or a folder's images — those in a class sub-folder carry that class.
    Every image is read before any is scored, so a decompression bomb anywhere refuses the whole folder."""
    read_one = _picture_reader(model, path)
    if path.is_file():
        pixels = read_one(path)
        if pixels is None:
            raise UnreadableError(f"{path}: not an image Pillow can read ({input_kind(path)}) — the model reads "
                                  f"{what_it_reads(model.prep)}")
        return [Prediction(path.name, model.scores(pixels[None])[0])]
    samples = [(f"{path.name}/{file.name}", file, None) for file in _visible(path) if file.is_file()]
    for folder in (entry for entry in _visible(path) if entry.is_dir()):
        if folder.name not in (model.class_names or []):
            raise PredictError(f"{folder}: is not one of the model's classes ({', '.join(model.class_names or [])}) "
                               "— class sub-folders give accuracy; put unlabelled images directly in the folder")
        samples += [(f"{folder.name}/{file.name}", file, folder.name) for file in _visible(folder) if file.is_file()]
    read = [(name, pixels, target) for name, file, target in samples  # unreadable files (notes…) are skipped
            if (pixels := read_one(file)) is not None]
    if not read:
        raise PredictError(f"{path}: holds no image Pillow can read (nor do its sub-folders)")
    scores = model.scores(np.stack([pixels for _, pixels, _ in read]))
    return [Prediction(name, score, target) for (name, _, target), score in zip(read, scores, strict=True)]


def _picture_reader(model: DeployedModel, path: Path):
    """file → the model's raw sample for that picture (None when Pillow cannot read it): uint8 pixels for an
    image model, x on the training data's scale for an array model shaped as a picture; else refused."""
    prep = model.prep
    if prep["kind"] == "image":
        return lambda file: _image(file, prep["size"], prep["channels"])
    layout = image_layout(prep)
    if layout is None:
        raise model.refuse(input_kind(path) if path.is_file() else "images")

    def read(file: Path) -> np.ndarray | None:
        pixels = _image(file, *layout)
        return None if pixels is None else pixels_to_x(prep, pixels[None])[0]

    return read


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
