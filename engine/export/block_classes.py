"""One class for the copies of a block definition, its differences turned into `__init__` arguments.

Each copy of a definition is traced into `__init__` lines of its own (`self.conv1 = nn.Conv2d(32, 64,
kernel_size=(3, 3), stride=(2, 2), …)`); copies of one definition differ where the block's exposed
parameters or the width it receives differ. `generalise` lines the copies' lines up, syntax tree by
syntax tree, and writes one class whose constants that differ are arguments:

    class ResNetBasic(nn.Module):
        def __init__(self, *, in_channels, shortcut, channels=32, stride=1):
            self.conv1 = nn.Conv2d(in_channels, channels, kernel_size=(3, 3), stride=(stride, stride), …)

A constant equal, in every copy, to the value of an exposed parameter is that parameter (`channels`,
default the definition's), also where all copies agree if it sits in the argument the parameter targets
(`conv1.stride` → `stride=` of `self.conv1`); any other difference is a required argument named after
the constructor argument it stands in (`in_channels`; `conv1_in_channels` where two differ), and a
whole sub-expression that differs (an inner block chosen by a parameter) is an argument holding the
module (`shortcut=Downsample(channels=64, stride=2)`). Copies whose forward or layer names differ
cannot share a class: each such group gets its own (`Name_2`).
"""

from __future__ import annotations

import ast
import inspect
from dataclasses import dataclass, field
from typing import Any

from torch import nn


@dataclass
class Use:
    """One copy of a definition: its `__init__` lines (inner blocks' calls already written), its forward,
    and the exposed parameters it was built with."""

    lines: list[str]
    forward: str
    values: dict[str, Any]


@dataclass
class Generalised:
    """A class written for a group of copies: its signature, its lines, and the call that makes each copy."""

    signature: str  # "self" or "self, *, conv1_in_channels, channels=32"
    lines: list[str]
    calls: list[str]  # per copy of the group, the arguments: "conv1_in_channels=32, channels=64"
    members: list[int] = field(default_factory=list)  # the copies' indices in the uses given


def groups(uses: list[Use]) -> list[list[int]]:
    """The copies that can share one class: the same forward and the same layers (by name), in order."""
    found: dict[tuple, list[int]] = {}
    for i, use in enumerate(uses):
        found.setdefault((use.forward, tuple(_skeleton(line) for line in use.lines)), []).append(i)
    return list(found.values())


def generalise(uses: list[Use], exposed: dict[str, list[str]], defaults: dict[str, Any]) -> Generalised:
    """One class for `uses` (copies of one group, see `groups`); `exposed` are the definition's exposed
    parameters (name → targets `node.param`), `defaults` their values when an instance sets none."""
    unifier = _Unifier(uses, exposed)
    trees = [[ast.parse(line).body[0] for line in use.lines] for use in uses]
    merged = []
    for i in range(len(uses[0].lines)):
        statements = [tree[i] for tree in trees]
        unifier.attr = _attr(statements[0])
        merged.append(unifier.unify(statements, None))
    renames = unifier.shorter_names()
    for tree in merged:
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id in renames:
                node.id = renames[node.id]
    lines = [ast.unparse(tree) for tree in merged]
    required = [name for name, (_, module) in unifier.params.items() if module or name not in defaults]
    optional = [name for name in unifier.params if name not in required]
    signature = ", ".join(["self", *(["*"] if unifier.params else []), *required,
                           *(f"{name}={defaults[name]!r}" for name in optional)])
    calls = []
    for k in range(len(uses)):
        arguments = [f"{name}={_text(values[k], module)}" for name in (*required, *optional)
                     for values, module in [unifier.params[name]]
                     if name in required or not _same(values[k], defaults[name])]
        calls.append(", ".join(arguments))
    return Generalised(signature, lines, calls)


def _skeleton(line: str) -> str:
    """What copies must share line by line: the attribute a line assigns (or the call it makes)."""
    statement = ast.parse(line).body[0]
    return ast.unparse(statement.targets[0]) if isinstance(statement, ast.Assign) else ast.unparse(statement.value.func)


def _attr(statement: ast.stmt) -> str:
    """`self.conv1 = …` → "conv1", the name arguments found in that line are named after."""
    if isinstance(statement, ast.Assign):
        return ast.unparse(statement.targets[0]).removeprefix("self.").replace(".", "_")
    return "buffer"


def _text(value: Any, module: bool) -> str:
    return value if module else repr(value)


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b  # True is not 1


def _argument_names(func: ast.expr) -> list[str]:
    """The positional parameter names of a torch.nn layer's constructor (`nn.Conv2d` → in_channels, …)."""
    text = ast.unparse(func)
    layer = getattr(nn, text.removeprefix("nn."), None) if text.startswith("nn.") else None
    try:
        parameters = list(inspect.signature(layer).parameters) if isinstance(layer, type) else []
    except (TypeError, ValueError):
        return []
    return [name for name in parameters if name != "self"]


class _Unifier:
    """Merges the copies' syntax trees, recording each argument it introduces."""

    def __init__(self, uses: list[Use], exposed: dict[str, list[str]]):
        self.uses, self.exposed = uses, exposed
        self.attr = ""
        self.params: dict[str, tuple[list[Any], bool]] = {}  # name → (value per copy, holds a module)
        self.args: dict[str, str] = {}  # a constant's argument → the constructor argument it stands in

    def shorter_names(self) -> dict[str, str]:
        """`conv1_in_channels` and `conv3_in_channels` → `in_channels` where every constant standing in that
        constructor argument has the same values (the block's input width); `self.params` follows."""
        by_arg: dict[str, list[str]] = {}
        for name, arg in self.args.items():
            by_arg.setdefault(arg, []).append(name)
        renames = {}
        for arg, names in by_arg.items():
            values = {repr(self.params[name]) for name in names}
            if len(values) == 1 and arg not in self.params and arg not in self.exposed and arg.isidentifier():
                renames |= dict.fromkeys(names, arg)
        self.params = {renames.get(name, name): value for name, value in self.params.items()}
        return renames

    def unify(self, nodes: list[ast.AST], arg: str | None) -> ast.AST | None:
        """The merged tree, or None when the copies differ in something no argument can stand for."""
        first = nodes[0]
        if all(isinstance(n, ast.Constant) for n in nodes):
            return self.constant([n.value for n in nodes], arg, first)
        merged = self.merge(nodes, arg)
        if merged is None and isinstance(first, ast.expr):
            return self.argument([ast.unparse(n) for n in nodes], arg, module=True)
        return merged

    def merge(self, nodes: list[ast.AST], arg: str | None) -> ast.AST | None:
        first = nodes[0]
        if any(type(n) is not type(first) for n in nodes):
            return None
        if isinstance(first, ast.Call) and any(ast.dump(n.func) != ast.dump(first.func) for n in nodes):
            return None  # another layer or block: the whole call is the argument
        names = _argument_names(first.func) if isinstance(first, ast.Call) else []
        fields = {}
        for name, value in ast.iter_fields(first):
            values = [getattr(n, name) for n in nodes]
            if isinstance(value, list):
                if any(len(v) != len(value) for v in values):
                    return None
                items = []
                for i, group in enumerate(zip(*values, strict=True)):
                    inner = names[i] if name == "args" and i < len(names) else arg
                    if isinstance(group[0], ast.keyword):
                        inner = group[0].arg
                    item = self.unify(list(group), inner) if isinstance(group[0], ast.AST) else group[0]
                    if item is None or (not isinstance(group[0], ast.AST) and any(g != group[0] for g in group)):
                        return None
                    items.append(item)
                fields[name] = items
            elif isinstance(value, ast.AST):
                fields[name] = self.unify(values, arg)
                if fields[name] is None:
                    return None
            elif any(v != value for v in values):
                return None
            else:
                fields[name] = value
        return ast.copy_location(type(first)(**fields), first)

    def constant(self, values: list[Any], arg: str | None, first: ast.Constant) -> ast.expr:
        """A constant of the copies: an exposed parameter's name where it holds that parameter's value."""
        for name, targets in self.exposed.items():
            if not all(_same(use.values.get(name), value) for use, value in zip(self.uses, values, strict=True)):
                continue
            if any(not _same(v, values[0]) for v in values) or f"{self.attr}.{arg}" in targets:
                self.params.setdefault(name, ([use.values[name] for use in self.uses], False))
                return ast.Name(name)
        if all(_same(v, values[0]) for v in values):
            return first
        return self.argument(values, arg, module=False)

    def argument(self, values: list[Any], arg: str | None, module: bool) -> ast.expr:
        base = f"{self.attr}_{arg}" if arg and arg != self.attr else self.attr
        if module and base in self.exposed and base not in self.params:
            name = base  # the module an exposed parameter chose (`shortcut=Downsample(…)`)
        else:
            name, n = base, 2
            while name in self.params and self.params[name] != (values, module) or name in self.exposed:
                name, n = f"{base}_{n}", n + 1
        self.params.setdefault(name, (values, module))
        if arg and not module:
            self.args[name] = arg
        return ast.Name(name)
