"""The block library in the palette: a "Blocks" category listing built-in and saved blocks.

A library block travels through the palette like a node type — dragged as `NODE_MIME` or
double-clicked — under a palette id `library-block:<file>`; the editor places an instance for it
(`BlockActions.place_from_library`). Ids are looked up in the library again when used, so only a
block the library lists can be placed.
"""

from __future__ import annotations

from engine.block_library import LibraryBlock, library_blocks

CATEGORY = "Blocks"
PREFIX = "library-block:"


def palette_id(entry: LibraryBlock) -> str:
    return f"{PREFIX}{entry.path}"


def entry_for(palette_item: str) -> LibraryBlock | None:
    """The library block a palette id names, or None (a node type, or a block no longer listed)."""
    if not palette_item.startswith(PREFIX):
        return None
    return next((e for e in library_blocks() if str(e.path) == palette_item[len(PREFIX):]), None)


def entries() -> list[LibraryBlock]:
    return list(library_blocks())


def matches(entry: LibraryBlock, query: str) -> bool:
    """Case-insensitive match on the block's name or description."""
    query = query.strip().lower()
    return not query or query in entry.name.lower() or query in entry.description.lower()


def tooltip(entry: LibraryBlock) -> str:
    where = "built-in block" if entry.builtin else f"your block ({entry.path})"
    return f"<b>{entry.name}</b> — {where}<br>{entry.description}"
