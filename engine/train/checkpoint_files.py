"""A checkpoint's files: where they are, how a save commits atomically, what a reader may trust.

A checkpoint `<tag>` ("last" or "best") in a run folder is two files:

    <tag>.safetensors                    the model's state_dict (keys are node ids: `fc1.weight`) — the
                                         file export, inference, the run list and checkpoint events name.
                                         Its safetensors metadata holds the checkpoint's JSON record
                                         (epoch, step, progress, config) and the name of
    <tag>.train-<step>-<hex>.safetensors its training state: optimizer tensors and RNG states, with
                                         their JSON (param groups, scalars, python/numpy RNG) as metadata

Why no kill can tear one: a save writes the training state under a fresh name nothing refers to
yet, then the weights into a temporary file, fsyncs both and the folder, and commits with one
`os.replace(temporary, <tag>.safetensors)`. A rename within a folder is atomic (POSIX rename(2),
MoveFileEx on Windows), so at every instant `<tag>.safetensors` is the old checkpoint or the new one
— and the training state it names exists, because the old state file is deleted only after the
commit. (A folder per checkpoint would not do: POSIX cannot atomically replace a non-empty folder,
and the weights would move away from the path every reader knows.) What an interrupted save leaves —
temporary files, a state file nobody names — is removed by the next save, before and after it writes,
and by a run's start. Files are created with the permissions of the checkpoint they replace (a new
one's: the umask's), through engine/atomic.py; never with safetensors' `save_file`, which makes every
file 0600 and leaves a `.tmpXXXXXX` of its own when killed.

What a reader may trust: every file's metadata holds `sha256`, a SHA-256 of its tensors' raw bytes
(`tensor_digest`), checked by `read_verified` before a checkpoint is resumed or weights are loaded,
so a file damaged on disk (flipped bytes in the tensor data, which the header cannot show) is refused
with its name instead of being trained on; files written before the digest existed load unchecked.

Version 1 runs (`<tag>.safetensors`, `<tag>.train.safetensors` and `<tag>.json`, written in that
order) still load: their weights header has no "version". Nothing here imports torch (the run list
reads it).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import struct
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from .. import atomic
from ..errors import CheckpointError

FORMAT = "layerloom-checkpoint"
VERSION = "2"
TAGS = ("last", "best")
_MAX_HEADER = 100_000_000  # the safetensors library's own limit
DIGEST = "sha256"  # the metadata key of the tensors' digest (tensor_digest)
REPLACE_TRIES, REPLACE_WAIT_S = 40, 0.05  # a commit waits up to 2 s for a reader of the old weights (Windows)
_TAG = "|".join(TAGS)
_TRAIN_STATE = re.compile(rf"(?:{_TAG})\.train-\d+-[0-9a-f]+\.safetensors")
# the files a save of either version writes for a tag, and its temporary files
_OWNED = re.compile(rf"\.(?P<temp>{_TAG})\..*\.tmp"
                    rf"|(?P<tag>{_TAG})\.(?:safetensors|json|train\.safetensors|train-\d+-[0-9a-f]+\.safetensors)")


def weights_file(run_dir: Path, tag: str) -> Path:
    return Path(run_dir) / f"{tag}.safetensors"


def checkpoint_weights(run_dir: str | Path, tag: str) -> Path | None:
    """The weights file of checkpoint `tag` in `run_dir`, or None when it is missing or damaged
    (a header that does not parse, data cut short). Reads the header only."""
    path = weights_file(Path(run_dir), tag)
    try:
        read_metadata(path)
    except (FileNotFoundError, CheckpointError):
        return None
    return path


def read_metadata(path: Path) -> dict[str, str]:
    """The safetensors metadata of `path`, once its header parses and the data it describes is all
    there. FileNotFoundError when there is no file; CheckpointError naming it when it is damaged.
    Reads the header only: the tensor data is checked by `read_verified`."""
    try:
        with open(path, "rb") as handle:
            header, _ = _parse_header(path, os.fstat(handle.fileno()).st_size, handle.read)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    return _metadata(header)


def read_verified(path: Path) -> tuple[bytes, dict[str, str]]:
    """The whole file at `path` and its metadata, after checking its tensor data against the digest the
    metadata holds (files without one, written before it existed, are taken as they are). One read, so
    what was checked is what the caller loads, even while a save replaces the file.
    FileNotFoundError when there is no file; CheckpointError naming it when it is damaged."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    view = memoryview(data)
    header, start = _parse_header(path, len(data), _reader(view))
    metadata = _metadata(header)
    expected = metadata.get(DIGEST)
    if expected is not None:
        try:
            found = tensor_digest((name, view[start + entry["data_offsets"][0]:start + entry["data_offsets"][1]])
                                  for name, entry in header.items() if name != "__metadata__")
        except (TypeError, KeyError, IndexError, ValueError) as exc:
            raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from None
        if found != expected:
            raise CheckpointError(f"{path}: the tensor data does not match its checksum — the file is damaged")
    return data, metadata


def tensor_digest(tensors: Iterable[tuple[str, object]]) -> str:
    """SHA-256 over (name, raw bytes) pairs in name order: each name's UTF-8 and byte count, then the bytes
    (a buffer: a tensor's bytes as `checkpoint.raw_bytes` gives them, or the slice of a file holding them)."""
    digest = hashlib.sha256()
    for name, data in sorted(tensors, key=lambda item: item[0]):
        raw = memoryview(data).cast("B")
        key = name.encode("utf-8")
        digest.update(struct.pack("<Q", len(key)) + key + struct.pack("<Q", raw.nbytes))
        digest.update(raw)
    return digest.hexdigest()


def save_arrays(arrays: dict, path: Path) -> None:
    """numpy arrays (an imported model's weights) as a safetensors file with the digest `read_verified`
    checks, written atomically — without torch, so the app's import never loads it."""
    import numpy as np
    from safetensors.numpy import save

    arrays = {name: np.asarray(array).copy(order="C") for name, array in arrays.items()}  # (0-d stays 0-d)
    metadata = {DIGEST: tensor_digest(arrays.items())}
    atomic.atomic_write_bytes(Path(path), save(arrays, metadata=metadata))


def _parse_header(path: Path, size: int, read: Callable[[int], bytes]) -> tuple[dict, int]:
    """The parsed header of a safetensors file of `size` bytes read by `read`, and where its data begins."""
    try:
        (length,) = struct.unpack("<Q", read(8))
        if length > min(_MAX_HEADER, size - 8):
            raise ValueError("the header runs past the end of the file")
        header = json.loads(read(length))
        end = max((entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__"), default=0)
    except (struct.error, ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from None
    if 8 + length + end > size:
        raise CheckpointError(f"{path}: cut short ({size} bytes of {8 + length + end}) — the file is damaged")
    return header, 8 + length


def _metadata(header: dict) -> dict[str, str]:
    metadata = header.get("__metadata__")
    return metadata if isinstance(metadata, dict) else {}


def _reader(view: memoryview) -> Callable[[int], bytes]:
    position = 0

    def read(n: int) -> bytes:
        nonlocal position
        chunk = bytes(view[position:position + n])
        position += n
        return chunk

    return read


def train_state_file(metadata: dict[str, str], weights: Path) -> Path:
    """The training state file a version 2 weights header names (a plain file name beside the weights)."""
    name = metadata.get("train", "")
    if not _TRAIN_STATE.fullmatch(name):
        raise CheckpointError(f"{weights}: names no training state file (got {name!r}) — the file is damaged")
    return weights.with_name(name)


def new_train_state_file(run_dir: Path, tag: str, step: int) -> Path:
    """A name for a new training state file that no checkpoint refers to yet."""
    return Path(run_dir) / f"{tag}.train-{step}-{secrets.token_hex(4)}.safetensors"


def new_temp_file(run_dir: Path, tag: str) -> Path:
    """A hidden name for the weights until the commit (one `remove_stale` knows: `.<tag>.….tmp`)."""
    return Path(run_dir) / f".{tag}.safetensors.{secrets.token_hex(4)}.tmp"


def write_new(path: Path, data: bytes, like: Path) -> None:
    """Create `path` holding `data`, fsynced (a rename must never commit unwritten data), with the
    permissions of `like` when it exists (the checkpoint it will replace), else the umask's."""
    with atomic.open_new(path, like) as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def commit(pairs: list[tuple[Path, Path]]) -> None:
    """Atomically make each temporary file the file it names (`(temp, target)` pairs, one folder); the
    folder is synced before (so the training state files the new weights name are on disk first) and
    after (so the commits survive a power cut) — once for all of them."""
    folder = pairs[0][1].parent
    _sync_folder(folder)
    for temp, target in pairs:
        _replace(temp, target)
    _sync_folder(folder)


def _replace(temp: Path, target: Path) -> None:
    """os.replace, retried for a moment: Windows refuses to replace a file another handle has open (the
    worker reading the last checkpoint to write text while the run trains, a virus scanner); POSIX never
    refuses for that."""
    for attempt in range(REPLACE_TRIES):
        try:
            os.replace(temp, target)
            return
        except PermissionError:
            if attempt == REPLACE_TRIES - 1:
                raise
            time.sleep(REPLACE_WAIT_S)


def _sync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # Windows cannot open a folder; its renames are journaled by NTFS
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale(run_dir: Path) -> None:
    """Delete what interrupted or superseded saves left: temporary files, training state files no
    checkpoint names, the version 1 companions of a checkpoint since rewritten. Only the trainer
    writing this run calls it, between its own writes, so nothing it deletes is being written."""
    run_dir = Path(run_dir)
    in_use = {tag: _in_use(run_dir, tag) for tag in TAGS}
    for path in run_dir.iterdir():
        match = _OWNED.fullmatch(path.name)
        tag = match and (match["temp"] or match["tag"])
        if tag and in_use[tag] is not None and path.name not in in_use[tag]:
            path.unlink(missing_ok=True)


def _in_use(run_dir: Path, tag: str) -> set[str] | None:
    """The files checkpoint `tag` consists of; None (keep them all) when its weights are damaged."""
    weights = weights_file(run_dir, tag)
    try:
        metadata = read_metadata(weights)
        if metadata.get("version") == VERSION:
            return {weights.name, train_state_file(metadata, weights).name}
    except FileNotFoundError:
        return set()
    except CheckpointError:
        return None
    return {weights.name, f"{tag}.train.safetensors", f"{tag}.json"}
