"""A Hugging Face dataset's Image column as an image source: each image decoded, converted and resized as an
image folder's files are (images.py: `image_size` [H, W], default [32, 32]; `grayscale`), its class from the
`label` column (a ClassLabel keeps its class names in order; other values become classes as a table's labels
do). Rows without a label are left out and said so; a row whose image Pillow cannot read is an error naming it.
Each validation image keeps its row (`DataSplit.val_source`: "row 17" is `ds[17]`), so a mistake names it.

The column is read as stored (`{"bytes", "path"}` per row, the library's `Image(decode=False)` form), never
through the library's own decoding, so the one reader (engine/preprocessing.read_image) decides sizes, modes
and what is too large to decode safely. A dataset whose decoded images do not fit where the run keeps its data
(`Options.in_memory`) is read lazily: x holds row indices and `HfImages` decodes a batch's rows when the
DataLoader asks, as an image folder's files are.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..preprocessing import ImageTooLarge, read_image
from .images import ImageFiles, ImageReader, conversion_notes, image_header
from .options import Options
from .split import DataSplit, SourceRows, assemble, split_arrays
from .table_source import _class_names
from .tables import is_missing

CHUNK = 256  # rows read from the Arrow table at a time


def image_split(opts: Options, seed: int, dataset, column: str, label: str, shown: str,
                names: list[str] | None) -> DataSplit:
    from .parquet_cells import table_cells

    height, width = opts.ints("image_size", [32, 32], 2, 1, 4096)
    channels = 1 if opts.boolean("grayscale", False) else 3
    arrow = dataset.with_format("arrow")
    kind = dataset.features[column]
    if type(kind).__name__ != "Image":
        raise DataError(f"{shown}: column {column!r} holds {kind} values, not images — 'image' names an Image column")
    _, cells = table_cells(arrow[:].select([label]), shown)
    texts = [("" if c in ("", "-1") else names[int(c)]) if names else c.strip() for c in cells[label]]
    keep = np.array([i for i, text in enumerate(texts) if not is_missing(text)], dtype=np.int64)
    if not len(keep):
        raise DataError(f"{shown}: no row has a {label!r} (the label)")
    classes = names or _class_names([texts[i] for i in keep])
    index = {name: i for i, name in enumerate(classes)}
    y = np.array([index[texts[i]] for i in keep], dtype=np.int64)
    reader = HfImages(arrow, column, shown, (height, width), channels)
    headers = [reader.header(int(row), cell) for row, cell in reader.cells(keep)]
    lazy = not opts.in_memory(len(keep) * channels * height * width * 4)  # float32 once decoded
    x = keep if lazy else np.concatenate([reader.decode(keep[i:i + CHUNK]) for i in range(0, len(keep), CHUNK)])
    (train_idx, y_train), (val_idx, y_val) = split_arrays(opts, np.arange(len(y)), y, seed, stratify=True)
    raw = {"kind": "image", "size": [height, width], "channels": channels, "scale": 1 / 255}
    split = assemble(opts, (x[train_idx], y_train), (x[val_idx], y_val), task="classification",
                     num_classes=len(classes), class_names=classes, raw=raw, lazy=reader if lazy else None)
    split.val_source = SourceRows([f"row {keep[i]}" for i in val_idx], {})  # a mistake is named by its row
    split.notes += conversion_notes(headers, (height, width), channels)
    if len(keep) < len(texts):
        split.notes.append(f"{len(texts) - len(keep)} rows have no {label!r} (the label) and were left out")
    return split


class HfImages(ImageReader):
    """Rows of an Image column → (N, C, H, W) float32 in [0, 1]. Holds the library's memory-mapped dataset, which
    pickles as a reference to its files, so it is cheap to send to DataLoader workers."""

    def __init__(self, arrow, column: str, shown: str, size: tuple[int, int], channels: int):
        super().__init__(size, channels)
        self.arrow, self.column, self.shown = arrow, column, shown

    def cells(self, rows: np.ndarray):
        """(row, stored cell) for `rows`, read a chunk at a time."""
        for start in range(0, len(rows), CHUNK):
            part = rows[start:start + CHUNK]
            yield from zip(part, self.arrow[part.tolist()].column(self.column).to_pylist(), strict=True)

    def header(self, row: int, cell) -> tuple[tuple[int, int], str]:
        found = image_header(self._source(row, cell))
        if found is None:
            raise self._unreadable(row)
        return found

    def decode(self, rows: np.ndarray) -> np.ndarray:
        images = []
        for row, cell in self.cells(np.asarray(rows, dtype=np.int64)):
            try:
                image = read_image(self._source(int(row), cell), self.size, self.channels)
            except ImageTooLarge as exc:
                raise DataError(f"{self.shown}: row {row}, column {self.column!r}: "
                                f"{str(exc).split(': ', 1)[-1]}") from None
            if image is None:
                raise self._unreadable(int(row))
            images.append(image)
        return self.scale(np.stack(images))

    def dataset(self, rows: np.ndarray, labels: np.ndarray, mean: np.ndarray | None,
                std: np.ndarray | None) -> ImageFiles:
        return ImageFiles(self, rows, labels, mean, std)

    def _source(self, row: int, cell):
        """What Pillow opens for a stored cell: its bytes, else the file it names."""
        if isinstance(cell, dict) and cell.get("bytes"):
            return io.BytesIO(cell["bytes"])
        if isinstance(cell, dict) and cell.get("path"):
            return Path(cell["path"])
        raise DataError(f"{self.shown}: row {row}, column {self.column!r}: holds no image")

    def _unreadable(self, row: int) -> DataError:
        return DataError(f"{self.shown}: row {row}, column {self.column!r}: not an image Pillow can read — fix or "
                         "drop that row")
