"""A node on the canvas: a card tinted by its category with title, id, key params, ports and size.

The item mirrors one document node; it never holds the truth. The scene creates it from the
document, moves it when the document says so, and feeds it validation results (error state) and
statistics (parameter count). Dragging it moves only the item; the scene turns the finished drag
into a MoveCommand. Zoomed far out it draws only its box, which keeps big graphs smooth.
"""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QFont, QFontMetricsF, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsEllipseItem, QGraphicsItem, QGraphicsRectItem

from nodes import NodeSpec, Port, get_spec

WIDTH = 170.0
HEADER = 42.0
ROW = 20.0
LINE = 16.0
PAD = 8.0
PORT_RADIUS = 5.5
RADIUS = 7.0
KEY_PARAMS = 3
DETAIL_LOD = 0.45  # below this zoom level the details are unreadable: boxes with a big title only
MID_ZOOM_TITLE_PX = 13.0  # on-screen height of that title


@cache
def fonts() -> tuple[QFont, QFont, QFont]:
    """(title, body, small) fonts, created once after the QApplication exists."""
    title, body, small = QFont(), QFont(), QFont()
    title.setPointSizeF(10.5)
    title.setBold(True)
    body.setPointSizeF(9)
    small.setPointSizeF(8)
    return title, body, small


@cache
def _header_path() -> QPainterPath:
    path = QPainterPath()
    path.addRoundedRect(QRectF(0, 0, WIDTH, HEADER), RADIUS, RADIUS)
    square = QPainterPath()
    square.addRect(QRectF(0, HEADER / 2, WIDTH, HEADER / 2))
    return path.united(square)


def fitted_font(text: str, width: float, pixels: float) -> QFont:
    """A bold font `pixels` high, smaller where `text` would not fit in `width` (both in scene units)."""
    font = QFont()
    font.setBold(True)
    font.setPixelSize(max(1, round(pixels)))
    advance = QFontMetricsF(font).horizontalAdvance(text)
    if advance > width:
        font.setPixelSize(max(1, int(pixels * width / advance)))
    return font


def card_rect(type_id: str) -> QRectF:
    """The item rect, relative to its position, that a new node of `type_id` will have: where to place one
    before it exists (a type no spec knows, such as a library block, gets a one-port card)."""
    spec = get_spec(type_id)
    return NodeItem("", type_id, spec.defaults() if spec else {}).rect()


def format_value(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return "×".join(map(str, value)) if value else "[]"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def format_count(count: int) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if count >= size:
            return f"{count / size:.3g} {unit} params"
    return f"{count} params"


def tuning_of(training: dict, node_id: str) -> tuple[bool, float | None]:
    """Whether `node_id` is frozen (training.frozen) and its learning-rate factor (training.lr_scale), if any."""
    frozen = node_id in (training.get("frozen") or ())
    scale = (training.get("lr_scale") or {}).get(node_id)
    return frozen, scale


class PortItem(QGraphicsEllipseItem):
    """A connection point; the view starts and ends wire drags on these."""

    def __init__(self, parent: NodeItem, name: str, is_output: bool, y: float, layout: str):
        super().__init__(-PORT_RADIUS, -PORT_RADIUS, 2 * PORT_RADIUS, 2 * PORT_RADIUS, parent)
        self.node_id, self.name, self.is_output = parent.node_id, name, is_output
        self.setPos(WIDTH if is_output else 0.0, y)
        self.setToolTip(f"{'output' if is_output else 'input'} {name} {layout}".strip())
        self.setZValue(2)
        self.setAcceptHoverEvents(True)  # the default hover handlers repaint: the port lights up

    def paint(self, painter, option, widget=None) -> None:
        if option.levelOfDetailFromTransform(painter.worldTransform()) < DETAIL_LOD:
            return  # too small to aim at: the node's box is enough
        theme = self.scene().theme
        painter.setPen(theme.pen(theme.node_body, 1.5))
        painter.setBrush(theme.brush(theme.selected if self.isUnderMouse() else theme.wire))
        painter.drawEllipse(self.rect())


class NodeItem(QGraphicsRectItem):
    """The item's bounds are its rect, kept by Qt in C++: the view asks every candidate item for its
    bounds on each frame, and a Python `boundingRect` made that cost grow with the graph.

    It has no `itemChange`: PySide calls a Python override for every change of every item (six per node
    while it is built, 40 % of building one), so the scene re-routes wires where it moves nodes instead."""

    def __init__(self, node_id: str, type_id: str, params: dict, ports: tuple[tuple[Port, ...], ...] | None = None):
        """`ports` (inputs, outputs) stand in for the spec's: a block instance's come from its definition."""
        super().__init__()
        self.node_id = node_id
        self.spec: NodeSpec | None = get_spec(type_id)
        self.title = self.spec.title if self.spec else f"{type_id} (unknown type)"
        self.category = self.spec.category if self.spec else "Unknown"
        self.problems: list[str] = []
        self.count_text = ""
        self.tuning_text = ""  # "frozen", "lr ×0.1": the fine-tuning settings that apply to this node
        self.frozen = False
        self.lines: list[str] = []
        self.setFlags(QGraphicsItem.GraphicsItemFlag.ItemIsMovable | QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setZValue(1)
        if ports is None:
            ports = (self.spec.inputs, self.spec.outputs) if self.spec else ((), ())
        inputs, outputs = ports
        self.ports: dict[tuple[str, bool], PortItem] = {}
        self._port_offsets: dict[tuple[str, bool], tuple[float, float]] = {}  # plain floats: read per wire
        for ports, is_output in ((inputs, False), (outputs, True)):
            for i, port in enumerate(ports):
                y = HEADER + ROW * (i + 0.5)
                self.ports[(port.name, is_output)] = PortItem(self, port.name, is_output, y, port.layout)
                self._port_offsets[(port.name, is_output)] = (WIDTH if is_output else 0.0, y)
        self.port_rows = max(len(inputs), len(outputs), 1)
        self.key_params = [p for p in (self.spec.params if self.spec else ()) if p.name != "init"][:KEY_PARAMS]
        self.setPen(Qt.PenStyle.NoPen)
        self.set_body_lines(len(self.key_params))
        self.set_params(params)

    def set_body_lines(self, lines: int, margin: float = 0.0) -> None:
        """The height for `lines` text lines under the ports; `margin` more room right and below (for
        what a subclass draws beyond the card)."""
        self.height = HEADER + self.port_rows * ROW + lines * LINE + LINE + PAD
        self.setRect(QRectF(-PORT_RADIUS - 2, -2, WIDTH + 2 * PORT_RADIUS + 4 + margin, self.height + 4 + margin))

    # -- state fed by the scene -------------------------------------------------------------
    def set_params(self, params: dict) -> None:
        self.lines = [f"{p.name}  {format_value(params.get(p.name, p.default))}" for p in self.key_params]
        self.update()

    def set_problems(self, problems: list[str]) -> bool:
        """Show these problems; returns whether they differ from the ones shown."""
        if problems == self.problems:
            return False
        self.problems = problems
        self.setToolTip("\n".join(problems) if problems else (self.spec.doc if self.spec else ""))
        self.update()
        return True

    def set_count(self, count: int | None) -> None:
        text = "" if count is None else format_count(count)
        if text != self.count_text:
            self.count_text = text
            self.update()

    def set_tuning(self, frozen: bool, scale: float | None) -> None:
        """Show that training leaves this node as it is (a dashed border, "frozen") or scales its learning rate."""
        text = "  ".join((["frozen"] if frozen else []) + ([f"lr ×{scale:g}"] if scale is not None else []))
        if (frozen, text) != (self.frozen, self.tuning_text):
            self.frozen, self.tuning_text = frozen, text
            self.update()

    def port_offset(self, name: str, is_output: bool) -> tuple[float, float]:
        """Where a port sits relative to the node's top-left (an unknown port: mid-header on its side)."""
        return self._port_offsets.get((name, is_output)) or (WIDTH if is_output else 0.0, HEADER / 2)

    def port_pos(self, name: str, is_output: bool) -> QPointF:
        dx, dy = self.port_offset(name, is_output)
        return QPointF(self.x() + dx, self.y() + dy)

    # -- Qt ------------------------------------------------------------------------------------
    def paint(self, painter, option, widget=None) -> None:
        theme = self.scene().theme
        accent = theme.color(theme.error) if self.problems else theme.category_color(self.category)
        if self.isSelected():
            border = theme.pen(theme.selected, 2.5)
        else:
            border = theme.pen(theme.error, 2.0) if self.problems else theme.pen(accent.darker(130), 1.0)
        if self.frozen:
            border = QPen(border)  # the theme's pens are shared: change a copy
            border.setStyle(Qt.PenStyle.DashLine)
            border.setWidthF(max(border.widthF(), 2.0))
        rect = QRectF(0, 0, WIDTH, self.height)
        painter.setPen(border)
        painter.setBrush(theme.brush(theme.node_body))
        painter.drawRoundedRect(rect, RADIUS, RADIUS)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(theme.brush(accent))
        painter.drawPath(_header_path())
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        if lod < DETAIL_LOD:
            self._paint_big_title(painter, theme, lod)  # mid zoom: details would be unreadable, the title is not
            return
        self._paint_text(painter, theme)

    def _paint_big_title(self, painter, theme, lod: float) -> None:
        painter.setFont(fitted_font(self.title, WIDTH - PAD, MID_ZOOM_TITLE_PX / lod))
        painter.setPen(theme.pen(theme.text))
        body = QRectF(PAD / 2, HEADER / 2, WIDTH - PAD, self.height - HEADER / 2)
        painter.drawText(body, Qt.AlignmentFlag.AlignCenter, self.title)

    def _paint_text(self, painter, theme) -> None:
        title_font, body_font, small_font = fonts()
        on_accent = theme.pen("#ffffff" if theme.dark else "#111111")
        painter.setFont(title_font)
        painter.setPen(on_accent)
        painter.drawText(QRectF(PAD, 3, WIDTH - 2 * PAD, 20), Qt.AlignmentFlag.AlignVCenter, self.title)
        painter.setFont(small_font)
        painter.drawText(QRectF(PAD, 21, WIDTH - 2 * PAD, 18), Qt.AlignmentFlag.AlignVCenter, self.node_id)
        painter.setFont(body_font)
        painter.setPen(theme.pen(theme.text))
        for (name, is_output), port in self.ports.items():
            align = Qt.AlignmentFlag.AlignRight if is_output else Qt.AlignmentFlag.AlignLeft
            box = QRectF(PAD + 4, port.pos().y() - ROW / 2, WIDTH - 2 * PAD - 8, ROW)
            painter.drawText(box, align | Qt.AlignmentFlag.AlignVCenter, name)
        painter.setPen(theme.pen(theme.muted))
        y = HEADER + self.port_rows * ROW
        for line in self.lines:
            painter.drawText(QRectF(PAD, y, WIDTH - 2 * PAD, LINE), Qt.AlignmentFlag.AlignVCenter, line)
            y += LINE
        painter.setFont(small_font)
        footer = QRectF(PAD, self.height - LINE - PAD / 2, WIDTH - 2 * PAD, LINE)
        if self.count_text:
            painter.drawText(footer, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, self.count_text)
        if self.tuning_text:
            painter.setPen(theme.pen(theme.selected))
            painter.drawText(footer, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, self.tuning_text)
