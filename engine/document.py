"""The graph document: the one source of truth that the canvas, validator and compiler read.

Nodes live in a dict keyed by a stable, readable id (`conv1`, `fc2`) that is also a valid Python
identifier, so compiled submodules and state_dict keys carry it. Edges are value tuples. Every
mutation goes through a method here and is announced to subscribers as a plain-Python event, so a
view (the Qt scene) can mirror the document without ever holding the truth.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from nodes import get_spec

from .errors import DocumentError

NODE_ID_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
Listener = Callable[..., None]


class Edge(NamedTuple):
    """A wire from an output port to an input port."""

    src: str
    src_port: str
    dst: str
    dst_port: str

    def __str__(self) -> str:
        return f"{self.src}.{self.src_port} → {self.dst}.{self.dst_port}"


@dataclass
class NodeState:
    type_id: str
    params: dict[str, Any] = field(default_factory=dict)
    position: tuple[float, float] = (0.0, 0.0)


class GraphDocument:
    """Nodes, edges and the training section, with change events.

    Events are delivered as `listener(event, **payload)` with `event` one of: node_added(node_id),
    node_removed(node_id), edge_added(edge), edge_removed(edge), param_changed(node_id, name, value),
    node_moved(node_id, position), training_changed(key, value), name_changed(name), reset().
    """

    def __init__(self, name: str = "untitled", description: str = ""):
        self.name = name
        self.description = description
        self.nodes: dict[str, NodeState] = {}
        self.edges: list[Edge] = []
        self.training: dict[str, Any] = {}
        self._listeners: list[Listener] = []

    # -- observers -------------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    def _emit(self, event: str, **payload: Any) -> None:
        for listener in list(self._listeners):
            listener(event, **payload)

    # -- queries ---------------------------------------------------------------------------
    def node(self, node_id: str) -> NodeState:
        try:
            return self.nodes[node_id]
        except KeyError:
            raise DocumentError(f"there is no node {node_id!r}") from None

    def edges_of(self, node_id: str) -> list[Edge]:
        return [e for e in self.edges if node_id in (e.src, e.dst)]

    def edges_into(self, node_id: str, port: str | None = None) -> list[Edge]:
        return [e for e in self.edges if e.dst == node_id and (port is None or e.dst_port == port)]

    def new_id(self, type_id: str) -> str:
        """The first free id made of the type's prefix and a counter (`conv1`, `conv2`, …)."""
        spec = get_spec(type_id)
        prefix = spec.id_prefix if spec else re.sub(r"\W", "", type_id.lower()) or "node"
        n = 1
        while f"{prefix}{n}" in self.nodes:
            n += 1
        return f"{prefix}{n}"

    # -- mutations -------------------------------------------------------------------------
    def add_node(
        self, type_id: str, params: dict[str, Any] | None = None, position: tuple[float, float] = (0.0, 0.0),
        node_id: str | None = None, index: int | None = None,
    ) -> str:
        """Add a node with the spec's defaults overlaid by `params`; returns its id.

        `index` puts it at that place in the node order (undo restores a deleted node where it was,
        so a saved file does not change order); by default it goes last.
        """
        node_id = self.new_id(type_id) if node_id is None else node_id
        if not NODE_ID_PATTERN.match(node_id):
            raise DocumentError(f"node id {node_id!r} must start with a letter and hold only letters, digits and _")
        if node_id in self.nodes:
            raise DocumentError(f"a node named {node_id!r} already exists")
        spec = get_spec(type_id)
        for name, value in (params or {}).items():
            _require_json_value(value, f"{node_id}.{name}")
        merged = (spec.defaults() if spec else {}) | copy.deepcopy(params or {})
        merged = {k: list(v) if isinstance(v, tuple) else v for k, v in merged.items()}
        self.nodes[node_id] = NodeState(type_id, merged, (float(position[0]), float(position[1])))
        if index is not None and index < len(self.nodes) - 1:
            items = list(self.nodes.items())
            items.insert(index, items.pop())
            self.nodes.clear()
            self.nodes.update(items)
        self._emit("node_added", node_id=node_id)
        return node_id

    def remove_node(self, node_id: str) -> None:
        """Remove a node and every wire touching it (each wire's removal is announced first)."""
        self.node(node_id)
        for edge in self.edges_of(node_id):
            self.remove_edge(edge)
        del self.nodes[node_id]
        self._emit("node_removed", node_id=node_id)

    def add_edge(self, edge: Edge, index: int | None = None) -> None:
        """Add a wire (at `index` in the wire order, else last).

        Structural checks only; port compatibility is validation's job."""
        edge = Edge(*edge)
        self.node(edge.src)
        self.node(edge.dst)
        if edge in self.edges:
            raise DocumentError(f"the wire {edge} already exists")
        self.edges.insert(len(self.edges) if index is None else index, edge)
        self._emit("edge_added", edge=edge)

    def remove_edge(self, edge: Edge) -> None:
        edge = Edge(*edge)
        if edge not in self.edges:
            raise DocumentError(f"there is no wire {edge}")
        self.edges.remove(edge)
        self._emit("edge_removed", edge=edge)

    def set_param(self, node_id: str, name: str, value: Any) -> None:
        value = list(value) if isinstance(value, tuple) else value
        node = self.node(node_id)
        _require_json_value(value, f"{node_id}.{name}")
        node.params[name] = copy.deepcopy(value)
        self._emit("param_changed", node_id=node_id, name=name, value=value)

    def move_node(self, node_id: str, position: tuple[float, float]) -> None:
        node = self.node(node_id)
        if not all(math.isfinite(v) for v in position):
            raise DocumentError(f"{node_id}: position must be finite, got {position}")
        node.position = (float(position[0]), float(position[1]))
        self._emit("node_moved", node_id=node_id, position=self.nodes[node_id].position)

    def set_training(self, key: str, value: Any) -> None:
        self.training[key] = value
        self._emit("training_changed", key=key, value=value)

    def set_name(self, name: str) -> None:
        """The graph's display name (titles, run names, exports); never empty."""
        name = name.strip()
        if not name:
            raise DocumentError("a graph's name cannot be empty")
        self.name = name
        self._emit("name_changed", name=name)

    def replace_with(self, other: GraphDocument) -> None:
        """Take over `other`'s content (open, revert); listeners stay and receive `reset`."""
        self.name, self.description = other.name, other.description
        self.nodes, self.edges, self.training = other.nodes, other.edges, other.training
        self._emit("reset")


def _require_json_value(value: Any, where: str) -> None:
    """Params must survive a JSON round trip: finite numbers, strings, bools, None, lists, dicts."""
    if isinstance(value, float) and not math.isfinite(value):
        raise DocumentError(f"{where}: {value} is not a finite number")
    if isinstance(value, (list, tuple)):
        for item in value:
            _require_json_value(item, where)
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise DocumentError(f"{where}: keys must be text, got {key!r}")
            _require_json_value(item, where)
    elif not (value is None or isinstance(value, (str, int, float, bool))):
        raise DocumentError(f"{where}: {type(value).__name__} values cannot be saved")
