"""Fetching a published dataset once into the per-user cache, checked against its published checksum.

    cache_folder("mnist")          # <user data folder>/datasets/mnist (engine.runs.user_data_dir)
    fetch(url, target, md5, progress)

A download is streamed into a temporary file beside its target (engine/atomic.py) while its MD5 is
computed; only a file whose checksum is the published one is renamed into place, so the cache never
holds half a file or a wrong one, and two processes fetching at once (torchrun ranks) each rename a
whole, checked copy. `progress(name, done_bytes, total_bytes | None)` is called as the bytes arrive;
`TerminalProgress` is the command line's progress line, and `reporting(progress)` replaces it for the
downloads started inside a `with` on this thread (the training worker forwards them as events, see
engine/train/download_events.py). A `progress` that raises (`DownloadStopped`: the run was stopped)
ends the download: its temporary file is removed, nothing is kept. A tar archive is unpacked with tarfile's
"data" filter (no member outside the folder, no links out of it, no devices) into a temporary folder
that is renamed into place once whole.

Every URL is opened through `open_url`, which the tests replace: no test touches the network. When
it fails (no network, a proxy, a server error), the error names the folder and the files to put
there by hand; the caller says how (see benchmarks.py).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import sys
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from .. import atomic
from ..errors import DataUnavailable

Progress = Callable[[str, int, "int | None"], None]
CHUNK = 1 << 16
TIMEOUT_S = 60
MAX_BYTES = 512 << 20  # no published file is near this: a server sending more is refused, not stored


class FetchFailed(Exception):
    """The URL could not be read (no network, refused, HTTP error); the message says why."""


class DownloadStopped(Exception):
    """Raised by a `progress` callback to end a download because its run was stopped (engine/train/loop.py
    ends the run "stopped", not failed); nothing of the file is kept."""


# The progress of downloads started on this thread (a context variable: a thread started meanwhile does not
# inherit it, so a preview on another thread never reports into a run's stream).
_reporter: ContextVar[Progress | None] = ContextVar("layerloom_download_progress", default=None)


@contextmanager
def reporting(progress: Progress) -> Iterator[None]:
    """Downloads started inside the `with` (by a loader deep inside train → prepare → load_dataset) report
    to `progress` instead of the terminal's line: no callback threaded through every layer in between."""
    token = _reporter.set(progress)
    try:
        yield
    finally:
        _reporter.reset(token)


def run_progress() -> Progress | None:
    """`reporting`'s callback when one is active on this thread (a run in the training worker), else None: a
    library that draws its own terminal bars (Hugging Face datasets) is then left to them."""
    return _reporter.get()


def default_progress() -> Progress:
    """Where a download reports when its caller named nowhere: `reporting`'s callback, else the terminal."""
    return _reporter.get() or TerminalProgress()


def cache_folder(name: str) -> Path:
    """Where dataset `name` is kept once downloaded: `datasets/<name>` in Layerloom's user data folder."""
    from ..runs import user_data_dir

    return user_data_dir() / "datasets" / name


def open_url(url: str, timeout: float = TIMEOUT_S):
    """A readable response for `url` (with `.headers`); the one place the network is touched."""
    request = urllib.request.Request(url, headers={"User-Agent": "layerloom"})
    return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 — fixed https/http URLs of publishers


def fetch(url: str, target: Path, md5: str, progress: Progress | None = None) -> Path:
    """Download `url` to `target` unless it is already there; raises FetchFailed when the URL cannot be read
    and DataUnavailable when what arrived — or the copy already there — is not the published file (its MD5
    differs)."""
    if target.is_file():
        if (found := file_md5(target)) != md5:
            raise DataUnavailable(f"{target}: its MD5 is {found}, not the published {md5} — the file is damaged "
                                  "or not the published one; delete it and download it again")
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    name = target.name
    try:
        response = open_url(url)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise FetchFailed(_reason(exc)) from None
    with response:
        length = response.headers.get("Content-Length") if getattr(response, "headers", None) else None
        total = int(length) if length and str(length).isdigit() else None
        digest = hashlib.md5(usedforsecurity=False)

        def write(handle) -> None:
            done = 0
            if progress:
                progress(name, 0, total)
            while chunk := _read(response, url):
                done += len(chunk)
                if done > MAX_BYTES:
                    raise DataUnavailable(f"{url}: sent more than {MAX_BYTES >> 20} MiB, far more than the "
                                          "published file — refused")
                digest.update(chunk)
                handle.write(chunk)
                if progress:
                    progress(name, done, total)
            if digest.hexdigest() != md5:
                raise DataUnavailable(f"{url}: the download's MD5 is {digest.hexdigest()}, not the published {md5} "
                                      f"— it was cut short or changed on the way; nothing was kept in "
                                      f"{target.parent}, try again")

        atomic.atomic_write(target, write)
    return target


def file_md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _read(response, url: str) -> bytes:
    try:
        return response.read(CHUNK)
    except OSError as exc:  # the connection dropped mid-way
        raise FetchFailed(_reason(exc)) from None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    reason = getattr(exc, "reason", None) or exc
    return str(reason) or type(exc).__name__


def unpack(archive: Path, folder: str, into: Path) -> Path:
    """Extract `archive` (a .tar.gz) and move its top folder `folder` to `into/folder`, whole or not at all."""
    target = into / folder
    if target.is_dir():
        return target
    temp = into / f".{folder}.{os.getpid()}-{secrets.token_hex(4)}.unpacking"
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(temp, filter="data")  # refuses absolute paths, "..", links out, devices
        if not (temp / folder).is_dir():
            raise DataUnavailable(f"{archive}: holds no folder {folder!r} — not the published archive; delete it "
                                  "and download it again")
        try:
            os.replace(temp / folder, target)
        except OSError:
            if not target.is_dir():  # else another process unpacked it first
                raise
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DataUnavailable(f"{archive}: cannot be unpacked ({exc}) — delete it and download it again") from None
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return target


class TerminalProgress:
    """A progress line on stderr: rewritten in place on a terminal, else one line when a download starts
    and one when it ends (a log is not flooded)."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.last = 0.0

    def __call__(self, name: str, done: int, total: int | None) -> None:
        tty = getattr(self.stream, "isatty", lambda: False)()
        size = f"{_mb(done)} of {_mb(total)}" if total else _mb(done)
        if done == 0:
            self.stream.write(f"downloading {name}" + (f" ({_mb(total)})" if total else "") + ("" if tty else "…\n"))
        elif tty and (time.monotonic() - self.last > 0.2 or done == total):
            self.last = time.monotonic()
            self.stream.write(f"\rdownloading {name}: {size}" + (f" ({100 * done // total} %)" if total else ""))
        if total and done == total:
            self.stream.write("\n" if tty else f"downloaded {name} ({size})\n")
        self.stream.flush()


def _mb(size: int | None) -> str:
    return f"{(size or 0) / 1e6:.1f} MB"
