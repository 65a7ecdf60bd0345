"""The published file formats of the benchmark image sets, read with numpy alone (never pickle).

IDX (MNIST, Fashion-MNIST; gzipped or not): a 4-byte magic number — two zero bytes, the element type
(0x08: unsigned byte) and the number of dimensions — then each dimension as a big-endian int32, then
the values. Images are (N, 28, 28), labels (N,).

CIFAR binary: fixed-size records, `label_bytes` label bytes (CIFAR-10: the class; CIFAR-100: the
coarse class, then the fine one) followed by 3072 pixel bytes — the red 32 × 32 plane, then green,
then blue, each row by row — so a file's records reshape straight to (N, 3, 32, 32).

A file that does not hold what its format promises (a wrong magic number, dimensions other than the
expected ones, fewer or more bytes than the header declares, a size that is not a whole number of
records, a label past the classes) is refused naming it: a truncated or damaged download, or the wrong
file. The header is checked before anything is allocated for the data, so a damaged header cannot
ask for gigabytes.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataUnavailable

IDX_UBYTE = 0x08
CHUNK = 1 << 20  # bytes read at a time
CIFAR_PIXELS = 3 * 32 * 32


def damaged(path: Path, problem: str) -> DataUnavailable:
    return DataUnavailable(f"{path}: {problem} — the file is damaged, truncated or not the published one; "
                           "delete it and download it again")


def idx_file(folder: Path, name: str) -> Path | None:
    """`name` in `folder`, unpacked or gzipped (`name.gz`), whichever is there (the unpacked one first)."""
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def read_idx(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """The uint8 array in IDX file `path`, which must hold N samples of `shape` (() for labels)."""
    try:
        with (gzip.open(path, "rb") if _gzipped(path) else open(path, "rb")) as handle:
            header = _read(handle, 4, path)
            if len(header) < 4 or header[:2] != b"\0\0" or header[2] != IDX_UBYTE or header[3] != len(shape) + 1:
                raise damaged(path, f"the magic number is {header.hex() or 'missing'}, not an IDX file of unsigned "
                                    f"bytes in {len(shape) + 1} dimensions (0000080{len(shape) + 1})")
            raw_dims = _read(handle, 4 * (len(shape) + 1), path)
            if len(raw_dims) < 4 * (len(shape) + 1):
                raise damaged(path, "the header ends before its dimensions")
            count, *dims = (int(d) for d in np.frombuffer(raw_dims, dtype=">u4"))
            if tuple(dims) != shape:
                raise damaged(path, f"it holds samples of {' × '.join(map(str, dims))}, not "
                                    f"{' × '.join(map(str, shape)) or 'single labels'}")
            size = count * int(np.prod(shape, dtype=np.int64))
            data = _read(handle, size + 1, path)
    except OSError as exc:  # gzip.BadGzipFile included
        raise damaged(path, f"cannot be read ({exc})") from None
    if len(data) != size:
        raise damaged(path, f"its header declares {count:,} samples ({size:,} bytes of data), but it holds "
                            f"{'more' if len(data) > size else f'{len(data):,} bytes'}")
    return np.frombuffer(data, dtype=np.uint8).reshape(count, *shape)


def _gzipped(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def _read(handle, size: int, path: Path) -> bytes:
    """Up to `size` bytes, read a chunk at a time: a damaged length allocates only what the file holds."""
    parts, left = [], size
    try:
        while left > 0 and (part := handle.read(min(CHUNK, left))):
            parts.append(part)
            left -= len(part)
    except (EOFError, zlib.error) as exc:  # a gzip stream cut short or corrupted
        raise damaged(path, f"its compressed data is damaged ({exc})") from None
    return b"".join(parts)


def read_cifar(path: Path, label_bytes: int, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 (N, 3, 32, 32) and labels (N, label_bytes) of a CIFAR binary file."""
    record = label_bytes + CIFAR_PIXELS
    try:
        size = path.stat().st_size
        if size == 0 or size % record:
            raise damaged(path, f"its {size:,} bytes are not a whole number of {record:,}-byte records "
                                f"({label_bytes} label byte{'s' if label_bytes > 1 else ''} + {CIFAR_PIXELS} pixels)")
        data = np.fromfile(path, dtype=np.uint8).reshape(-1, record)
    except OSError as exc:
        raise damaged(path, f"cannot be read ({exc.strerror or exc})") from None
    labels = data[:, :label_bytes]
    if labels[:, -1].max() >= classes:
        bad = int(np.argmax(labels[:, -1] >= classes))
        raise damaged(path, f"record {bad} has label {int(labels[bad, -1])}, past the {classes} classes")
    return data[:, label_bytes:].reshape(-1, 3, 32, 32), labels


def read_names(path: Path, count: int) -> list[str] | None:
    """The class names listed one a line in `path` (blank lines ignored), None when there is no such file;
    refused naming it when it does not list exactly `count`."""
    if not path.is_file():
        return None
    try:
        names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise damaged(path, f"cannot be read as text ({exc})") from None
    if len(names) != count:
        raise damaged(path, f"lists {len(names)} class names, not {count}")
    return names
