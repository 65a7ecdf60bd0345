"""The block library: block definitions kept outside any graph, to place again in any graph.

Built-in blocks ship in `resources/blocks/`; the user's own are saved in the `blocks/` folder of
Layerloom's user data folder (`engine.runs.user_data_dir`). A library file is an ordinary graph
file (`engine.fileformat`, version 2) with no nodes of its own: its `name` is the block's name, its
`description` the block's one-line description, and its `blocks` hold the block's definition
together with every definition it nests. So a library file is read with the same strict checks as
any graph and written by the same atomic writer.

`library_blocks` lists what can be placed (built-ins first, then the user's, each sorted by name);
a file that cannot be read is left out of the list and described in the list's `problems`, so one
broken file never hides the others. `place_block` copies a block's definitions into a document —
reusing a definition it already holds when it is the same, renaming when a different one has the
name — and adds one instance.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .block_edit import copy_definition
from .blocks import chosen_blocks
from .document import BLOCK, GraphDocument, block_name_problem, instance_block, text_problem, used_blocks
from .errors import DocumentError
from .fileformat import atomic_write_text, dumps, load_document, loads
from .runs import user_data_dir

BUILTIN_DIR = Path(__file__).resolve().parents[1] / "resources" / "blocks"
SUFFIX = ".json"


@dataclass(frozen=True)
class LibraryBlock:
    name: str
    description: str
    builtin: bool
    path: Path


class BlockList(list):
    """The library's blocks (a list of `LibraryBlock`) and, in `problems`, one line per file left out."""

    def __init__(self):
        super().__init__()
        self.problems: list[str] = []


def user_blocks_dir() -> Path:
    return user_data_dir() / "blocks"


def library_blocks(user_dir: Path | None = None) -> BlockList:
    """Every block that can be placed; never raises for a file it cannot read (see `problems`)."""
    found = BlockList()
    found.extend(_entries(BUILTIN_DIR, True, found))
    found.extend(_entries(user_blocks_dir() if user_dir is None else Path(user_dir), False, found))
    return found


def _entries(folder: Path, builtin: bool, found: BlockList) -> list[LibraryBlock]:
    """The blocks of one folder, sorted by name; a file that cannot be listed is added to `found.problems`."""
    entries: list[LibraryBlock] = []
    for path in _block_files(folder, found.problems):
        try:
            library = read_block_file(path)
        except DocumentError as exc:
            found.problems.append(str(exc))
            continue
        taken = next((e for e in (*found, *entries) if e.name == library.name), None)
        if taken is not None:
            kind = "built-in block" if taken.builtin else f"block in {taken.path.name}"
            found.problems.append(f"{path}: the {kind} is also named {library.name!r} — rename one of them")
            continue
        entries.append(LibraryBlock(library.name, library.description, builtin, path))
    return sorted(entries, key=lambda e: (e.name.casefold(), e.name))


def _block_files(folder: Path, problems: list[str]) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.suffix == SUFFIX and not p.name.startswith("."))
    except FileNotFoundError:
        return []
    except OSError as exc:
        problems.append(f"{folder}: cannot list the folder ({exc.strerror})")
        return []


def read_block_file(path: str | os.PathLike) -> GraphDocument:
    """A library file as a document without nodes whose `blocks` hold the block (named like the
    document) and the definitions it nests; DocumentError naming the file when it is not one."""
    library = load_document(path)
    return _checked(library, str(path))


def _checked(library: GraphDocument, source: str) -> GraphDocument:
    if problem := block_name_problem(library.name):
        raise DocumentError(f"{source}: name: the block's name {library.name!r} {problem}")
    if library.name not in library.blocks:
        raise DocumentError(f"{source}: blocks: holds no definition named {library.name!r}, the block the file "
                            "is named after — not a block library file")
    if library.nodes:
        raise DocumentError(f"{source}: nodes: a block library file holds its block under 'blocks' and no nodes "
                            "of its own — not a block library file")
    return library


def load_block(entry: LibraryBlock) -> GraphDocument:
    """The block's definition (a copy, to view or edit); DocumentError naming the file on bad data."""
    library = read_block_file(entry.path)
    if library.name != entry.name:
        raise DocumentError(f"{entry.path}: now holds block {library.name!r}, not {entry.name!r} — "
                            "the file changed; reload the library")
    return copy_definition(library.blocks[library.name])


def save_block(doc: GraphDocument, block_name: str, user_dir: Path | None = None, description: str = "") -> Path:
    """Write definition `block_name` of `doc` and the definitions it nests to the user's library as
    `<block_name>.json`, replacing the user's block of that name; returns the file's path.

    `description` (default: the definition's own) is kept on one line. A block named like a
    built-in one is refused: rename it first.
    """
    definition = doc.block(block_name)
    if any(entry.name == block_name for entry in _builtin_blocks()):
        raise DocumentError(f"{block_name!r} is the name of a built-in block — rename your block to save it "
                            "in your library")
    description = " ".join((description or definition.description).split())
    if problem := text_problem(description):
        raise DocumentError(f"the description of block {block_name!r} {problem}")
    library = GraphDocument(block_name, description)
    for name in _nested(doc, block_name):
        library.add_block(name, copy_definition(doc.blocks[name]))
    folder = user_blocks_dir() if user_dir is None else Path(user_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{block_name}{SUFFIX}"
    text = dumps(library)
    _checked(loads(text, str(path)), str(path))  # it reads back, or nothing is written
    atomic_write_text(path, text)
    return path


def _builtin_blocks() -> list[LibraryBlock]:
    return _entries(BUILTIN_DIR, True, BlockList())


def _nested(doc: GraphDocument, name: str) -> list[str]:
    """`name` and every definition it places, directly or deeper, in the document's block order — and the
    ones its instances choose through an exposed `block` parameter (a ResNet block's downsampling shortcut)."""
    blocks = doc.blocks
    reached, stack = set(), [name]
    while stack:
        current = stack.pop()
        if current not in reached:
            reached.add(current)
            stack.extend(inner for inner in used_blocks(blocks[current]) if inner in blocks)
            stack.extend(chosen for chosen in chosen_blocks(doc, current) if chosen in blocks)
    return [n for n in blocks if n in reached]


def place_block(doc: GraphDocument, entry: LibraryBlock, position: tuple[float, float] = (0.0, 0.0), *,
                inside: str | None = None) -> str:
    """Add the library block's definitions to `doc` and one instance of it at `position` (in the graph,
    or in definition `inside`); returns the instance's node id.

    A definition `doc` already holds under the same name is reused when it is the same sub-graph
    (node ids, types, params and wires; positions aside); a different one keeps its name and the
    library's definition comes in renamed (`Name1`), with the instances that refer to it.
    """
    library = read_block_file(entry.path)
    if inside is not None:
        doc.block(inside)
    renamed: dict[str, str] = {}
    added: list[str] = []
    try:
        for name in _dependency_order(library):
            definition = copy_definition(library.blocks[name])
            for node in definition.nodes.values():
                if node.type_id == BLOCK and (inner := instance_block(node)) in renamed:
                    node.params["block"] = renamed[inner]
            existing = doc.blocks.get(name)
            if existing is not None and _same_graph(existing, definition):
                renamed[name] = name
                continue
            renamed[name] = name if existing is None else _free_name(name, doc.blocks.keys() | library.blocks.keys())
            doc.add_block(renamed[name], definition)
            added.append(renamed[name])
        return doc.place_block(renamed[library.name], position, inside=inside)
    except DocumentError:
        for name in reversed(added):  # all or nothing
            doc.remove_block(name)
        raise


def _dependency_order(library: GraphDocument) -> list[str]:
    """The library's definitions, each after the ones it places (the file is free of cycles); the block
    first, then the ones only chosen through its exposed parameters."""
    order: list[str] = []

    def visit(name: str) -> None:
        if name not in order:
            for inner in used_blocks(library.blocks[name]):
                if inner in library.blocks:  # else the instance is reported by validation
                    visit(inner)
            order.append(name)

    for name in (library.name, *library.blocks):
        visit(name)
    return order


def _same_graph(a: GraphDocument, b: GraphDocument) -> bool:
    def shape(d: GraphDocument):
        return [(n, s.type_id, s.params) for n, s in d.nodes.items()], sorted(d.edges), d.exposed

    return shape(a) == shape(b)


def _free_name(name: str, taken) -> str:
    """`Name1`, `Name2`… — the first not `taken`, shortened where the name would grow too long."""
    n = 1
    while True:
        base, suffix = name, str(n)
        while block_name_problem(base + suffix):
            base = base[:-1]
        if base + suffix not in taken:
            return base + suffix
        n += 1
