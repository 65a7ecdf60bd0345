"""A text model continues a prompt: what `layerloom predict MODEL.onnx "a prompt"` does (engine/predict.py
reads files). The prompt is encoded and the continuation decoded by the codec the model trained with, carried
in its metadata (engine/data/tokens.py: its characters, or its byte-level BPE tokenizer).

Sampling settings are checked (`check_options`): `--top` at least 1, `--tokens` from 0 to `MAX_TOKENS`,
`--temperature` 0 (the most likely character) or finite and at least `MIN_TEMPERATURE` (no subnormal
1e-320 to divide by); probabilities are computed in float64 from the largest logit down, so they never
hold NaN whatever the model outputs. Numpy, `tokenizers` and the model's onnxruntime session only: no torch.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .data.tokens import Codec, codec_from_record
from .errors import DataError, PredictError

if TYPE_CHECKING:
    from .predict import DeployedModel

# Sampling sharper than this is the most likely character (temperature 0 says so); from it up, logits / T
# stays far inside float64 for any logit float32 holds (3.4e38 / 1e-3 = 3.4e41 < 1.8e308).
MIN_TEMPERATURE = 1e-3
MAX_TOKENS = 100_000  # tokens `generate` writes: one model call each


def check_options(*, top: int = 1, tokens: int = 0, temperature: float = 0.0) -> None:
    """Refuse settings that make no sense, naming the `layerloom predict` flag: `top` classes shown per
    sample (at least 1), `tokens` to generate (0 to MAX_TOKENS), `temperature` (0: the most likely
    character; else finite and at least MIN_TEMPERATURE)."""
    if top < 1:
        raise PredictError(f"--top must be at least 1 (the classes shown per sample), got {top}")
    if not 0 <= tokens <= MAX_TOKENS:
        raise PredictError(f"--tokens must be from 0 to {MAX_TOKENS:,} (the tokens generated), got {tokens}")
    if temperature_problem(temperature):
        raise PredictError(f"--temperature {temperature_problem(temperature)}")


def temperature_problem(temperature: float) -> str | None:
    """Why `temperature` cannot sample (0 means the most likely character), or None."""
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not math.isfinite(temperature) \
            or not (temperature == 0 or temperature >= MIN_TEMPERATURE):
        return (f"must be 0 (the most likely character each time) or a finite number of at least {MIN_TEMPERATURE:g} "
                f"(sampling, sharper below 1, more varied above), got {temperature!r}")
    return None


def text_codec(model: DeployedModel) -> Codec:
    """The codec in the model's metadata; refused for a model not trained on text."""
    model.require("text", "a text prompt")
    try:
        return codec_from_record(model.prep, str(model.path))
    except DataError as exc:
        raise PredictError(str(exc)) from None


def next_character(model: DeployedModel, prompt: str, temperature: float = 1.0) -> np.ndarray:
    """Probabilities (V,) of the token after `prompt`, softened or sharpened by `temperature` (> 0)."""
    if problem := temperature_problem(temperature) or ("must be above 0 to give probabilities" if not temperature
                                                       else None):
        raise PredictError(f"temperature {problem}")
    return _next_token(model, _encoded(text_codec(model), prompt), temperature)


def _encoded(codec: Codec, prompt: str) -> list[int]:
    try:
        return codec.encode(prompt)
    except DataError as exc:
        raise PredictError(f"the prompt holds characters the model never saw: {exc}") from None


def _next_token(model: DeployedModel, ids: list[int], temperature: float) -> np.ndarray:
    block = model.prep["input_shape"][0]
    fixed = isinstance(model.session.get_inputs()[0].shape[1], int)  # else its length axis is dynamic
    if not ids or (fixed and len(ids) < block):
        raise PredictError(f"the model reads {'exactly ' if fixed else 'up to '}{block} tokens; "
                           f"the prompt has {len(ids)} — give it a longer one")
    return sampling_probabilities(model.logits(np.array([ids[-block:]], dtype=np.int64))[0, -1], temperature)


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
    """The text of `tokens` tokens after `prompt`: the most likely each time (temperature 0), else sampled."""
    check_options(tokens=tokens, temperature=temperature)
    rng = rng or np.random.default_rng()
    codec = text_codec(model)
    ids = _encoded(codec, prompt)
    start = len(ids)
    for _ in range(tokens):
        probabilities = _next_token(model, ids, temperature or 1.0)
        ids.append(int(rng.choice(len(probabilities), p=probabilities)) if temperature > 0
                   else int(np.argmax(probabilities)))
    return codec.decode(ids)[len(codec.decode(ids[:start])):]
