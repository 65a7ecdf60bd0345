"""Standalone PyTorch code: a readable `nn.Module` file that needs torch and nothing of Layerloom.

The inference module is re-traced with torch.fx down to torch.nn's own layers, so the custom
modules behind node types (attention, positional encoding, plumbing) are inlined and `forward` is
fx's generated code, each line naming the node it came from (`conv1 = self.conv1(input1)`).
`__init__` rebuilds each torch.nn layer from its repr (`nn.Conv2d(1, 16, kernel_size=(3, 3), …)`),
which for torch.nn's leaf layers is the constructor call. The weights go next to the code as
`<name>.safetensors` (non-persistent buffers included), loaded by the file's `load()`. The code is
parsed before it is written, so an export never leaves a `.py` that Python cannot read.
"""

from __future__ import annotations

import ast
import keyword
import re
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.fx as fx
from safetensors.torch import save_file

from ..document import GraphDocument
from ..errors import ExportError
from ..fileformat import atomic_write_text
from .weights import inference_graph

# Names fx's generated code may use, and the import lines that provide them.
KNOWN_GLOBALS = {
    "torch": "import torch",
    "device": "from torch import device",
    "inf": "from math import inf",
    "nan": "from math import nan",
    "NoneType": "NoneType = type(None)",
    "operator": "import operator",
    "getattr": None,  # a builtin
}


@dataclass
class PythonExport:
    code_path: Path
    weights_path: Path
    class_name: str


class _TorchLeafTracer(fx.Tracer):
    """Traces through every module that is not one of torch.nn's own layers.

    An op traced inside a node's module takes that node's id as its name (`relu1 = torch.relu(bn1)`,
    not fx's `relu = …`), so every line of the generated forward names the node the user drew.
    """

    proxy_buffer_attributes = True

    def create_node(self, kind, target, args, kwargs, name=None, type_expr=None):
        if kind in ("call_function", "call_method"):
            name = self._enclosing_node_id() or name  # fx's hint is the op's name (`relu`), not the node's
        return super().create_node(kind, target, args, kwargs, name, type_expr)

    def _enclosing_node_id(self) -> str | None:
        """The top-level submodule (a graph node) being traced through, if any."""
        for qualified_name, _ in self.module_stack.values():
            node_id = qualified_name.split(".", 1)[0]
            if node_id:
                return node_id
        return None

    def is_leaf_module(self, module: torch.nn.Module, qualified_name: str) -> bool:
        return type(module).__module__.startswith("torch.nn.modules") and not isinstance(
            module, (torch.nn.Sequential, torch.nn.ModuleList, torch.nn.ModuleDict))


def export_python(doc: GraphDocument, path: str | Path, *, weights: str | Path | None = None,
                  class_name: str | None = None) -> PythonExport:
    """Write `path` (the module's code) and `path.with_suffix('.safetensors')` (its weights)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    root = inference_graph(doc, weights).module
    try:
        graph = _TorchLeafTracer().trace(root)
    except Exception as exc:  # noqa: BLE001 — name the node whose module cannot be traced
        raise ExportError(f"cannot write Python code: {exc}") from exc
    traced = fx.GraphModule(root, graph)
    class_name = class_name or _class_name(doc.name)
    code = _render(doc, traced, graph, class_name)
    _require_parseable(code, path)
    weights_path = path.with_suffix(".safetensors")
    state = {name: tensor.detach().contiguous().clone() for name, tensor in _all_tensors(traced).items()}
    save_file(state, str(weights_path))
    atomic_write_text(path, code)
    return PythonExport(path, weights_path, class_name)


def _class_name(name: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", name)
    candidate = "".join(w[:1].upper() + w[1:] for w in words) or "Model"
    candidate = candidate if candidate[0].isalpha() else f"Model{candidate}"
    return f"{candidate}Model" if keyword.iskeyword(candidate) else candidate  # a graph named "none"


def _all_tensors(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Parameters and every buffer, persistent or not (the generated module saves them all)."""
    return {**dict(module.named_parameters()), **dict(module.named_buffers())}


def _render(doc: GraphDocument, traced: fx.GraphModule, graph: fx.Graph, class_name: str) -> str:
    python = graph.python_code(root_module="self")
    forward = "\n".join(line.rstrip() for line in python.src.strip().splitlines())
    imports = ["from pathlib import Path", ""]
    for name in sorted(python.globals):
        if re.search(rf"\b{re.escape(name)}\b", forward):
            if name not in KNOWN_GLOBALS:
                raise ExportError(f"cannot write Python code: the traced forward uses {name!r}")
            if KNOWN_GLOBALS[name]:
                imports.append(KNOWN_GLOBALS[name])
    imports += ["from safetensors.torch import load_file", "from torch import nn"]
    init = _init_lines(traced, graph)
    body = "\n".join("        " + line for line in init) if init else "        pass"
    forward = "\n".join("    " + line if line else "" for line in forward.splitlines())
    about = _docstring_safe(f"{doc.name}: {doc.description}" if doc.description else doc.name)
    return f'''"""{class_name}: generated by Layerloom from the graph {about}.

Standalone: needs torch and safetensors only. `load()` builds the model and reads the weights
saved beside this file (same name, .safetensors).
"""

{chr(10).join(dict.fromkeys(imports))}


class {class_name}(nn.Module):
    def __init__(self):
        super().__init__()
{body}

{forward}


def load(weights_path=None) -> {class_name}:
    """The model in eval mode with its trained weights (default: the .safetensors beside this file)."""
    model = {class_name}()
    path = Path(weights_path) if weights_path else Path(__file__).with_suffix(".safetensors")
    model.load_state_dict(load_file(str(path)))
    return model.eval()
'''


def _docstring_safe(text: str) -> str:
    """`repr(text)` written so that a docstring reads it back verbatim: repr shows control characters
    and lone surrogates as escapes, whose backslashes are escaped again, and three double quotes in a
    row are broken up so they cannot close the docstring (a full stop, never a quote, follows the text)."""
    return repr(text).replace("\\", "\\\\").replace('"""', '""\\"')


def _require_parseable(code: str, path: Path) -> None:
    try:
        ast.parse(code, str(path))
    except (SyntaxError, ValueError) as exc:  # ValueError: a NUL in the source
        raise ExportError(f"cannot write Python code: the generated {path.name} does not parse ({exc}) — "
                          "please report this as a Layerloom bug") from None


def _init_lines(traced: fx.GraphModule, graph: fx.Graph) -> list[str]:
    """Constructor lines for every layer, parameter and buffer the traced forward touches."""
    lines: list[str] = []
    containers: set[str] = set()

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
            lines.append(_assign(node.target, _constructor(node.target, traced.get_submodule(node.target))))
        elif node.op == "get_attr":
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
