"""Published weights, fetched on this machine through the library that publishes them — so they are
downloaded once into that library's own cache and read from it afterwards, with its progress bar:

    torchvision:resnet18[:IMAGENET1K_V1]   torchvision.models.get_model_weights("resnet18"): that member, else DEFAULT
    timm:resnet18.a1_in1k                  timm.create_model(name, pretrained=True).state_dict()
    hf:google-bert/bert-base-uncased       transformers.AutoModel.from_pretrained(name).state_dict()

    fetched = fetch_state_dict("torchvision:resnet18")
    fetched.state      # {name: tensor} as the library names them (layer1.0.conv1.weight …)
    fetched.source     # what was fetched, pinned: torchvision:resnet18:IMAGENET1K_V1

The libraries are the `models` extra; without one, fetching from it is a WeightsUnavailable naming the
extra (the CLI exits 2), as is a download that fails (no network, a server error). A source that is not
written as above, or a name the library does not know, is a PublishedSourceError (exit 1). Nothing here
imports torch or a library until a fetch is asked for. `weights fetch` (engine/commands/weights.py) and
File → Fetch published weights… map the tensors onto a graph by name (engine/weights_map.py).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from .errors import WeightsError

if TYPE_CHECKING:
    import torch

EXTRA = "pip install 'layerloom[models]'"
PACKAGES = {"torchvision": "torchvision", "timm": "timm", "hf": "transformers"}  # source prefix → library
EXAMPLES = "torchvision:resnet18[:IMAGENET1K_V1], timm:resnet18.a1_in1k or hf:owner/name"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
_HF_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*/[A-Za-z0-9][A-Za-z0-9_.\-]*")
_VARIANT = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
FORMS = {"torchvision": "torchvision:MODEL[:WEIGHTS], e.g. torchvision:resnet18:IMAGENET1K_V1",
         "timm": "timm:MODEL, e.g. timm:resnet18.a1_in1k", "hf": "hf:owner/name, e.g. hf:google-bert/bert-base-uncased"}


class PublishedSourceError(WeightsError):
    """A source not written as library:name, or naming a model or weights the library does not publish."""

    exit_status = 1


class WeightsUnavailable(WeightsError):
    """The library is not installed, or its download failed: nothing to map (the CLI exits 2)."""

    exit_status = 2


@dataclass(frozen=True)
class PublishedSource:
    library: str  # torchvision | timm | hf
    name: str  # resnet18, resnet18.a1_in1k, owner/name
    variant: str = ""  # torchvision's weights enum member (IMAGENET1K_V1); "" = the library's default

    @property
    def package(self) -> str:
        return PACKAGES[self.library]

    def __str__(self) -> str:
        return f"{self.library}:{self.name}" + (f":{self.variant}" if self.variant else "")


@dataclass
class Fetched:
    state: dict[str, torch.Tensor]
    source: PublishedSource  # with the variant the library chose for a default


def parse_source(text: str) -> PublishedSource:
    """`torchvision:resnet18[:VARIANT]`, `timm:NAME` or `hf:owner/name` as a PublishedSource."""
    library, sep, rest = str(text).strip().partition(":")
    if not sep or library not in PACKAGES:
        raise PublishedSourceError(f"{text!r}: not a published-weights source — expected {EXAMPLES}")
    name, _, variant = rest.partition(":") if library == "torchvision" else (rest, "", "")
    pattern = _HF_NAME if library == "hf" else _NAME
    if not pattern.fullmatch(name) or (variant and not _VARIANT.fullmatch(variant)):
        raise PublishedSourceError(f"{text!r}: expected {FORMS[library]}")
    return PublishedSource(library, name, variant)


def fetch_state_dict(source: str | PublishedSource) -> Fetched:
    """The tensors of `source`'s published weights, through its library (downloading them into the library's
    cache the first time, with its progress bar on stderr), on the CPU and each in memory of its own."""
    source = parse_source(source) if isinstance(source, str) else source
    library = _import(source)
    fetched = FETCHERS[source.library](library, source)
    import torch

    state = {str(key): value.detach().to("cpu", copy=True).contiguous()  # tied weights: one tensor each
             for key, value in fetched.state.items() if isinstance(value, torch.Tensor)}
    if not state:
        raise PublishedSourceError(f"{source}: the library gave no tensors")
    return Fetched(state, fetched.source)


def _import(source: PublishedSource):
    try:
        return importlib.import_module("torchvision.models" if source.library == "torchvision" else source.package)
    except ImportError as exc:
        raise WeightsUnavailable(f"{source}: {source.package} is not installed ({exc}) — install the models extra: "
                                 f"{EXTRA} (or pip install {source.package})") from None
    except Exception as exc:  # installed but broken: a torchvision built for another torch fails on import
        raise WeightsUnavailable(f"{source}: {source.package} is installed but cannot be imported "
                                 f"({type(exc).__name__}: {exc}) — install one built for this torch: {EXTRA}") from None


def _downloading(source: PublishedSource, fetch: Callable[[], dict]) -> dict:
    """`fetch()`'s state_dict; a failed download (OSError: no network, a server's error) as WeightsUnavailable."""
    from .download_watch import DownloadCancelled

    try:
        return fetch()
    except DownloadCancelled:
        raise
    except OSError as exc:
        raise WeightsUnavailable(f"{source}: {source.package} could not fetch the weights: {exc} — check the network "
                                 f"connection (once downloaded they are read from {source.package}'s cache)") from None
    except Exception as exc:  # a hash mismatch, a name the library refuses at download time…
        raise PublishedSourceError(f"{source}: {source.package} refused: {type(exc).__name__}: {exc}") from None


def _torchvision(models, source: PublishedSource) -> Fetched:
    try:
        weights_enum = models.get_model_weights(source.name)
    except (ValueError, KeyError) as exc:
        raise PublishedSourceError(f"{source}: torchvision publishes no model {source.name!r} ({exc})") from None
    if source.variant:
        try:
            weights = weights_enum[source.variant]
        except KeyError:
            offered = ", ".join(member.name for member in weights_enum)
            raise PublishedSourceError(f"{source}: torchvision has no weights {source.variant!r} for {source.name} "
                                       f"— it publishes {offered}") from None
    else:
        weights = weights_enum.DEFAULT
    state = _downloading(source, lambda: weights.get_state_dict(progress=True))
    return Fetched(state, replace(source, variant=weights.name))


def _timm(timm, source: PublishedSource) -> Fetched:
    try:
        known = timm.is_model(source.name.partition(".")[0])
    except Exception:  # an older timm without is_model: let create_model say
        known = True
    if not known:
        raise PublishedSourceError(f"{source}: timm knows no model {source.name!r} (timm.list_models() lists them)")
    return Fetched(_downloading(source, lambda: timm.create_model(source.name, pretrained=True).state_dict()), source)


def _transformers(transformers, source: PublishedSource) -> Fetched:
    return Fetched(_downloading(source, lambda: transformers.AutoModel.from_pretrained(source.name).state_dict()),
                   source)


FETCHERS = {"torchvision": _torchvision, "timm": _timm, "hf": _transformers}
