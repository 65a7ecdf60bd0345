"""`__init__` lines of the exported code: torch.nn layers rebuilt from their reprs, parameters and buffers.

`__init__` rebuilds each torch.nn layer from its repr (`nn.Conv2d(1, 16, kernel_size=(3, 3), …)`),
which for torch.nn's leaf layers is the constructor call, completed with the settings a repr leaves
out; parameters and buffers are declared empty, to be filled by `load_state_dict`.
"""

from __future__ import annotations

import ast
from collections.abc import Callable

import torch
import torch.fx as fx

from ..errors import ExportError


def init_lines(traced: fx.GraphModule, graph: fx.Graph, blocks: Callable[[torch.nn.Module], str | None]) -> list[str]:
    """`__init__` lines for every layer, parameter and buffer the traced forward touches; a block's
    module is made by the call `blocks` gives for it (`Encoder()`)."""
    lines: list[str] = []
    containers: set[str] = set()
    # a layer's own tensor read elsewhere (a tied weight, `F.linear(x, self.tok.weight)`) comes with the layer
    called = {node.target for node in graph.nodes if node.op == "call_module"}

    def ensure_parents(target: str) -> None:
        parts = target.split(".")[:-1]
        for i in range(1, len(parts) + 1):
            prefix = ".".join(parts[:i])
            if prefix not in containers:
                containers.add(prefix)
                lines.append(_assign(prefix, "nn.Module()"))

    for node in graph.nodes:
        if node.op == "call_module":
            ensure_parents(node.target)
            module = traced.get_submodule(node.target)
            lines.append(_assign(node.target, blocks(module) or _constructor(node.target, module)))
        elif node.op == "get_attr" and node.target.rpartition(".")[0] not in called:
            ensure_parents(node.target)
            tensor = _lookup(traced, node.target)
            empty = f"torch.empty({tuple(tensor.shape)}, dtype={tensor.dtype})"
            if isinstance(tensor, torch.nn.Parameter):
                lines.append(_assign(node.target, f"nn.Parameter({empty})"))
            else:
                parent, _, name = node.target.rpartition(".")
                lines.append(f"{_expr(parent)}.register_buffer({name!r}, {empty})")
    return lines


def _lookup(module: torch.nn.Module, target: str) -> torch.Tensor:
    parent, _, name = target.rpartition(".")
    return getattr(module.get_submodule(parent) if parent else module, name)


def _constructor(target: str, module: torch.nn.Module) -> str:
    """`nn.<repr>` for one of torch.nn's leaf layers, completed with the settings its repr leaves out.

    Some reprs omit constructor arguments (RNN's `nonlinearity`, AvgPool's `ceil_mode`, Upsample's
    `align_corners`), so the call is rebuilt on the meta device, and each setting that comes out
    different is added as a keyword until they all match; otherwise the export is refused rather
    than written wrong.
    """
    cls, args, kwargs = _parse_constructor(module)
    if cls is None:
        raise ExportError(f"cannot write Python code for {target} ({type(module).__name__}): "
                          "its constructor cannot be recovered from its repr")
    wanted, extra = _settings(module), {}
    for name, value in wanted.items():
        current = _rebuilt_settings(cls, args, {**kwargs, **extra})
        if current is None or current == wanted:
            break
        if current.get(name) == value:
            continue
        trial = _rebuilt_settings(cls, args, {**kwargs, **extra, name: value})
        if trial is not None and trial.get(name) == value:  # else it is no constructor argument
            extra[name] = value
    if _rebuilt_settings(cls, args, {**kwargs, **extra}) != wanted:
        raise ExportError(f"cannot write Python code for {target} ({type(module).__name__}): its settings "
                          "cannot all be passed to its constructor")
    written = f"nn.{module!r}"
    added = ", ".join(f"{name}={value!r}" for name, value in extra.items())
    return written if not added else f"{written[:-1]}{', ' if args or kwargs else ''}{added})"


def _parse_constructor(module: torch.nn.Module) -> tuple[type | None, list, dict]:
    """The class, positional and keyword arguments of the call that `nn.<repr>` spells, or None for the
    class when the repr is not one call of the module's own class with literal arguments."""
    try:
        call = ast.parse(f"nn.{module!r}", mode="eval").body
        args = [ast.literal_eval(arg) for arg in call.args]
        kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords}
        cls = getattr(torch.nn, call.func.attr)
    except (SyntaxError, ValueError, AttributeError, TypeError):
        return None, [], {}
    if cls is not type(module) or list(module.children()) or any(name is None for name in kwargs):
        return None, [], {}
    return cls, args, kwargs


def _settings(module: torch.nn.Module) -> dict:
    """A layer's plain settings (sizes, flags, modes), as set by its constructor."""
    return {name: value for name, value in vars(module).items() if not name.startswith("_") and name != "training"
            and isinstance(value, (bool, int, float, str, tuple, type(None)))}


def _rebuilt_settings(cls: type, args: list, kwargs: dict) -> dict | None:
    """The settings of `cls(*args, **kwargs)` (built on the meta device), None when it cannot be built."""
    try:
        with torch.device("meta"):
            return _settings(cls(*args, **kwargs))
    except Exception:  # noqa: BLE001 — any refusal by the constructor means "not this way"
        return None


def _expr(path: str) -> str:
    """Python expression for the submodule at dotted `path` ("" is the model itself)."""
    if not path:
        return "self"
    parts = path.split(".")
    if all(part.isidentifier() for part in parts):
        return "self." + path
    return f"self.get_submodule({path!r})"


def _assign(target: str, value: str) -> str:
    parent, _, name = target.rpartition(".")
    if name.isidentifier():
        return f"{_expr(parent)}.{name} = {value}"
    return f"{_expr(parent)}.add_module({name!r}, {value})"
