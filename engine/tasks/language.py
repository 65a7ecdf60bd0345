"""Next-token language modelling: a text dataset whose targets are the inputs shifted by one token.

Each epoch it measures `perplexity`, exp of the mean cross-entropy per token on the validation
sample, and writes `generated` (text): the first validation window followed by TOKENS tokens the
model writes after it (decoded by the run's codec, engine/data/tokens.py: characters or BPE), sampled
at TEMPERATURE among the TOP_K likeliest with a generator seeded by `training.seed`. `generate` is
also what `layerloom generate RUN` runs, and the worker's `generate` command, which may ask for the
`last` checkpoint: while a run trains that is its newest weights.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F

from ..data.tokens import Codec, codec_from_record
from ..errors import CheckpointError, DataError, WeightsError
from .base import Sample, TaskKind, predictions

TOKENS = 200
TEMPERATURE = 0.8
TOP_K = 10
Logits = Callable[[torch.Tensor], torch.Tensor]  # token ids (1, T) → scores (1, T, V)


class LanguageModel(TaskKind):
    name = "language_model"

    def metrics(self, setup, sample: Sample) -> dict[str, float]:
        scores = predictions(setup, sample)
        return {"perplexity": float(F.cross_entropy(scores.flatten(0, -2), sample.y.flatten()).exp())}

    def artifacts(self, setup, sample: Sample, out) -> None:
        codec = codec_from_record({**setup.data.raw, "vocab": setup.data.vocab})
        prompt = codec.decode(sample.x[0].tolist())

        def logits(ids: torch.Tensor) -> torch.Tensor:
            with setup.autocast():
                return setup.compiled.module(*setup.arguments(ids, ids))[setup.prediction].float()

        rng = torch.Generator(setup.device).manual_seed(setup.config.seed)
        out.text("generated", prompt + generate(logits, codec, prompt, TOKENS, sample.x.shape[1], setup.device,
                                                TEMPERATURE, TOP_K, rng))


def generate(logits: Logits, codec: Codec, prompt: str, tokens: int, block: int, device: torch.device,
             temperature: float = TEMPERATURE, top_k: int = TOP_K, rng: torch.Generator | None = None) -> str:
    """The text of `tokens` tokens after `prompt`, each read from the model's scores for the last position
    given the last `block` tokens: the likeliest at temperature 0, else sampled at `temperature` among the
    `top_k` likeliest (0: all)."""
    return written(codec, *generate_ids(logits, codec, prompt, tokens, block, device, temperature, top_k, rng))


def written(codec: Codec, ids: list[int], start: int) -> str:
    """The text of the ids after the first `start` (the prompt's), as the whole sequence decodes."""
    return codec.decode(ids)[len(codec.decode(ids[:start])):]


@torch.no_grad()
def generate_ids(logits: Logits, codec: Codec, prompt: str, tokens: int, block: int, device: torch.device,
                 temperature: float = TEMPERATURE, top_k: int = TOP_K,
                 rng: torch.Generator | None = None) -> tuple[list[int], int]:
    """What `generate` writes, as token ids: (the prompt's ids followed by the written ones, how many are the
    prompt's)."""
    if not prompt:
        raise DataError("--prompt: give at least one character to start from")
    try:
        ids = codec.encode(prompt)
    except DataError as exc:
        raise DataError(f"--prompt: {exc}") from None
    start = len(ids)
    for _ in range(tokens):
        scores = logits(torch.tensor([ids[-block:]], device=device))[0, -1]  # (V,)
        if temperature <= 0:
            ids.append(int(scores.argmax()))
            continue
        scores = scores / temperature
        if 0 < top_k < len(scores):
            scores = scores.masked_fill(scores < scores.topk(top_k).values[-1], float("-inf"))
        ids.append(int(torch.multinomial(scores.softmax(-1), 1, generator=rng)))
    return ids, start


def run_model(run_dir: str | Path) -> tuple[Logits, Codec, int]:
    """A trained run's language model on the CPU: its scores function, codec and context length (tokens),
    from graph.json, data.json and the `best` weights (else `last`)."""
    return open_run_model(run_dir)[:3]


class RunModel(NamedTuple):
    """A trained run's language model on the CPU (`open_run_model`)."""

    logits: Logits
    codec: Codec
    block: int  # the context length, in tokens
    weights: dict  # which checkpoint: {"tag", "epoch", "step"}
    module: torch.nn.Module  # the inference module behind `logits` (engine/inspect looks inside it)


def open_run_model(run_dir: str | Path, prefer: str = "best") -> RunModel:
    """`run_model` from the `prefer` checkpoint ("best" or "last"), else the other one, and which it was:
    {"tag", "epoch", "step"} (epoch and step None when the checkpoint does not say)."""
    from .. import runs
    from ..export.weights import inference_graph
    from ..fileformat import from_dict
    from ..train.checkpoint_files import checkpoint_weights, read_metadata

    run_dir = Path(run_dir)
    data = json.loads((run_dir / "data.json").read_text(encoding="utf-8")) if (run_dir / "data.json").is_file() else {}
    if not (data.get("raw") or {}).get("vocab"):
        raise DataError(f"{run_dir / 'data.json'}: no text vocabulary — `generate` needs a run trained on a text "
                        f"dataset")
    codec = codec_from_record(data["raw"], str(run_dir / "data.json"))
    tags = ("last", "best") if prefer == "last" else ("best", "last")
    tag, weights = next(((tag, path) for tag in tags if (path := checkpoint_weights(run_dir, tag))), (None, None))
    if weights is None:
        raise WeightsError(f"{run_dir}: no usable best or last checkpoint — train the run for an epoch first")
    try:
        meta = json.loads(read_metadata(weights).get("meta") or "{}")
    except (OSError, ValueError, CheckpointError):  # replaced meanwhile, or a version 1 checkpoint
        meta = {}
    meta = meta if isinstance(meta, dict) else {}
    compiled = inference_graph(from_dict(runs.run_graph(run_dir), str(run_dir / "graph.json")), weights)

    def logits(ids: torch.Tensor) -> torch.Tensor:
        out = compiled.module(ids)
        return (out[0] if isinstance(out, tuple) else out).float()

    return RunModel(logits, codec, int(data["input_shape"][0]),
                    {"tag": tag, "epoch": meta.get("epoch"), "step": meta.get("step")}, compiled.module)
