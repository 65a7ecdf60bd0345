"""What every command does first: read the graph file, or say why it cannot."""

from __future__ import annotations

import sys

from ..document import GraphDocument
from ..errors import DocumentError
from ..fileformat import load_document

UNREADABLE = 2  # the exit status of every command given a file it cannot read


def read_graph(path: str) -> GraphDocument | None:
    """The document at `path`, or None after printing the reason (file, line, field) to stderr."""
    try:
        return load_document(path)
    except DocumentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None
