"""A block instance on the canvas: one card standing for a whole sub-graph (and, inside an open
block, the cards of its port nodes).

It shows the block's name as its title, the definition's ports (in the definition's order), how
many layers one copy holds (or the values the instance gives its block's exposed parameters), the
parameter count from the stats like any node, and a "×N" badge when it repeats; a repeated block is
drawn as a small stack of cards. Double-click opens it.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt

from engine.blocks import BLOCK_INPUT, input_ports, instance_repeat, is_port, output_ports
from engine.document import BLOCK, GraphDocument, NodeState, instance_block
from nodes import Port

from ..node_item import RADIUS, WIDTH, NodeItem, fonts

CATEGORY = "Block"  # the colour of every instance
STACK = 5.0  # offset of each card behind a repeated block


class InstanceItem(NodeItem):
    def __init__(self, node_id: str, params: dict, definition: GraphDocument | None):
        self.definition = definition
        ports = (tuple(Port(p) for p in input_ports(definition)), tuple(Port(p) for p in output_ports(definition))) \
            if definition is not None else ((), ())
        super().__init__(node_id, BLOCK, params, ports)
        self.category = CATEGORY
        self.set_body_lines(1, margin=2 * STACK)

    def set_params(self, params: dict) -> None:
        node = NodeState(BLOCK, params)
        name = instance_block(node) or "?"
        self.repeat = instance_repeat(node)
        self.badge = f"×{self.repeat}" if self.repeat > 1 else ""
        if self.definition is None:
            self.title, self.lines = name, [f"no block named {name!r}"]
        else:
            layers = sum(not is_port(node) for node in self.definition.nodes.values())
            values = " · ".join(f"{key} {value}" for key, value in params.items()
                                if key in self.definition.exposed and value is not None)
            self.title, self.lines = name, [values or f"block · {layers} layer{'s' * (layers != 1)}"]
        self.setToolTip(self._tooltip())
        self.update()

    def set_problems(self, problems: list[str]) -> None:
        super().set_problems(problems)
        if not problems:
            self.setToolTip(self._tooltip())

    def _tooltip(self) -> str:
        runs = f", run {self.repeat} times in sequence (weights not shared)" if self.repeat > 1 else ""
        return f"Block {self.title}{runs}. Double-click to open it."

    def paint(self, painter, option, widget=None) -> None:
        if self.repeat > 1:  # the copies behind the card
            theme = self.scene().theme
            painter.setPen(theme.pen(theme.category_color(CATEGORY).darker(130), 1.0))
            painter.setBrush(theme.brush(theme.node_body))
            for k in (2, 1):
                painter.drawRoundedRect(QRectF(k * STACK, k * STACK, WIDTH, self.height), RADIUS, RADIUS)
        super().paint(painter, option, widget)

    def _paint_text(self, painter, theme) -> None:
        super()._paint_text(painter, theme)
        if self.badge:
            title_font, _, _ = fonts()
            painter.setFont(title_font)
            box = QRectF(WIDTH - 44, 6, 38, 18)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(theme.brush(theme.node_body))
            painter.drawRoundedRect(box, 9, 9)
            painter.setPen(theme.pen(theme.text))
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, self.badge)

    def mouseDoubleClickEvent(self, event) -> None:
        self.scene().open_block(self.node_id)
        event.accept()


def port_node_item(node_id: str, type_id: str) -> NodeItem:
    """A port node inside an open block: a block input has one output `out`, a block output one input `in`."""
    inward = type_id == BLOCK_INPUT
    item = NodeItem(node_id, type_id, {}, ((), (Port("out"),)) if inward else ((Port("in"),), ()))
    item.title, item.category = ("Block input" if inward else "Block output"), CATEGORY
    item.setToolTip(f"The block's {'input' if inward else 'output'} port {node_id}: a wire of the instance "
                    f"{'enters' if inward else 'leaves'} here")
    return item
