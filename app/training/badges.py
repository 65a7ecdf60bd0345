"""Gradient-norm badges on the canvas: each parameterised node shows its latest ‖g‖ while training.

A badge is a child text item of the node item (so it moves with the node and dies with it), drawn
just above the node's header. Badges are created lazily, updated from the live view's redraw
and removed when the run ends. The node items themselves are not modified.
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
    def __init__(self, scene):
        self.scene = scene
        self.badges: dict[str, _Badge] = {}

    def update(self, norms: dict[str, float]) -> None:
        for node_id, norm in norms.items():
            item = self.scene.items_by_id.get(node_id)
            if item is None:
                continue
            badge = self.badges.get(node_id)
            if badge is None:
                badge = self.badges[node_id] = _Badge(item)
                badge.setPos(0, BADGE_Y)
            badge.set_text(f"grad {norm:.2e}" if math.isfinite(norm) else "grad NaN")  # ‖ lacks a glyph in common fonts

    def clear(self) -> None:
        for badge in self.badges.values():
            if badge.scene() is not None:
                badge.scene().removeItem(badge)
        self.badges.clear()

    def text(self, node_id: str) -> str | None:
        badge = self.badges.get(node_id)
        return badge.text.text() if badge else None
