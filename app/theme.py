"""Colours of the canvas and the widgets: a dark (default) and a light theme.

Nodes are tinted by category. Known categories get hand-picked hues; any category registered
later gets a stable hue derived from its name, so a new node family never needs a change here.
Pens and brushes are cached per theme because the canvas paints thousands of items per frame.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import cache

from PySide6.QtGui import QBrush, QColor, QPalette, QPen
from PySide6.QtWidgets import QApplication

_HUES = {
    "Input / Output": 205, "Linear": 28, "Activation": 285, "Convolution": 140, "Pooling": 170,
    "Normalization": 50, "Recurrent": 330, "Attention": 350, "Shape": 0, "Loss": 10, "Merge": 230,
}


@dataclass(frozen=True)
class Theme:
    name: str
    dark: bool
    background: str
    grid: str
    grid_major: str
    node_body: str
    text: str
    muted: str
    wire: str
    label_bg: str
    selected: str
    error: str
    window: str
    base: str

    def category_color(self, category: str) -> QColor:
        hue = _HUES.get(category, zlib.crc32(category.encode()) % 360)
        return QColor.fromHsv(hue, 150 if self.dark else 120, 170 if self.dark else 235)

    def color(self, value: str) -> QColor:
        return _color(value)

    def pen(self, value: str | QColor, width: float = 1.0) -> QPen:
        return _pen(QColor(value).name(QColor.NameFormat.HexArgb), width)

    def brush(self, value: str | QColor) -> QBrush:
        return _brush(QColor(value).name(QColor.NameFormat.HexArgb))


@cache
def _color(value: str) -> QColor:
    return QColor(value)


@cache
def _pen(value: str, width: float) -> QPen:
    pen = QPen(QColor(value), width)
    pen.setCosmetic(width <= 1.0)
    return pen


@cache
def _brush(value: str) -> QBrush:
    return QBrush(QColor(value))


DARK = Theme(
    name="dark", dark=True, background="#1e1f22", grid="#26282c", grid_major="#2f3237", node_body="#2b2d31",
    text="#e6e6e6", muted="#9a9ca3", wire="#8a8f99", label_bg="#1e1f22", selected="#f0c05a", error="#e5484d",
    window="#25272b", base="#1e1f22",
)
LIGHT = Theme(
    name="light", dark=False, background="#f7f7f8", grid="#ebecef", grid_major="#dcdde2", node_body="#ffffff",
    text="#1d1d1f", muted="#6b6e76", wire="#7d828c", label_bg="#f7f7f8", selected="#d08a00", error="#d42a30",
    window="#efeff1", base="#ffffff",
)
THEMES = {t.name: t for t in (DARK, LIGHT)}


def apply_palette(app: QApplication, theme: Theme) -> None:
    """Fusion style with the theme's colours, so docks and dialogs match the canvas."""
    app.setStyle("Fusion")
    palette = QPalette()
    roles = {
        QPalette.ColorRole.Window: theme.window, QPalette.ColorRole.Base: theme.base,
        QPalette.ColorRole.AlternateBase: theme.window, QPalette.ColorRole.Button: theme.window,
        QPalette.ColorRole.WindowText: theme.text, QPalette.ColorRole.Text: theme.text,
        QPalette.ColorRole.ButtonText: theme.text, QPalette.ColorRole.ToolTipBase: theme.base,
        QPalette.ColorRole.ToolTipText: theme.text, QPalette.ColorRole.PlaceholderText: theme.muted,
        QPalette.ColorRole.Highlight: theme.selected, QPalette.ColorRole.HighlightedText: theme.base,
    }
    for role, value in roles.items():
        palette.setColor(role, QColor(value))
    palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor(theme.muted))
    app.setPalette(palette)
