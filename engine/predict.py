"""Run an exported model on raw data with onnxruntime alone: what `layerloom predict` does.

The ONNX file carries all it takes (engine/export/metadata.py): the input it expects, the class
names and how raw data becomes that input (engine/preprocessing.py). This module reads CSV rows,
image files and text prompts, applies the preprocessing in numpy when the graph does not hold it,
and returns class probabilities (or a regression's values). It imports onnxruntime, numpy, Pillow,
the standard library and torch-free engine modules only — never torch — so a deployment can be
checked where Layerloom's training stack is not installed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data.files import parse_number, read_rows
from .errors import DataError, LayerloomError
from .preprocessing import read_image, to_model_input

BATCH = 256  # samples per onnxruntime call


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
    path = Path(path)
    if not path.exists():
        raise UnreadableError(f"{path}: no such file or folder")
    if model.prep["kind"] == "image":
        return predict_images(model, path)
    return predict_csv(model, path)


def predict_csv(model: DeployedModel, path: Path) -> list[Prediction]:
    """One prediction per row, read by the feature column names the model was trained on; with the label
    column present, each carries its true class."""
    model.require("table", "a CSV table")
    if path.is_dir():
        raise PredictError(f"{path}: is a folder — the model reads {_WANTS['table']}")
    try:
        header, rows = read_rows(path, str(path))
        features, label = model.prep["features"], model.prep.get("label")
        missing = [name for name in features if name not in header]
        if missing:
            raise PredictError(f"{path}: no column {', '.join(map(repr, missing))} — the model reads "
                               f"{', '.join(features)} (this file has {', '.join(header)})")
        columns = [header.index(name) for name in features]
        x = np.array([[parse_number(str(path), line, header[c], row[c]) for c in columns] for line, row in rows],
                     dtype=np.float32).reshape(len(rows), len(features))
    except DataError as exc:
        raise PredictError(str(exc)) from None
    scores = model.scores(x)
    labelled = model.classifier and label in header
    return [Prediction(f"row {line}", score, row[header.index(label)].strip() if labelled else None)
            for (line, row), score in zip(rows, scores, strict=True)]


def predict_images(model: DeployedModel, path: Path) -> list[Prediction]:
    """One prediction per image: a file, or a folder's images — those in a class sub-folder carry that class."""
    model.require("image", "images")
    if path.is_file():
        pixels = read_image(path, model.prep["size"], model.prep["channels"])
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
            if (pixels := read_image(file, size, channels)) is not None]
    if not read:
        raise PredictError(f"{path}: holds no image Pillow can read (nor do its sub-folders)")
    scores = model.scores(np.stack([pixels for _, pixels, _ in read]))
    return [Prediction(name, score, target) for (name, _, target), score in zip(read, scores, strict=True)]


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
def next_character(model: DeployedModel, prompt: str, temperature: float = 1.0) -> np.ndarray:
    """Probabilities (V,) of the character after `prompt`, softened or sharpened by `temperature`."""
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
    return softmax(model.logits(ids)[0, -1] / temperature)


def generate(model: DeployedModel, prompt: str, tokens: int, temperature: float = 0.0,
             rng: np.random.Generator | None = None) -> str:
    """`tokens` characters after `prompt`: the most likely each time (temperature 0), else sampled."""
    rng = rng or np.random.default_rng()
    vocab, text = model.prep["vocab"], prompt
    for _ in range(tokens):
        if temperature > 0:
            probabilities = next_character(model, text, temperature)
            text += vocab[int(rng.choice(len(vocab), p=probabilities))]
        else:
            text += vocab[int(np.argmax(next_character(model, text)))]
    return text[len(prompt):]
