"""What validation finds, as plain data: `Diagnostic` and `ValidationReport`.

They sit below both the validator (`engine.validate`, which fills them) and the block expansion
(`engine.block_expand`, whose problems are diagnostics and which projects a flat graph's report back
onto a document), so that neither imports the other to name them: validation builds on expansion,
never the reverse.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nodes import NodeSpec, Shape

from .document import Edge

if TYPE_CHECKING:
    from .block_expand import Expansion

PortRef = tuple[str, str]


@dataclass(frozen=True)
class Diagnostic:
    severity: str  # "error" | "warning"
    message: str
    node: str | None = None
    port: str | None = None
    param: str | None = None
    # Which check made it (see engine.validate.STAGES); lets `revalidate` replace just what an edit can change.
    stage: str = field(default="", compare=False, repr=False)
    # Inside a block instance: the way down from `node` (the instance), e.g. `enc.block3/fc1`.
    path: str | None = None

    def __str__(self) -> str:
        where = ".".join(x for x in (self.path or self.node, self.port or self.param) if x)
        return f"{where}: {self.message}" if where else self.message

    def to_dict(self) -> dict:
        data = {"severity": self.severity, "node": self.node, "port": self.port, "param": self.param,
                "message": self.message}
        return data | {"path": self.path} if self.path else data


@dataclass
class ValidationReport:
    diagnostics: list[Diagnostic] = field(default_factory=list)
    shapes: dict[PortRef, Shape] = field(default_factory=dict)  # output port → shape
    dtypes: dict[PortRef, str] = field(default_factory=dict)  # output port → element type, "float32" or "int64"
    input_shapes: dict[str, dict[str, Shape]] = field(default_factory=dict)  # node → input port → shape
    order: list[str] = field(default_factory=list)  # topological order (empty when cyclic)
    touched: set[str] | None = None  # nodes whose results may differ from the last report's (None: all)
    context: ValidationContext | None = field(default=None, repr=False, compare=False)  # for `revalidate`
    # A document placing blocks is validated expanded (engine.block_expand); compile and stats use it.
    expansion: Expansion | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    def for_node(self, node_id: str) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.node == node_id]

    def edge_shape(self, edge: Edge) -> Shape | None:
        return self.shapes.get((edge.src, edge.src_port))


@dataclass
class ValidationContext:
    """What a param edit cannot change, kept from the full validation for `revalidate`."""

    specs: dict[str, NodeSpec]
    wired: dict[PortRef, Edge]
    successors: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    rank: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for edge in self.wired.values():
            self.successors[edge.src].add(edge.dst)
