"""Checkpoints without pickle: safetensors for every tensor, JSON for everything else.

A checkpoint is the model's weights, the optimizers' state, the RNG states and the trainer's
progress, saved so that a resumed run continues exactly. checkpoint_files.py says which files hold
what and why no kill mid-save can tear one; this module turns torch state into those files and back.

A save is two halves. `snapshot` runs on the training thread: it copies the state to the CPU where
training would change it (the parameters and optimizer moments a CPU run trains in place; a GPU's
tensors are copied without blocking, then synced once) and captures the RNG states and the JSON
records. `write_checkpoints` writes a snapshot as one or more checkpoints (`last`, and `best` from the
same state) on any thread: the trainer hands it to `CheckpointWriter`, one background thread, so
the steps go on while the files are written and fsynced. `save_checkpoint` does both at once.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes

from ..errors import CheckpointError
from . import checkpoint_files as files


@dataclass
class Snapshot:
    """A checkpoint's contents as the training thread left them: CPU tensors nothing will change any
    more, and the records (plain values nothing changes either: JSON is written by `write_checkpoints`)."""

    step: str
    model: dict[str, torch.Tensor]  # the model's state_dict
    train: dict[str, torch.Tensor]  # optimizer tensors (`optim/<param>/<name>`) and RNG states (`rng/…`)
    meta: dict[str, Any]  # the checkpoint's record: epoch, step, progress, config
    state: dict[str, Any]  # the optimizers' param groups and scalars, the python and numpy RNG states


def snapshot(model_state: dict[str, torch.Tensor], optimizer_state: dict, meta: dict[str, Any],
             live: Collection[int] | None = None) -> Snapshot:
    """Take checkpoint contents now (RNG states included). `live` holds the storage addresses
    (`untyped_storage().data_ptr()`) of the tensors training goes on changing — parameters, buffers,
    optimizer state: a CPU tensor sharing one is copied. None: the snapshot is written before anything
    changes (no copies). `meta` and the optimizer's param groups are kept as they are: the caller
    hands over dicts it will not change (fresh ones each save)."""
    optim_tensors, optim_json = _flatten_optimizer(optimizer_state)
    rng_tensors, rng_json = _capture_rng()
    return Snapshot(str(meta["step"]), _owned(model_state, live), _owned({**optim_tensors, **rng_tensors}, live),
                    meta, {"optimizer": optim_json, "rng": rng_json})


def _owned(tensors: dict[str, torch.Tensor], live: Collection[int] | None) -> dict[str, torch.Tensor]:
    """`tensors` on the CPU, contiguous, none sharing memory with a `live` tensor."""
    owned, synced = {}, False
    for name, tensor in tensors.items():
        tensor = tensor.detach()
        if tensor.device.type != "cpu":  # a copy of its own; a GPU's, queued (synced once below)
            cuda = tensor.device.type == "cuda"
            tensor, synced = tensor.to("cpu", non_blocking=cuda), synced or cuda
        elif live is not None and ((address := storage_address(tensor)) is None or address in live):
            tensor = tensor.clone(memory_format=torch.contiguous_format)
        owned[name] = tensor.contiguous()
    if synced:
        torch.cuda.synchronize()
    return owned


def storage_address(tensor: torch.Tensor) -> int | None:
    """Where `tensor`'s storage begins (the same for every view of it); None when it has no plain storage
    (a snapshot copies such a tensor: it cannot tell what it shares)."""
    try:
        return tensor.untyped_storage().data_ptr()
    except (RuntimeError, NotImplementedError):
        return None


def raw_bytes(tensor: torch.Tensor) -> np.ndarray:
    """A contiguous CPU tensor's memory as a flat uint8 array (no copy): what safetensors stores for it."""
    return tensor.reshape(-1).view(torch.uint8).numpy()


def digest(tensors: dict[str, torch.Tensor]) -> str:
    """checkpoint_files.tensor_digest of contiguous CPU tensors: the `sha256` their file's metadata holds."""
    return files.tensor_digest((name, raw_bytes(tensor)) for name, tensor in tensors.items())


def write_checkpoints(run_dir: Path, tags: Sequence[str], snap: Snapshot) -> list[Path]:
    """Write `snap` as checkpoint `tags` ("last", and "best" beside it) and commit them with one rename
    each, the folder synced once for all; returns their weights paths."""
    run_dir = Path(run_dir)
    targets = [files.weights_file(run_dir, tag) for tag in tags]
    meta, state = json.dumps(snap.meta, allow_nan=False), json.dumps(snap.state, allow_nan=False)
    try:
        files.remove_stale(run_dir)  # so leftovers never exceed one interrupted save's
        model_digest, train_digest = digest(snap.model), digest(snap.train)
        pairs = []
        for tag, weights in zip(tags, targets, strict=True):
            train = files.new_train_state_file(run_dir, tag, snap.step)
            _write(train, snap.train, train_digest, snap.step, weights, state=state)
            temp = files.new_temp_file(run_dir, tag)
            _write(temp, snap.model, model_digest, snap.step, weights, meta=meta, train=train.name)
            pairs.append((temp, weights))
        files.commit(pairs)
        files.remove_stale(run_dir)  # the training states the old checkpoints named
    except OSError as exc:
        try:  # what this save wrote and no checkpoint names (a full disk wants its space back)
            files.remove_stale(run_dir)
        except OSError:
            pass
        names = " and ".join(str(path) for path in targets)
        raise CheckpointError(f"{names}: cannot write the checkpoint ({exc.strerror or exc}) — free some disk "
                              "space or check the run folder's permissions; the previous checkpoint is kept") from None
    return targets


def save_checkpoint(run_dir: Path, tag: str, model_state: dict[str, torch.Tensor], optimizer_state: dict,
                    meta: dict[str, Any]) -> Path:
    """Write checkpoint `tag` (model weights, optimizer state, RNG states, `meta`) and commit it with one
    rename, on this thread; returns the weights path."""
    (weights,) = write_checkpoints(run_dir, (tag,), snapshot(model_state, optimizer_state, meta))
    return weights


class Saved(NamedTuple):
    """A checkpoint a `CheckpointWriter` committed: what its checkpoint event reports."""

    tag: str
    path: Path
    epoch: int
    step: int


class CheckpointWriter:
    """Writes checkpoints on one background thread, one save at a time, in the order given.

    `submit` first waits for the save before it (so one snapshot at most waits in memory, and saves
    never overtake each other), then hands the new one to the thread and returns at once. `poll`
    (never blocking) and `wait` (blocking) return the saves committed since. A save that failed raises
    its error from the next `submit`, `poll` or `wait`, on the caller's thread — the trainer's, which
    fails the run with it: an error is never lost. `close` (the run's end) waits, then ends the thread;
    a later `submit` starts another. The thread is a daemon so that a process that never closes it
    can still exit: a save it cuts short is one a kill could cut short too (checkpoint_files.py).
    """

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self._ready = threading.Condition()
        self._thread: threading.Thread | None = None
        self._job: tuple[tuple[str, ...], Snapshot, int, int] | None = None  # (tags, snapshot, epoch, step)
        self._busy = False  # a job is handed over and not done
        self._saved: list[Saved] = []
        self._error: BaseException | None = None
        self._closing = False

    def submit(self, tags: Sequence[str], snap: Snapshot, epoch: int, step: int) -> list[Saved]:
        saved = self.wait()
        with self._ready:
            if self._thread is None:
                self._closing = False
                self._thread = threading.Thread(target=self._loop, name="checkpoint writer", daemon=True)
                self._thread.start()
            self._job, self._busy = (tuple(tags), snap, epoch, step), True
            self._ready.notify_all()
        return saved

    def _loop(self) -> None:
        while True:
            with self._ready:
                while self._job is None and not self._closing:
                    self._ready.wait()
                if self._job is None:
                    return
                tags, snap, epoch, step = self._job
            try:
                paths = write_checkpoints(self.run_dir, tags, snap)
                saved, error = [Saved(tag, path, epoch, step) for tag, path in zip(tags, paths, strict=True)], None
            except BaseException as exc:  # handed to the training thread by wait()
                saved, error = [], exc
            with self._ready:
                self._job, self._busy = None, False
                self._saved += saved
                self._error = self._error or error
                self._ready.notify_all()

    @property
    def busy(self) -> bool:
        return self._busy

    def poll(self) -> list[Saved]:
        return [] if self._busy else self._collect()

    def wait(self) -> list[Saved]:
        with self._ready:
            while self._busy:
                self._ready.wait()
        return self._collect()

    def _collect(self) -> list[Saved]:
        with self._ready:
            saved, self._saved = self._saved, []
            error, self._error = self._error, None
        if error is not None:
            raise error
        return saved

    def close(self) -> list[Saved]:
        """Wait for the save under way, end the thread, and return (or raise) what `wait` does."""
        try:
            return self.wait()
        finally:
            with self._ready:
                thread, self._thread, self._closing = self._thread, None, True
                self._ready.notify_all()
            if thread is not None:
                thread.join()


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
    """True when no floating tensor in `state` holds NaN or Inf (never checkpoint diverged weights). One
    host sync per device, not one per tensor (a GPU model's state dict is checked where it lives)."""
    flags: dict[torch.device, list[torch.Tensor]] = {}
    for tensor in state.values():
        if tensor.is_floating_point():
            flags.setdefault(tensor.device, []).append(torch.isfinite(tensor).all())
    return all(bool(torch.stack(device_flags).all()) for device_flags in flags.values())


def _write(path: Path, tensors: dict[str, torch.Tensor], tensor_digest: str, step: str, like: Path,
           **records: str) -> None:
    """Write `tensors` with `records` and their digest as metadata to the new file `path` (the permissions
    of `like`, the checkpoint it becomes part of), fsynced."""
    metadata = {"format": files.FORMAT, "version": files.VERSION, "step": step, files.DIGEST: tensor_digest,
                **records}
    files.write_new(path, save_bytes(tensors, metadata=metadata), like)


def tensors_of(data: bytes) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file's bytes, each in memory of its own: safetensors' `load` makes views
    of immutable `bytes` objects, and an optimizer resumed from them updated its moments in place inside
    those — writes into memory Python considers constant."""
    return {name: tensor.clone() for name, tensor in load_bytes(data).items()}


def _load_tensors(path: Path, step: str) -> dict[str, torch.Tensor]:
    """The tensors of one checkpoint file, once its data matches its digest and it belongs to `step`."""
    try:
        data, metadata = files.read_verified(path)
        tensors = tensors_of(data)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing — the checkpoint is incomplete") from None
    except SafetensorError as exc:
        raise CheckpointError(f"{path}: unreadable checkpoint file ({exc})") from None
    saved_step = metadata.get("step")
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

