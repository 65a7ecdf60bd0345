"""Where an ExportedProgram comes from: a `.pt2` file written by `torch.export.save`, or a callable
the user names (`torchvision.models:resnet18`) that returns an `nn.Module`, traced here.

A `.pt2` archive holds pickled tensors; torch's own loader falls back to a full unpickler when the
safe one refuses, so it is read with `TORCH_FORCE_WEIGHTS_ONLY_LOAD` set: anything but tensors and
plain containers is refused, never executed. A factory is code the user chose to run, named by them
on their own machine — the same trust as `python -c "import torchvision"`.

Tracing uses `torch.export` at the training-IR level (ATen ops, each tagged with the module calls
it sits in: `nn_module_stack`), with a symbolic batch axis so reshapes that read the batch size stay
general.
"""

from __future__ import annotations

import importlib
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import OnnxImportError, OnnxUnreadable

if TYPE_CHECKING:
    import torch

DEFAULT_BATCH = 2  # the example batch a factory's model is traced with (the batch axis stays symbolic)
EXTRAS = {"torchvision": "torchvision", "timm": "timm", "transformers": "transformers"}  # package → pip extra


class PytorchImportError(OnnxImportError):
    """A PyTorch model that cannot become a graph (exit 1), naming what and why."""


class PytorchUnreadable(OnnxUnreadable):
    """A `.pt2` file or a factory that cannot be read or called at all (exit 2)."""


@contextmanager
def _weights_only_loads():
    saved = {key: os.environ.get(key) for key in ("TORCH_FORCE_WEIGHTS_ONLY_LOAD", "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")}
    os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = "1"
    os.environ.pop("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", None)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def load_pt2(path: str | Path) -> torch.export.ExportedProgram:
    """The ExportedProgram in `path` (written by torch.export.save), read without a general unpickler."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise PytorchUnreadable(f"{path}: no such file")
    try:
        with _weights_only_loads():
            return torch.export.load(path)
    except Exception as exc:  # a damaged archive, another torch's format, or an object the safe loader refuses
        raise PytorchUnreadable(f"{path}: not an ExportedProgram this torch can read safely "
                                f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None


def call_factory(spec: str, kwargs_json: str | None = None) -> torch.nn.Module:
    """The module `package.module:callable(**kwargs)` returns; says which extra to install when missing."""
    import torch

    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise PytorchUnreadable(f"--factory {spec!r}: expected MODULE:CALLABLE, e.g. torchvision.models:resnet18")
    try:
        kwargs = json.loads(kwargs_json) if kwargs_json else {}
    except json.JSONDecodeError as exc:
        raise PytorchUnreadable(f"--kwargs: not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(kwargs, dict):
        raise PytorchUnreadable(f"--kwargs: expected a JSON object of keyword arguments, got {kwargs_json}")
    try:
        factory = importlib.import_module(module_name)
    except ImportError as exc:
        top = module_name.split(".")[0]
        hint = (f" — install it with: pip install -e '.[models]' (it brings {EXTRAS[top]})" if top in EXTRAS
                else "")
        raise PytorchUnreadable(f"--factory {spec}: cannot import {module_name} ({exc}){hint}") from None
    for part in attribute.split("."):
        factory = getattr(factory, part, None)
        if factory is None:
            raise PytorchUnreadable(f"--factory {spec}: {module_name} has no {attribute}")
    try:
        module = factory(**kwargs)
    except Exception as exc:
        raise PytorchUnreadable(f"--factory {spec}: calling it failed: {type(exc).__name__}: {exc}") from None
    if not isinstance(module, torch.nn.Module):
        raise PytorchUnreadable(f"--factory {spec}: returned {type(module).__name__}, not a torch.nn.Module")
    return module


def trace(module: torch.nn.Module, input_shapes: list[tuple[int, ...]],
          dtypes: list[str] | None = None) -> torch.export.ExportedProgram:
    """`module` in eval mode traced by torch.export on random inputs of these per-sample shapes (ids,
    when a dtype is int64, are drawn below 2), the batch axis symbolic."""
    import torch
    from torch.export import Dim

    dtypes = dtypes or ["float32"] * len(input_shapes)
    args = tuple(torch.randint(0, 2, (DEFAULT_BATCH, *shape)) if dtype == "int64"
                 else torch.randn(DEFAULT_BATCH, *shape) for shape, dtype in zip(input_shapes, dtypes, strict=True))
    batch = Dim("batch", min=1, max=1 << 20)
    dynamic = tuple({0: batch} for _ in args)
    try:
        return torch.export.export(module.eval(), args, dynamic_shapes=dynamic, strict=False)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PytorchImportError(f"torch.export could not trace the model on inputs of shape "
                                 f"{', '.join(str((DEFAULT_BATCH, *s)) for s in input_shapes)}: {first}") from None


INPUT_DTYPES = ("float32", "int64")


def input_spec(text: str) -> tuple[tuple[int, ...], str]:
    """One input's per-sample shape and element type as a user writes it: `3,224,224` (float32) or `8:int64`
    (token ids)."""
    sizes, _, dtype = text.partition(":")
    dtype = dtype.strip() or "float32"
    try:
        shape = tuple(int(part) for part in sizes.replace("x", ",").split(",") if part.strip())
    except ValueError:
        shape = ()
    if not shape or any(size < 1 for size in shape) or dtype not in INPUT_DTYPES:
        raise PytorchUnreadable(f"input shape {text!r}: expected sizes like 3,224,224 (one sample, no batch), "
                                f"optionally with a type: 8:int64 for token ids ({' or '.join(INPUT_DTYPES)})")
    return shape, dtype
