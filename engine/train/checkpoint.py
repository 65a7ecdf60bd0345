"""Checkpoints without pickle: safetensors for every tensor, JSON for everything else.

A checkpoint is the model's weights, the optimizers' state, the RNG states and the trainer's
progress, saved so that a resumed run continues exactly. checkpoint_files.py says which files hold
what and why no kill mid-save can tear one; this module turns torch state into those files and back.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..errors import CheckpointError
from . import checkpoint_files as files


def save_checkpoint(run_dir: Path, tag: str, model_state: dict[str, torch.Tensor], optimizer_state: dict,
                    meta: dict[str, Any]) -> Path:
    """Write checkpoint `tag` (model weights, optimizer state, RNG states, `meta`) and commit it with one
    rename; returns the weights path."""
    run_dir = Path(run_dir)
    step = str(meta["step"])
    optim_tensors, optim_json = _flatten_optimizer(optimizer_state)
    rng_tensors, rng_json = _capture_rng()
    weights = files.weights_file(run_dir, tag)
    try:
        files.remove_stale(run_dir)  # so leftovers never exceed one interrupted save's
        train = files.new_train_state_file(run_dir, tag, meta["step"])
        _write(train, {**optim_tensors, **rng_tensors}, step, state={"optimizer": optim_json, "rng": rng_json})
        temp = files.new_temp_file(run_dir, tag)
        _write(temp, model_state, step, meta=meta, train=train.name)
        files.commit(temp, weights)
        files.remove_stale(run_dir)  # the training state the old checkpoint named
    except OSError as exc:
        raise CheckpointError(f"{weights}: cannot write the checkpoint ({exc.strerror or exc}) — free some disk "
                              "space or check the run folder's permissions; the previous checkpoint is kept") from None
    return weights


def load_checkpoint(run_dir: Path, tag: str) -> tuple[dict[str, torch.Tensor], dict, dict[str, Any]]:
    """(model_state, optimizer_state, meta) of checkpoint `tag`; RNG states are restored by `restore_rng(meta)`.
    `meta["tag"]` says which checkpoint it was."""
    weights = files.weights_file(Path(run_dir), tag)
    record, train = _read_record(weights)
    step = str(record["step"])
    model_state = _load_tensors(weights, step)
    train_tensors = _load_tensors(train, step)
    record["rng_tensors"] = {k: v for k, v in train_tensors.items() if k.startswith("rng/")}
    optimizer_state = _unflatten_optimizer(train_tensors, record.pop("optimizer"))
    return model_state, optimizer_state, {**record, "tag": tag}


def load_latest(run_dir: Path) -> tuple[dict[str, torch.Tensor], dict, dict[str, Any]]:
    """`load_checkpoint` of `last`, or of `best` when `last` is unusable (a run torn by a kill under
    version 1, a damaged file); `meta["fallback"]` then says so."""
    try:
        return load_checkpoint(run_dir, "last")
    except CheckpointError as exc:
        last_error = exc
    try:
        model_state, optimizer_state, meta = load_checkpoint(run_dir, "best")
    except CheckpointError:
        raise last_error from None
    meta["fallback"] = (f"resumed from the best checkpoint (epoch {meta['epoch']}, step {meta['step']}) because "
                        f"the last one is unusable: {last_error}")
    return model_state, optimizer_state, meta


def _read_record(weights: Path) -> tuple[dict[str, Any], Path]:
    """The checkpoint's JSON record (meta, "optimizer", "rng") and the file of its training tensors."""
    try:
        metadata = files.read_metadata(weights)
    except FileNotFoundError:
        raise CheckpointError(f"{weights}: no checkpoint to resume from — train without --resume first") from None
    if metadata.get("format") != files.FORMAT:
        raise CheckpointError(f"{weights}: not a Layerloom checkpoint (plain weights cannot be resumed)")
    if "version" not in metadata:
        return _read_version_1(weights), weights.with_suffix(".train.safetensors")
    if metadata["version"] != files.VERSION:
        raise CheckpointError(f"{weights}: a checkpoint of version {metadata['version']}; this Layerloom reads "
                              f"version {files.VERSION} — update Layerloom")
    train = files.train_state_file(metadata, weights)
    try:
        state = files.read_metadata(train).get("state")
    except FileNotFoundError:
        raise CheckpointError(f"{train}: missing — the checkpoint's optimizer and RNG state are gone") from None
    return {**_json(metadata.get("meta"), weights), **_json(state, train)}, train


def _read_version_1(weights: Path) -> dict[str, Any]:
    """The `<tag>.json` of a version 1 checkpoint (written last, so it marked a complete set)."""
    path = weights.with_suffix(".json")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing — the checkpoint was torn by an interrupted save") from None
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: unreadable checkpoint ({exc})") from None
    if not isinstance(record, dict) or record.get("format") != files.FORMAT or record.get("version") != 1:
        raise CheckpointError(f"{path}: not a Layerloom checkpoint of version 1")
    return record


def _json(text: str | None, path: Path) -> dict[str, Any]:
    try:
        value = json.loads(text or "")
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise CheckpointError(f"{path}: its checkpoint record is missing or damaged")
    return value


def all_finite(state: dict[str, torch.Tensor]) -> bool:
    """True when no floating tensor in `state` holds NaN or Inf (never checkpoint diverged weights)."""
    return all(bool(torch.isfinite(t).all()) for t in state.values() if t.is_floating_point())


def _write(path: Path, tensors: dict[str, torch.Tensor], step: str, **records: Any) -> None:
    """Write `tensors` with `records` as JSON metadata, then fsync (a rename must never commit unwritten data)."""
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    metadata = {"format": files.FORMAT, "version": files.VERSION, "step": step}
    for name, value in records.items():
        metadata[name] = value if isinstance(value, str) else json.dumps(value, allow_nan=False)
    save_file(tensors, str(path), metadata=metadata)
    files.sync_file(path)


def _load_tensors(path: Path, step: str) -> dict[str, torch.Tensor]:
    try:
        saved_step = files.read_metadata(path).get("step")
        tensors = load_file(str(path))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing — the checkpoint is incomplete") from None
    except (OSError, SafetensorError) as exc:
        raise CheckpointError(f"{path}: unreadable checkpoint file ({exc})") from None
    if saved_step != step:
        raise CheckpointError(f"{path}: belongs to step {saved_step}, its record to step {step} — the checkpoint "
                              "was torn by an interrupted save")
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

