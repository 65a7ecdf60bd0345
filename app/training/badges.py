"""Gradient-norm badges on the canvas: each parameterised node shows its latest ‖g‖ while training.

A badge is a child item of the node item (so it moves with the node and dies with it), drawn just
above the node's header, and found again among the item's children: nothing here outlives it.
Badges are created lazily, updated from the live view's redraw and cleared when the graph is edited.
"""

from __future__ import annotations

import math

from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import QGraphicsRectItem, QGraphicsSimpleTextItem

BADGE_Y = -20.0
PAD = 3.0


class _Badge(QGraphicsRectItem):
    def __init__(self, parent):
        super().__init__(parent)
        self.setBrush(QBrush(QColor("#222222")))
        self.setPen(QColor("#e8a317"))
        self.setZValue(3)
        self.text = QGraphicsSimpleTextItem(self)
        font = QFont()
        font.setPointSizeF(8)
        self.text.setFont(font)
        self.text.setBrush(QBrush(QColor("#f5f5f5")))

    def set_text(self, text: str) -> None:
        self.text.setText(text)
        bounds = self.text.boundingRect()
        self.setRect(0, 0, bounds.width() + 2 * PAD, bounds.height() + PAD)
        self.text.setPos(PAD, PAD / 2)


class GradientBadges:
    """The badges of the nodes on the canvas. Each badge lives only as a child of its node item (the scene's
    `items_by_id` holds the items alive): no reference to a badge is kept here, so a node item deleted by a
    reset, a delete, an ungroup or opening a block takes its badge with it and nothing can reach a deleted
    C++ item afterwards."""

    def __init__(self, scene):
        self.scene = scene

    @property
    def badges(self) -> dict[str, _Badge]:
        """The badges on screen by node id."""
        return {node_id: badge for node_id, item in self.scene.items_by_id.items()
                if (badge := _badge_of(item)) is not None}

    def update(self, norms: dict[str, float]) -> None:
        for node_id, norm in norms.items():
            item = self.scene.items_by_id.get(node_id)
            if item is None:
                continue
            badge = _badge_of(item)
            if badge is None:
                badge = _Badge(item)
                badge.setPos(0, BADGE_Y)
            badge.set_text(f"grad {norm:.2e}" if math.isfinite(norm) else "grad NaN")  # ‖ lacks a glyph in common fonts

    def clear(self) -> None:
        for item in self.scene.items_by_id.values():
            if (badge := _badge_of(item)) is not None:
                self.scene.removeItem(badge)

    def text(self, node_id: str) -> str | None:
        item = self.scene.items_by_id.get(node_id)
        badge = _badge_of(item) if item is not None else None
        return badge.text.text() if badge else None


def _badge_of(item) -> _Badge | None:
    return next((child for child in item.childItems() if isinstance(child, _Badge)), None)
