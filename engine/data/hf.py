"""A Hugging Face `datasets` dataset: a folder saved with `save_to_disk`, or a dataset named on the hub.

    {"name": "hf_dataset", "path": "data/churn_hf", "label": "churn"}                  # a table
    {"name": "hf_dataset", "hub": "owner/name", "split": "train", "image": "img", "label": "label"}
    {"name": "hf_dataset", "path": "data/stories_hf", "text": "story", "block_size": 64}

Read through the `datasets` library (the optional extra layerloom[hf]; without it the source is refused
saying so): `path` with `load_from_disk` (a `Dataset`, or a `DatasetDict` of splits), `hub` with
`load_dataset(hub, config, split=…)`, downloaded once into the library's own cache (its progress bars on
stderr; in a run of the app's worker its bytes also report as the run's download events — the progress dialog —
and Stop ends the download: engine/download_watch.py). A preview never downloads: a hub dataset not in that
cache yet is unavailable until a run fetches it. `split` picks one split of a `DatasetDict` (default "train",
or its only split); the validation part is then held out of it by `val_split`, as for every source. Rows are
named by their index in that split ("row 0" is `ds[0]`).

Which columns feed the model:
    table (default)  `label` (default: the ClassLabel column, else one named "label", else the last) and
                     `features` (default: every other column holding numbers or text) go through the
                     CSV/Parquet table encoding (table_source.py: categories, yes/no, empty cells, `encode`,
                     `missing`, `task`); a ClassLabel column's cells are its class names, and a ClassLabel
                     label keeps its classes in their order (so class i is the dataset's label i); a table
                     larger than the memory budget is streamed as a large Parquet table is (hf_table.py)
    `image`          an Image column, resized and converted as an image folder's files are (hf_images.py:
                     `image_size`, `grayscale`), with `label` its class
    `text`           a text column, its rows joined by newlines, for next-token prediction as the text source
                     (text.py: `block_size`, `stride`, `tokenizer`, `vocab_size`, `tokenizer_file`)
A model trained on a table exports like a CSV table's (predict reads CSV/Parquet rows), one trained on
images takes pictures, one trained on text a prompt.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

from ..download_watch import watching
from ..errors import DataError, DataUnavailable
from .download import DownloadStopped, run_progress
from .options import Options
from .split import DataSplit

EXTRA = "hf"
MISSING_LIBRARY = (f"install layerloom[{EXTRA}] to read Hugging Face datasets "
                   f"(pip install 'layerloom[{EXTRA}]': the `datasets` library)")
DEFAULT_SPLIT = "train"
UNREACHABLE = ("OfflineModeIsEnabled", "ConnectTimeout", "ConnectError")  # the hub client's, by name


def load_hf(opts: Options, seed: int) -> DataSplit:
    hf = library(opts.name)
    dataset, shown = open_dataset(opts, hf)
    image, text = opts.text("image", None), opts.text("text", None)
    columns = list(dataset.column_names)
    for key, column in (("image", image), ("text", text)):
        if column is not None and column not in columns:
            raise DataError(f"{shown}: no column {column!r} (columns: {', '.join(columns)}) — set {key!r} to one")
    if image and text:
        raise opts.error("text", f"and 'image' ({image!r}) cannot both be set — the model reads one kind of input")
    if (image or text) and "features" in opts.config:
        raise opts.error("features", f"applies to a table — with {'image' if image else 'text'!r} set, that column is "
                                     "the input; remove one of them")
    if text:
        return _text(opts, dataset, text, shown, hf)
    label = opts.text("label", None) or default_label(dataset, hf)
    if label is not None and label not in columns:
        raise DataError(f"{shown}: no column {label!r} (columns: {', '.join(columns)}) — set 'label' to one")
    from .hf_table import class_labels, table_split

    if image:
        if label is None:
            raise opts.error("label", f"is required with 'image' — name the column holding each image's class "
                                      f"(columns: {', '.join(columns)})")
        from .hf_images import image_split

        return image_split(opts, seed, dataset, image, label, shown, class_labels(dataset, label, hf))
    return table_split(opts, seed, dataset, label, shown, hf)


def library(name: str):
    """The `datasets` module, or a DataError saying which extra installs it."""
    try:
        import datasets
    except ImportError:
        raise DataError(f"dataset {name!r}: {MISSING_LIBRARY}") from None
    return datasets


def open_dataset(opts: Options, hf) -> tuple[object, str]:
    """The one split to read (a `datasets.Dataset`) and how errors name it."""
    local, hub = opts.text("path", None), opts.text("hub", None)
    config, split = opts.text("config", None), opts.text("split", None)
    if bool(local) == bool(hub):
        raise DataError(f"dataset {opts.name!r}: set \"path\" (a folder saved with Dataset.save_to_disk) or \"hub\" "
                        "(a dataset on the Hugging Face hub, \"owner/name\") — one of them")
    if hub:
        found = _from_hub(hf, hub, config, split or DEFAULT_SPLIT, opts.fetch)
        return found, f"{hub} ({split or DEFAULT_SPLIT})"
    if config is not None:
        raise opts.error("config", "applies to a hub dataset only — a folder saved with save_to_disk holds its own")
    path, shown = opts.path(), local
    try:
        found = hf.load_from_disk(str(path))
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"{shown}: not a dataset saved with save_to_disk ({_first_line(exc)})") from None
    if isinstance(found, hf.DatasetDict):
        names = list(found)
        chosen = split or (DEFAULT_SPLIT if DEFAULT_SPLIT in found or len(names) != 1 else names[0])
        if chosen not in found:
            raise DataError(f"{shown}: no split {chosen!r} (splits: {', '.join(names)}) — set \"split\" to one")
        return found[chosen], f"{shown} ({chosen})"
    if split is not None:
        raise opts.error("split", f"applies to a DatasetDict — {shown} holds one dataset; remove it")
    return found, shown


def _from_hub(hf, hub: str, config: str | None, split: str, fetch: bool):
    """`load_dataset` through the library's cache; offline (the cache only) when `fetch` is false."""
    progress = run_progress() if fetch else None
    stopped: list[DownloadStopped] = []

    def report(file: str, done: int, total: int | None) -> None:
        try:
            progress(file, done, total)
        except DownloadStopped as exc:  # Stop pressed: raised inside the library's download loop, which gives up
            stopped.append(exc)
            raise

    try:
        with _offline(hf, not fetch), watching(report) if progress else nullcontext():
            return hf.load_dataset(hub, config, split=split)
    except Exception as exc:  # the library raises many kinds (hub errors, ValueError, ConnectionError…): all named
        if stopped:  # however the library wrapped it: the run ends stopped, as for a benchmark set
            raise stopped[0] from None
        message = _first_line(exc)
        if not fetch:
            raise DataUnavailable(f"{hub}: not in the Hugging Face datasets cache yet ({message}) — a run downloads "
                                  "it once; a preview never does") from None
        if isinstance(exc, (ConnectionError, TimeoutError)) or type(exc).__name__ in UNREACHABLE:
            raise DataUnavailable(f"{hub}: cannot reach the Hugging Face hub and the dataset is not in its cache "
                                  f"({message}) — connect once, or save it with save_to_disk and set \"path\"") \
                from None
        raise DataError(f"{hub}: the datasets library cannot load it ({message})") from None


@contextmanager
def _offline(hf, offline: bool) -> Iterator[None]:
    """The library and the hub client in offline mode for the duration (they read these flags on each call)."""
    if not offline:
        yield
        return
    from huggingface_hub import constants

    saved = hf.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE
    hf.config.HF_HUB_OFFLINE = constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        hf.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE = saved


def default_label(dataset, hf) -> str | None:
    """The label column when none is named: the first ClassLabel column, else one named "label" or "labels"."""
    features = dataset.features
    found = next((name for name, kind in features.items() if isinstance(kind, hf.ClassLabel)), None)
    return found or next((name for name in ("label", "labels") if name in features), None)


def _text(opts: Options, dataset, column: str, shown: str, hf) -> DataSplit:
    from .text import text_split

    if "label" in opts.config:
        raise opts.error("label", f"does not apply with 'text' ({column!r}): a text column trains next-token "
                                  "prediction, its own next tokens are the targets; remove it")
    kind = dataset.features[column]
    if not (isinstance(kind, hf.Value) and kind.dtype in ("string", "large_string")):
        raise DataError(f"{shown}: column {column!r} holds {kind} values, not text — 'text' names a column of strings")
    rows = dataset.with_format("arrow")[:].column(column).to_pylist()
    text = "\n".join(row for row in rows if row)
    if not text:
        raise DataError(f"{shown}: column {column!r} holds no text")
    return text_split(opts, text, f"{shown}, column {column!r}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
