"""The versioned JSON file format of a graph, read strictly and written atomically.

    {"format": "layerloom-graph", "version": 1, "name": "...", "description": "...",
     "nodes": [{"id": "fc1", "type": "Linear", "params": {...}, "position": [x, y]}],
     "edges": [{"from": "fc1.out", "to": "relu1.in"}],
     "training": {...}}

Version 2 adds the block definitions a graph places (see `engine.blocks`), before the nodes:

    "blocks": [{"name": "Encoder", "description": "...", "nodes": [...], "edges": [...]}]

each with nodes and edges written as the graph's. A graph without blocks is still written as
version 1, so files that do not use blocks stay readable by older Layerloom; version 1 files are
migrated by adding an empty block list.

Version 3 adds the parameters a definition exposes to its instances (`engine.blocks`), after its edges:
`"params": {"channels": ["conv1.out_channels", "conv2.out_channels"]}`. Only a graph whose blocks
expose parameters is written as version 3 (an older Layerloom would ignore them and build the wrong
widths); version 2 files need no change.

Every malformed field is reported as a `DocumentError` naming the file and the field path
(`nodes[2].position`). Before any field is read, the whole parsed tree is checked once (bounded
nesting, valid text, numbers a float can hold; see `document.json_problem`), so nothing a file can
contain makes a later step recurse without end, overflow or fail to print; block definitions that
contain themselves or nest more than `document.MAX_BLOCK_DEPTH` deep are refused, found without
recursing. Never pickle; nothing read is evaluated.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .atomic import atomic_write_text
from .document import (
    MAX_NESTING,
    Edge,
    GraphDocument,
    block_name_problem,
    chain_text,
    containment_cycle,
    exposed_name_problem,
    exposed_target_problem,
    json_problem,
    nesting_problem,
    node_id_problem,
    position_problem,
    preview,
    text_problem,
    too_deep,
)
from .errors import DocumentError

FORMAT = "layerloom-graph"
VERSION = 3
PLAIN_VERSION = 1  # what a graph without blocks is written as
BLOCKS_VERSION = 2  # what a graph whose blocks expose no parameters is written as
# How deep a file may nest: a param value sits six levels down (top → blocks → [i] → nodes → [j] → params).
FILE_NESTING = MAX_NESTING + 6


def _add_blocks(data: dict) -> dict:
    return {**data, "blocks": []}


# version → function upgrading a dict of that version to version + 1.
MIGRATIONS: dict[int, Callable[[dict], dict]] = {1: _add_blocks, 2: lambda data: data}


def to_dict(doc: GraphDocument, copy_values: bool = True) -> dict[str, Any]:
    """The document as plain JSON data: a deep copy, so later edits do not change it — unless
    `copy_values` is False, for data serialised at once (the worker's messages), which then shares
    the params and training dicts with the document."""
    data = {
        "format": FORMAT,
        "version": _version(doc),
        "name": doc.name,
        "description": doc.description,
        **({"blocks": [{"name": name, "description": d.description, **_graph(d),
                        **({"params": d.exposed} if d.exposed else {})} for name, d in doc.blocks.items()]}
           if doc.blocks else {}),
        **_graph(doc),
        "training": doc.training,
    }
    return copy.deepcopy(data) if copy_values else data


def _version(doc: GraphDocument) -> int:
    """The oldest version that holds `doc` (see the module docstring)."""
    if any(d.exposed for d in doc.blocks.values()):
        return VERSION
    return BLOCKS_VERSION if doc.blocks else PLAIN_VERSION


def _graph(doc: GraphDocument) -> dict[str, list]:
    return {
        "nodes": [
            {"id": node_id, "type": n.type_id, "params": n.params, "position": list(n.position)}
            for node_id, n in doc.nodes.items()
        ],
        "edges": [{"from": f"{e.src}.{e.src_port}", "to": f"{e.dst}.{e.dst_port}"} for e in doc.edges],
    }


def from_dict(data: Any, source: str = "document") -> GraphDocument:
    """Build a document from parsed JSON, raising DocumentError that names `source` and the field."""
    reader = _Reader(source)
    data = reader.obj(data, "(top level)")
    if data.get("format") != FORMAT:
        raise reader.error("format", f"expected {FORMAT!r}, got {_kind(data.get('format'))} — not a Layerloom graph")
    if found := json_problem(data, FILE_NESTING):
        raise reader.error(found[0].lstrip(".") or "(top level)", found[1])
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise reader.error("version", f"expected a positive integer, got {_kind(version)}")
    if version > VERSION:
        raise reader.error("version",
                           f"file is version {version}, this Layerloom reads up to {VERSION} — upgrade Layerloom")
    while version < VERSION:
        data, version = MIGRATIONS[version](data), version + 1

    doc = GraphDocument(reader.label(data.get("name", "untitled"), "name", required=True),
                        reader.label(data.get("description", ""), "description"))
    for i, raw in enumerate(reader.array(data.get("blocks", []), "blocks")):
        where = f"blocks[{i}]"
        block = reader.obj(raw, where)
        name = reader.text(block.get("name"), f"{where}.name")
        if problem := block_name_problem(name):
            raise reader.error(f"{where}.name", f"{preview(name)} {problem}")
        if name in doc.blocks:
            raise reader.error(f"{where}.name", f"duplicate block name {name!r}")
        definition = GraphDocument(name, reader.label(block.get("description", ""), f"{where}.description"))
        _read_graph(reader, block, definition, f"{where}.")
        _read_exposed(reader, block.get("params", {}), definition, f"{where}.params")
        doc.blocks[name] = definition  # attached below, once every definition is read
    _read_graph(reader, data, doc, "")
    definitions, doc.blocks = doc.blocks, {}
    _check_nesting(reader, definitions)
    for name, definition in definitions.items():
        doc.add_block(name, definition)
    doc.training = reader.obj(data.get("training", {}), "training")
    return doc


def _read_exposed(reader: _Reader, data: Any, definition: GraphDocument, field: str) -> None:
    """A definition's exposed parameters. Targets that name no inner node are kept: editing can leave
    them so, and validation reports them on the instances (a file saved then must open again)."""
    for name, targets in reader.obj(data, field).items():
        if problem := exposed_name_problem(name):
            raise reader.error(f"{field}.{name}", f"{preview(name)} {problem}")
        targets = reader.array(targets, f"{field}.{name}")
        for i, target in enumerate(targets):
            if problem := exposed_target_problem(target):
                raise reader.error(f"{field}.{name}[{i}]", problem)
        if not targets:
            raise reader.error(f"{field}.{name}", "expected at least one 'node.param'")
        definition.exposed[name] = list(targets)


def _check_nesting(reader: _Reader, definitions: dict[str, GraphDocument]) -> None:
    """Refuse definitions containing themselves or nested past MAX_BLOCK_DEPTH (engine.document), before
    anything walks the nesting one call per level (adding a definition to the document does)."""
    index = {name: i for i, name in enumerate(definitions)}
    done: set[str] = set()  # the definitions found to lead to no cycle
    for name in definitions:
        if cycle := containment_cycle(definitions, name, done):
            raise reader.error(f"blocks[{index[name]}]", f"block {name!r} contains itself ({chain_text(cycle)})")
    if chain := too_deep(definitions):
        raise reader.error(f"blocks[{index[chain[0]]}]", nesting_problem(chain))


def _read_graph(reader: _Reader, data: dict, doc: GraphDocument, field: str) -> None:
    """Read `data`'s nodes and edges into `doc`; `field` prefixes the field paths in errors."""
    for i, raw in enumerate(reader.array(data.get("nodes", []), f"{field}nodes")):
        where = f"{field}nodes[{i}]"
        node = reader.obj(raw, where)
        node_id = reader.text(node.get("id"), f"{where}.id")
        type_id = reader.text(node.get("type"), f"{where}.type")
        params = reader.obj(node.get("params", {}), f"{where}.params")
        position = reader.position(node.get("position", [0, 0]), f"{where}.position")
        if problem := node_id_problem(node_id):
            raise reader.error(f"{where}.id", f"{preview(node_id)} {problem}")
        if node_id in doc.nodes:
            raise reader.error(f"{where}.id", f"duplicate node id {node_id!r}")
        try:
            doc.add_node(type_id, params, position, node_id=node_id)
        except DocumentError as exc:
            raise reader.error(f"{where}.params", str(exc)) from None
    for i, raw in enumerate(reader.array(data.get("edges", []), f"{field}edges")):
        where = f"{field}edges[{i}]"
        edge = reader.obj(raw, where)
        src, src_port = reader.endpoint(edge.get("from"), f"{where}.from", doc)
        dst, dst_port = reader.endpoint(edge.get("to"), f"{where}.to", doc)
        if doc.has_edge(Edge(src, src_port, dst, dst_port)):
            raise reader.error(where, f"duplicate wire {src}.{src_port} → {dst}.{dst_port}")
        doc.add_edge(Edge(src, src_port, dst, dst_port))


class _Reader:
    """Type checks that turn into DocumentErrors naming the field."""

    def __init__(self, source: str):
        self.source = source

    def error(self, field: str, message: str) -> DocumentError:
        return DocumentError(f"{self.source}: {field}: {message}")

    def obj(self, value: Any, field: str) -> dict:
        if not isinstance(value, dict):
            raise self.error(field, f"expected an object, got {_kind(value)}")
        return value

    def array(self, value: Any, field: str) -> list:
        if not isinstance(value, list):
            raise self.error(field, f"expected a list, got {_kind(value)}")
        return value

    def text(self, value: Any, field: str) -> str:
        if not isinstance(value, str):
            raise self.error(field, f"expected a string, got {_kind(value)}")
        return value

    def label(self, value: Any, field: str, *, required: bool = False) -> str:
        """The graph's name (`required`: not blank) or description."""
        text = self.text(value, field)
        if problem := text_problem(text) or ("cannot be empty" if required and not text.strip() else None):
            raise self.error(field, problem)
        return text

    def position(self, value: Any, field: str) -> tuple[float, float]:
        if problem := position_problem(value):
            raise self.error(field, problem)
        return value[0], value[1]

    def endpoint(self, value: Any, field: str, doc: GraphDocument) -> tuple[str, str]:
        text = self.text(value, field)
        node_id, dot, port = text.partition(".")
        if not dot or not node_id or not port.isidentifier():
            raise self.error(field, f"expected 'node.port', got {preview(text)}")
        if node_id not in doc.nodes:
            raise self.error(field, f"refers to unknown node {preview(node_id)}")
        return node_id, port


def _kind(value: Any) -> str:
    return "nothing" if value is None else f"{type(value).__name__} {preview(value)}"


def loads(text: str, source: str = "document") -> GraphDocument:
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise DocumentError(f"{source}: line {exc.lineno}, column {exc.colno}: not valid JSON ({exc.msg})") from None
    except ValueError as exc:  # NaN/Infinity, an integer of more than 4300 digits
        raise DocumentError(f"{source}: not valid JSON ({exc})") from None
    except RecursionError:
        raise DocumentError(f"{source}: not valid JSON (lists or objects nest too deeply to read)") from None
    return from_dict(data, source)


def _reject_constant(name: str):
    raise ValueError(f"{name} is not allowed in a graph file")


def load_document(path: str | os.PathLike) -> GraphDocument:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DocumentError(f"{path}: cannot read the file ({exc})") from None
    return loads(text, str(path))


def dumps(doc: GraphDocument) -> str:
    """Pretty JSON with one line per node and per wire, so files diff well in version control."""
    data = to_dict(doc)

    def one_line(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)

    def block(items: list) -> str:
        return "[\n" + ",\n".join(f"    {one_line(item)}" for item in items) + "\n  ]" if items else "[]"

    def indent(text: str) -> str:
        return text.replace("\n", "\n    ")

    fields = [f'  "{key}": {one_line(data[key])}' for key in ("format", "version", "name", "description")]
    if "blocks" in data:
        definitions = [f'    {{"name": {one_line(b["name"])}, "description": {one_line(b["description"])},\n'
                       f'     "nodes": {indent(block(b["nodes"]))},\n     "edges": {indent(block(b["edges"]))}'
                       + (f',\n     "params": {one_line(b["params"])}' if "params" in b else "") + "}"
                       for b in data["blocks"]]
        fields.append('  "blocks": [\n' + ",\n".join(definitions) + "\n  ]")
    fields += [f'  "nodes": {block(data["nodes"])}', f'  "edges": {block(data["edges"])}']
    training = json.dumps(data["training"], indent=2, ensure_ascii=False, allow_nan=False).replace("\n", "\n  ")
    fields.append(f'  "training": {training}')
    return "{\n" + ",\n".join(fields) + "\n}\n"


def save_document(doc: GraphDocument, path: str | os.PathLike) -> None:
    """Write atomically: a temp file in the same folder, flushed to disk, then renamed over `path`, which keeps
    its permissions (engine/atomic.py)."""
    atomic_write_text(Path(path), dumps(doc))
