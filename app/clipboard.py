"""Copy and paste of sub-graphs as Layerloom JSON (the file format), so they also travel as text.

Pasted nodes get fresh ids from `GraphDocument.new_id` (`fc1` → `fc3` when `fc1` and `fc2` exist),
so they obey the document's id rule whatever the clipboard held, and their wires are renamed to
match; wires to nodes outside the copied set are not copied. Clipboard text is parsed with the
strict file reader, so anything malformed (invalid UTF-8 included) is simply not pasteable.
"""

from __future__ import annotations

from PySide6.QtCore import QMimeData

from engine.document import MAX_COORDINATE, Edge, GraphDocument
from engine.errors import DocumentError
from engine.fileformat import dumps, loads

from .commands import SnapNode, Snapshot

MIME = "application/x-layerloom-graph"
PASTE_OFFSET = 40.0


def to_mime(doc: GraphDocument, node_ids) -> QMimeData:
    part = GraphDocument(name="clipboard")
    Snapshot.capture(doc, node_ids, touching=False).insert(part)
    text = dumps(part)
    mime = QMimeData()
    mime.setData(MIME, text.encode())
    mime.setText(text)
    return mime


def from_mime(mime: QMimeData, doc: GraphDocument, anchor: tuple[float, float] | None = None) -> Snapshot | None:
    """A snapshot ready to insert into `doc`, or None when the clipboard holds no graph.

    The pasted group's top-left lands on `anchor`, or 40 px right/below the originals without one.
    """
    text = bytes(mime.data(MIME)).decode(errors="replace") if mime.hasFormat(MIME) else mime.text()
    try:
        part = loads(text, "clipboard")
    except DocumentError:
        return None
    if not part.nodes:
        return None
    if anchor is None:
        dx = dy = PASTE_OFFSET
    else:
        dx = anchor[0] - min(n.position[0] for n in part.nodes.values())
        dy = anchor[1] - min(n.position[1] for n in part.nodes.values())
    names = GraphDocument()
    names.nodes = dict.fromkeys(doc.nodes)  # only the taken names matter to new_id
    renamed: dict[str, str] = {}
    nodes = []
    for old_id, node in part.nodes.items():
        new_id = renamed[old_id] = names.new_id(node.type_id)
        names.nodes[new_id] = None
        nodes.append(SnapNode(new_id, node.type_id, node.params, _shifted(node.position, dx, dy)))
    edges = tuple(Edge(renamed[e.src], e.src_port, renamed[e.dst], e.dst_port) for e in part.edges)
    return Snapshot(tuple(nodes), edges)


def _shifted(position: tuple[float, float], dx: float, dy: float) -> tuple[float, float]:
    """`position` moved by (dx, dy), kept on the canvas the document allows."""
    x, y = (min(max(v, -MAX_COORDINATE), MAX_COORDINATE) for v in (position[0] + dx, position[1] + dy))
    return x, y
