"""Marks hung on node items: a label (a step, a statistic) or a halo (a colour around the whole card).

A mark is a child item of its node item, so it moves with the node and dies with it; it is found again
among the item's children by its `key`, and no reference to it is kept elsewhere (like badges.py). Each
`NodeMarks` owns one key: the NaN mark, the activation badge and the profile colouring never touch each
other's marks, nor the gradient badge.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsRectItem, QGraphicsSimpleTextItem

from ..node_item import WIDTH

PAD = 3.0
HALO = 7.0  # px the halo reaches beyond the card


class _Mark(QGraphicsRectItem):
    def __init__(self, parent: QGraphicsItem, key: str):
        super().__init__(parent)
        self.key = key
        self.text = QGraphicsSimpleTextItem(self)
        font = QFont()
        font.setPointSizeF(8)
        self.text.setFont(font)


class NodeMarks:
    """The marks of one `key` on the scene's node items. `where` places a label: "above-right" (beside the
    gradient badge, which sits above-left), "below" (under the card); "halo" colours the card's surround."""

    def __init__(self, scene, key: str, where: str = "below"):
        assert where in ("above-right", "below", "halo"), where
        self.scene, self.key, self.where = scene, key, where

    def marks(self) -> dict[str, _Mark]:
        return {node_id: mark for node_id, item in self.scene.items_by_id.items()
                if (mark := self._mark_of(item)) is not None}

    def text(self, node_id: str) -> str | None:
        mark = self.marks().get(node_id)
        return mark.text.text() if mark is not None else None

    def color(self, node_id: str) -> QColor | None:
        mark = self.marks().get(node_id)
        return None if mark is None else (mark.brush().color() if self.where == "halo" else mark.pen().color())

    def set(self, node_id: str, text: str, color: str) -> None:
        item = self.scene.items_by_id.get(node_id)
        if item is None:
            return
        mark = self._mark_of(item) or _Mark(item, self.key)
        colour = QColor(color)
        mark.text.setText(text)
        bounds = mark.text.boundingRect()
        height = getattr(item, "height", item.rect().height())
        if self.where == "halo":
            mark.setFlag(QGraphicsItem.GraphicsItemFlag.ItemStacksBehindParent)
            mark.setRect(-HALO, -HALO, WIDTH + 2 * HALO, height + 2 * HALO + bounds.height())
            mark.setBrush(QBrush(colour))
            mark.setPen(QPen(Qt.PenStyle.NoPen))
            mark.text.setBrush(QBrush(QColor("#111111") if colour.lightnessF() > 0.5 else QColor("#f5f5f5")))
            mark.text.setPos(PAD, height + HALO / 2)
            mark.setZValue(-1)
            return
        mark.setRect(0, 0, bounds.width() + 2 * PAD, bounds.height() + PAD)
        mark.setBrush(QBrush(QColor("#222222")))
        mark.setPen(QPen(colour, 1.5))
        mark.text.setBrush(QBrush(colour.lighter(130)))
        mark.text.setPos(PAD, PAD / 2)
        mark.setZValue(3)
        if self.where == "above-right":
            mark.setPos(WIDTH - mark.rect().width(), -20.0)
        else:
            mark.setPos(0, height + 4)

    def clear(self) -> None:
        for mark in self.marks().values():
            self.scene.removeItem(mark)

    def _mark_of(self, item) -> _Mark | None:
        return next((c for c in item.childItems() if isinstance(c, _Mark) and c.key == self.key), None)
