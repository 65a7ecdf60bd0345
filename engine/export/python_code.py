"""Standalone PyTorch code: a readable `nn.Module` file that needs torch and nothing of Layerloom.

The inference module is rebuilt as the user drew it, one module per block instance
(`block_modules`), and each module is re-traced with torch.fx down to torch.nn's own layers, so the
custom modules behind node types (attention, positional encoding, plumbing) are inlined and each
`forward` is fx's generated code, each line naming the node it came from (`conv1 = self.conv1(input1)`);
`__init__` rebuilds the layers (`python_layers`). Each block definition becomes a class
(`class Encoder(nn.Module)`) that the graph's class instantiates (`self.block3 = Encoder()`, a
repeat `nn.Sequential(*(Encoder() for _ in range(6)))`), so the `state_dict` keys are the compiled
graph's (`block3.fc1.weight`, `block3.0.fc1.weight`). Instances of one definition share its class,
whose `__init__` takes the block's exposed parameters and whatever else differs between them (another
input width: `block_classes`); only copies whose forward differs get a class of their own (`Encoder_2`).
The weights go next to the code as `<name>.safetensors` (non-persistent buffers included), loaded
by the file's `load()`. The code is parsed before it is written, so an export never leaves a `.py`
that Python cannot read.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import keyword
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.fx as fx

from ..blocks import exposed_default
from ..document import GraphDocument
from ..errors import ExportError
from ..fileformat import atomic_write_text
from .block_classes import Use, generalise, groups
from .block_modules import Repeat, build_scopes
from .python_layers import init_lines
from .weights import inference_graph, save_weights

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
# Names a block's class cannot take in the generated file: what the file imports and defines, and Python's own.
RESERVED_NAMES = frozenset({*KNOWN_GLOBALS, "Path", "load_file", "nn", "load", "Repeat", *dir(builtins),
                            *keyword.kwlist})


@dataclass
class PythonExport:
    code_path: Path
    weights_path: Path
    class_name: str


class _TorchLeafTracer(fx.Tracer):
    """Traces through every module that is not one of torch.nn's own layers or a block's module.

    An op traced inside a node's module takes that node's id as its name (`relu1 = torch.relu(bn1)`,
    not fx's `relu = …`), so every line of the generated forward names the node the user drew.
    """

    proxy_buffer_attributes = True

    def __init__(self, blocks: Callable[[torch.nn.Module], str | None]):
        super().__init__()
        self.blocks = blocks  # the call that makes a block's module (`Encoder()`), None for any other

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
        if self.blocks(module) is not None:
            return True
        return type(module).__module__.startswith("torch.nn.modules") and not isinstance(
            module, (torch.nn.Sequential, torch.nn.ModuleList, torch.nn.ModuleDict))


@dataclass
class _Class:
    """One class of the generated file: its `__init__` lines, its forward, the imports the forward needs."""

    init: list[str]
    forward: str
    imports: list[str]
    signature: str = "self"  # a block's class takes what differs between its copies (block_classes)


class _ClassWriter:
    """Traces each scope module (the `finish` of `block_modules.build_scopes`) into a class: the copies of
    one definition share one class whose `__init__` takes what differs between them (`block_classes`).

    A copy's module is written in its parent's lines as a placeholder (`__block7__`) until every copy is
    traced; `render_classes` then writes each definition's class, inner ones first, and each placeholder
    becomes the call that makes that copy (`ResNetBasic(channels=64, stride=2)`)."""

    def __init__(self, doc: GraphDocument, graph_class: str):
        self.doc = doc
        self.taken = {graph_class, *RESERVED_NAMES}
        self.blocks: dict[str, _Class] = {}  # class name → class, inner ones first
        self.graph: _Class | None = None
        self.uses: dict[str, list[tuple[str, _Class, dict]]] = {}  # definition → (placeholder, class, values)
        self.containers: dict[str, tuple[str, list[str]]] = {}  # placeholder → (container, the copies' ones)
        self.constructors: dict[torch.nn.Module, str] = {}  # a block's traced module → its placeholder
        self.calls: dict[str, str] = {}  # placeholder → the call it stands for, once written
        self.uses_repeat = False

    def finish(self, module: fx.GraphModule, block: str | None, values: dict) -> torch.nn.Module:
        try:
            graph = _TorchLeafTracer(self.constructor).trace(module)
        except Exception as exc:  # noqa: BLE001 — name the node whose module cannot be traced
            raise ExportError(f"cannot write Python code: {exc}") from exc
        traced = fx.GraphModule(module, graph)
        written = _class(traced, graph, self.constructor)
        if block is None:
            self.graph = written
            return traced
        self.constructors[traced] = self._placeholder()
        self.uses.setdefault(block, []).append((self.constructors[traced], written, values))
        return traced

    def constructor(self, module: torch.nn.Module) -> str | None:
        """The placeholder of a block's module, or of the container of its copies for a repeat; else None."""
        if module in self.constructors:
            return self.constructors[module]
        if not isinstance(module, (torch.nn.Sequential, Repeat)) or not len(module):
            return None
        copies = [self.constructors.get(child) for child in module]
        if None in copies:
            return None
        if isinstance(module, Repeat):
            self.uses_repeat = True
        self.constructors[module] = self._placeholder()
        self.containers[self.constructors[module]] = ("Repeat" if isinstance(module, Repeat) else "nn.Sequential",
                                                      copies)
        return self.constructors[module]

    def _placeholder(self) -> str:
        return f"__block{len(self.constructors) + len(self.containers)}__"

    def render_classes(self) -> None:
        """Write every definition's class (inner ones first) and put the calls in the graph's lines."""
        for block in self.uses:
            self._write(block)
        self.graph.init = [self._resolve(line) for line in self.graph.init]

    def _resolve(self, line: str) -> str:
        return re.sub(r"__block\d+__", lambda found: self._call(found.group()), line)

    def _call(self, placeholder: str) -> str:
        if placeholder in self.containers:
            container, copies = self.containers[placeholder]
            calls = [self._call(copy) for copy in copies]
            if len(set(calls)) == 1:
                items = f"{calls[0]} for _ in range({len(calls)})"
                return f"Repeat({items})" if container == "Repeat" else f"nn.Sequential(*({items}))"
            return f"Repeat([{', '.join(calls)}])" if container == "Repeat" else f"{container}({', '.join(calls)})"
        if placeholder not in self.calls:
            self._write(next(block for block, uses in self.uses.items() if any(p == placeholder for p, _, _ in uses)))
        return self.calls[placeholder]

    def _write(self, block: str) -> None:
        """The classes of definition `block` (one per group of copies that can share one), once."""
        uses = self.uses[block]
        if uses[0][0] in self.calls:
            return
        written = [Use([self._resolve(line) for line in w.init], w.forward, values) for _, w, values in uses]
        definition = self.doc.blocks[block]
        defaults = {name: exposed_default(self.doc.blocks, definition, name) for name in definition.exposed}
        for members in groups(written):
            general = generalise([written[i] for i in members], definition.exposed, defaults)
            name = block if block not in self.taken else _first_free(f"{block}_", self.taken)
            self.taken.add(name)
            first = uses[members[0]][1]
            self.blocks[name] = _Class(general.lines, first.forward, first.imports, general.signature)
            for i, arguments in zip(members, general.calls, strict=True):
                self.calls[uses[i][0]] = f"{name}({arguments})"


def _first_free(prefix: str, taken: set[str]) -> str:
    n = 2
    while f"{prefix}{n}" in taken:
        n += 1
    return f"{prefix}{n}"


def export_python(doc: GraphDocument, path: str | Path, *, weights: str | Path | None = None,
                  class_name: str | None = None) -> PythonExport:
    """Write `path` (the module's code) and `path.with_suffix('.safetensors')` (its weights)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    class_name = class_name or _class_name(doc.name)
    writer = _ClassWriter(doc, class_name)
    model = build_scopes(doc, inference_graph(doc, weights), writer.finish)
    writer.render_classes()
    code = _render(doc, writer, class_name)
    _require_parseable(code, path)
    weights_path = path.with_suffix(".safetensors")
    state = {name: tensor.detach().contiguous().clone() for name, tensor in _all_tensors(model).items()}
    save_weights(state, weights_path)
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


def _class(traced: fx.GraphModule, graph: fx.Graph, blocks: Callable[[torch.nn.Module], str | None]) -> _Class:
    python = graph.python_code(root_module="self")
    forward = "\n".join(line.rstrip() for line in python.src.strip().splitlines())
    imports = []
    for name in sorted(python.globals):
        if re.search(rf"\b{re.escape(name)}\b", forward):
            if name not in KNOWN_GLOBALS:
                raise ExportError(f"cannot write Python code: the traced forward uses {name!r}")
            if KNOWN_GLOBALS[name]:
                imports.append(KNOWN_GLOBALS[name])
    return _Class(init_lines(traced, graph, blocks), forward, imports)


def _class_source(name: str, written: _Class) -> str:
    body = "\n".join("        " + line for line in written.init) if written.init else "        pass"
    forward = "\n".join("    " + line if line else "" for line in written.forward.splitlines())
    return (f"class {name}(nn.Module):\n    def __init__({written.signature}):\n        super().__init__()\n{body}\n\n"
            f"{forward}\n")


def _render(doc: GraphDocument, writer: _ClassWriter, class_name: str) -> str:
    """The file: the block classes (inner ones first), the graph's class, and `load()`."""
    classes = [*writer.blocks.items(), (class_name, writer.graph)]
    imports = ["from pathlib import Path", ""]
    imports += [line for _, written in classes for line in written.imports]
    imports += ["from safetensors.torch import load_file", "from torch import nn"]
    sources = [inspect.getsource(Repeat)] if writer.uses_repeat else []
    sources += [_class_source(name, written) for name, written in classes]
    about = _docstring_safe(f"{doc.name}: {doc.description}" if doc.description else doc.name)
    return f'''"""{class_name}: generated by Layerloom from the graph {about}.

Standalone: needs torch and safetensors only. `load()` builds the model and reads the weights
saved beside this file (same name, .safetensors).
"""

{chr(10).join(dict.fromkeys(imports))}


{(chr(10) * 2).join(sources)}

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


