"""Atomic file writes: a temporary file beside the target, written, fsynced, then renamed over it.

Every file Layerloom writes whole goes through here — graphs, run records, metrics and summaries,
exports, the files of a bundle, and (through engine/train/checkpoint_files.py) checkpoints — so all
of them share three properties:

- Never half-written. A reader finds the old file or the new one (a rename within a folder is atomic:
  POSIX rename(2), MoveFileEx on Windows), and the data is fsynced before the rename, so a power cut
  cannot commit a file whose contents never reached the disk.
- The permissions of the file they replace. A graph the user made 0644 (or 0640, or 0600) keeps that
  mode; a new file gets the mode any program would give it, 0666 less the user's umask. The temporary
  file is created with `os.open(…, 0o666)`, which the kernel masks with the umask (and a folder's
  default ACL), so the umask is never read: `os.umask` can only be read by setting it, and another
  thread creating a file in between would get the wrong mode. `tempfile.mkstemp`, used before, made
  every file 0600, and so did safetensors' own `save_file` (which also leaves a `.tmpXXXXXX` of its
  own behind when killed).
- Nothing left behind. The temporary file is `.<name>.<pid>-<8 hex>.tmp` and is removed when the write
  fails. What a killed writer left is removed by the next write of the same file, and a run's start
  sweeps its folder (`remove_leftovers`). Only names of that pattern are touched, and only when the
  process named in them is gone (on Windows, where a process cannot be probed without opening it,
  when the file is older than `STALE_AFTER_S`), so a write in progress elsewhere is never disturbed.
  `.<name>.<8 characters>.tmp` files of earlier Layerloom versions (mkstemp's names) are removed once
  older than `STALE_AFTER_S`.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

STALE_AFTER_S = 600.0  # no write takes this long: an older temporary file of an unknown writer is a leftover
_TEMP = re.compile(r"\.(?P<name>.+)\.(?P<pid>\d+)-[0-9a-f]{8}\.tmp")
_LEGACY_TEMP = re.compile(r"\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp")  # tempfile.mkstemp(prefix=".<name>.", suffix=".tmp")
_writing: set[str] = set()  # names of the temporary files this process is writing (on any thread)
_writing_lock = threading.Lock()


def atomic_write_text(path: Path, text: str, durable: bool = True) -> None:
    """Write `text` (UTF-8; newlines as the platform writes text) to `path` atomically."""
    atomic_write(Path(path), lambda handle: _write_text(handle, text), durable)


def atomic_write_bytes(path: Path, data: bytes | bytearray | memoryview, durable: bool = True) -> None:
    """Write `data` to `path` atomically."""
    atomic_write(Path(path), lambda handle: handle.write(data), durable)


def atomic_write(path: Path, write: Callable[[BinaryIO], object], durable: bool = True) -> None:
    """Create a temporary file beside `path` with the permissions `path` has (else the umask's), let
    `write` fill it, fsync it and rename it over `path`. On any failure the temporary file is removed
    and `path` is left as it was. `durable=False` skips the fsync (a millisecond or more, much more on a
    busy disk): readers still never see half a file, but a power cut may leave an empty one — for files
    that are regenerated anyway (a run's per-epoch artifacts), never for what a user saved."""
    path = Path(path)
    remove_leftovers(path.parent, path.name)
    temp = temp_file(path)
    try:
        with open_new(temp, like=path) as handle:
            write(handle)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    finally:
        _forget(temp)


def temp_file(path: Path) -> Path:
    """A fresh temporary name beside `path` that `remove_leftovers` knows as this process's."""
    temp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    with _writing_lock:
        _writing.add(temp.name)
    return temp


def _forget(temp: Path) -> None:
    with _writing_lock:
        _writing.discard(temp.name)


def open_new(path: Path, like: Path | None = None) -> BinaryIO:
    """Create `path`, which must not exist, for writing in binary: mode 0666 less the umask (applied by
    the kernel), or the permission bits of `like` when that file exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        if like is not None:
            copy_mode(like, path, fd)
        return os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        raise


def copy_mode(source: Path, target: Path, fd: int | None = None) -> None:
    """Give `target` the permission bits of `source`, when `source` exists (else leave them)."""
    try:
        mode = stat.S_IMODE(os.stat(source).st_mode) & 0o777
    except (FileNotFoundError, NotADirectoryError):
        return
    if fd is not None and hasattr(os, "fchmod"):
        if stat.S_IMODE(os.fstat(fd).st_mode) != mode:
            os.fchmod(fd, mode)
    else:
        os.chmod(target, mode)


def _write_text(handle: BinaryIO, text: str) -> None:
    if os.linesep != "\n":
        text = text.replace("\n", os.linesep)
    handle.write(text.encode("utf-8"))


def remove_leftovers(folder: Path, name: str | None = None) -> list[str]:
    """Remove the temporary files that writers of `folder/name` (of any file in `folder` when `name` is
    None) left when they were killed; returns their names. Never a file another writer still writes."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    prefix = f".{name}." if name is not None else "."
    now = None
    for entry in entries:
        if not (entry.name.startswith(prefix) and entry.name.endswith(".tmp")):
            continue
        match = _TEMP.fullmatch(entry.name)
        if match and (name is None or match["name"] == name):
            pid = int(match["pid"])
            if entry.name in _writing:
                continue  # this process writes it, on another thread
            if pid != os.getpid() and (_alive(pid) if _can_probe() else not _older(entry, now := now or time.time())):
                continue  # its writer may still be at it
        else:
            legacy = _LEGACY_TEMP.fullmatch(entry.name)
            if not (legacy and (name is None or legacy["name"] == name)
                    and _older(entry, now := now or time.time())):
                continue
        try:
            os.unlink(entry.path)
        except FileNotFoundError:
            continue
        except OSError:  # not ours to remove after all (permissions): leave it
            continue
        removed.append(entry.name)
    return removed


def _can_probe() -> bool:
    """Whether a process can be probed by its id: on Windows os.kill(pid, 0) would terminate it."""
    return os.name == "posix"


def _alive(pid: int) -> bool:
    """Whether process `pid` runs on this machine (signal 0 probes without signalling; POSIX only)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, another user's
        return True
    return True


def _older(entry: os.DirEntry, now: float) -> bool:
    try:
        return now - entry.stat(follow_symlinks=False).st_mtime > STALE_AFTER_S
    except OSError:
        return False
