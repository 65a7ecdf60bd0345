"""Checkpoints without pickle: safetensors for every tensor, JSON for everything else.

A checkpoint `<tag>` in a run folder is three files:

    <tag>.safetensors        the model's state_dict (keys carry node ids: `fc1.weight`) — what export
                             and inference load
    <tag>.train.safetensors  optimizer tensors (`optim/<param>/<name>`) and RNG states (`rng/torch`,
                             `rng/cuda/<i>`, `rng/numpy`)
    <tag>.json               epoch, step, trainer progress, optimizer param groups and scalar state,
                             python and numpy RNG scalars; written last, so it marks a complete set

The step is stored in all three and checked on load, so a set torn by a crash mid-save is refused
instead of resuming from mismatched parts.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from ..errors import CheckpointError
from ..fileformat import atomic_write_text

FORMAT = "layerloom-checkpoint"
VERSION = 1


def weights_path(run_dir: Path, tag: str) -> Path:
    return Path(run_dir) / f"{tag}.safetensors"


def save_checkpoint(run_dir: Path, tag: str, model_state: dict[str, torch.Tensor], optimizer_state: dict,
                    meta: dict[str, Any]) -> Path:
    """Write checkpoint `tag` (model weights, optimizer state, RNG states, `meta`); returns the weights path."""
    run_dir = Path(run_dir)
    step = str(meta["step"])
    optim_tensors, optim_json = _flatten_optimizer(optimizer_state)
    rng_tensors, rng_json = _capture_rng()
    _save_tensors(model_state, weights_path(run_dir, tag), step)
    _save_tensors({**optim_tensors, **rng_tensors}, run_dir / f"{tag}.train.safetensors", step)
    record = {"format": FORMAT, "version": VERSION, **meta, "optimizer": optim_json, "rng": rng_json}
    atomic_write_text(run_dir / f"{tag}.json", json.dumps(record, indent=1, allow_nan=False) + "\n")
    return weights_path(run_dir, tag)


def load_checkpoint(run_dir: Path, tag: str) -> tuple[dict[str, torch.Tensor], dict, dict[str, Any]]:
    """(model_state, optimizer_state, meta) of checkpoint `tag`; RNG states are restored by `restore_rng(meta)`."""
    run_dir = Path(run_dir)
    meta_path = run_dir / f"{tag}.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{meta_path}: no checkpoint to resume from — train without --resume first") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{meta_path}: unreadable checkpoint ({exc})") from None
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise CheckpointError(f"{meta_path}: not a Layerloom checkpoint of version {VERSION}")
    model_state = _load_tensors(weights_path(run_dir, tag), str(meta["step"]))
    train_tensors = _load_tensors(run_dir / f"{tag}.train.safetensors", str(meta["step"]))
    meta["rng_tensors"] = {k: v for k, v in train_tensors.items() if k.startswith("rng/")}
    optimizer_state = _unflatten_optimizer(train_tensors, meta.pop("optimizer"))
    return model_state, optimizer_state, meta


def all_finite(state: dict[str, torch.Tensor]) -> bool:
    """True when no floating tensor in `state` holds NaN or Inf (never checkpoint diverged weights)."""
    return all(bool(torch.isfinite(t).all()) for t in state.values() if t.is_floating_point())


def _save_tensors(tensors: dict[str, torch.Tensor], path: Path, step: str) -> None:
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(tensors, str(tmp), metadata={"format": FORMAT, "step": step})
    os.replace(tmp, path)


def _load_tensors(path: Path, step: str) -> dict[str, torch.Tensor]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            saved_step = (handle.metadata() or {}).get("step")
        tensors = load_file(str(path))
    except (OSError, ValueError, RuntimeError) as exc:  # safetensors raises SafetensorError(Exception) subclasses
        raise CheckpointError(f"{path}: unreadable checkpoint file ({exc})") from None
    if saved_step != step:
        raise CheckpointError(f"{path}: belongs to step {saved_step}, its .json to step {step} — the checkpoint "
                              "was torn by an interrupted save; resume from another run folder or start afresh")
    return tensors


def _flatten_optimizer(state_dict: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """Tensors of a torch optimizer state_dict under `optim/<param>/<name>`, the rest as JSON."""
    tensors, scalars = {}, {}
    for param, slots in state_dict["state"].items():
        for name, value in slots.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim/{param}/{name}"] = value
            else:
                scalars.setdefault(str(param), {})[name] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], saved: dict) -> dict:
    state: dict[Any, dict[str, Any]] = {}

    def key(param: str):  # plain optimizers index params by int, FSDP's full state dict by name
        return int(param) if param.isdigit() else param

    for flat, value in tensors.items():
        if flat.startswith("optim/"):
            _, param, name = flat.split("/", 2)
            state.setdefault(key(param), {})[name] = value
    for param, slots in saved["scalars"].items():
        state.setdefault(key(param), {}).update(slots)
    groups = [{k: tuple(v) if k == "betas" else v for k, v in g.items()} for g in saved["param_groups"]]
    return {"state": state, "param_groups": groups}


def _capture_rng() -> tuple[dict[str, torch.Tensor], dict]:
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    tensors = {"rng/torch": torch.get_rng_state(), "rng/numpy": torch.from_numpy(keys.astype(np.int64))}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        tensors.update({f"rng/cuda/{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
    version, state, gauss_next = random.getstate()
    return tensors, {"python": [version, list(state), gauss_next],
                     "numpy": {"kind": kind, "pos": int(pos), "has_gauss": int(has_gauss), "gauss": float(gauss)}}


def restore_rng(meta: dict) -> None:
    """Put python, numpy, torch (and CUDA) random generators back where the checkpoint left them."""
    tensors, saved = meta["rng_tensors"], meta["rng"]
    version, state, gauss_next = saved["python"]
    random.setstate((version, tuple(state), gauss_next))
    n = saved["numpy"]
    np.random.set_state((n["kind"], tensors["rng/numpy"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["gauss"]))
    torch.set_rng_state(tensors["rng/torch"])
    cuda = [tensors[f"rng/cuda/{i}"] for i in range(sum(k.startswith("rng/cuda/") for k in tensors))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)

