"""The minimap: the whole graph in a corner of the canvas, with the part on screen outlined; click or
drag on it to move there. It paints the scene's overview picture (app/overview.py) scaled down, so
it costs a few draw calls whatever the graph's size."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QTransform
from PySide6.QtWidgets import QWidget

SIZE = (200, 130)  # px
MARGIN = 10  # px from the view's corner
PAD = 40.0  # scene units around the graph


class Minimap(QWidget):
    def __init__(self, view):
        super().__init__(view.viewport())
        self.view = view
        self.resize(*SIZE)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("Minimap: click or drag to move the view")

    def place(self) -> None:
        """Keep to the bottom-right corner; shown only when the graph does not fit on screen."""
        viewport = self.view.viewport().rect()
        self.move(viewport.width() - SIZE[0] - MARGIN, viewport.height() - SIZE[1] - MARGIN)
        graph = self.view.scene().overview.bounds()
        on_screen = self.view.mapToScene(viewport).boundingRect()
        self.setVisible(not graph.isNull() and not on_screen.contains(graph))
        self.update()

    def _transform(self) -> tuple[QTransform, float] | None:
        """Scene → minimap pixels, and the scale."""
        graph = self.view.scene().overview.bounds().adjusted(-PAD, -PAD, PAD, PAD)
        if graph.isEmpty():
            return None
        scale = min(self.width() / graph.width(), self.height() / graph.height())
        dx = (self.width() - graph.width() * scale) / 2 - graph.left() * scale
        dy = (self.height() - graph.height() * scale) / 2 - graph.top() * scale
        return QTransform(scale, 0, 0, scale, dx, dy), scale

    def paintEvent(self, event) -> None:
        scene = self.view.scene()
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(scene.theme.background).darker(115))
        painter.setPen(scene.theme.pen(scene.theme.grid_major))
        painter.drawRect(self.rect().adjusted(0, 0, -1, -1))
        mapping = self._transform()
        if mapping is None:
            return
        transform, scale = mapping
        painter.setTransform(transform)
        scene.overview.paint(painter, QRectF(), scale)
        painter.setPen(scene.theme.pen(scene.theme.selected, 1.5))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(self.view.mapToScene(self.view.viewport().rect()).boundingRect())

    def mousePressEvent(self, event) -> None:
        self._go(event.position())

    def mouseMoveEvent(self, event) -> None:
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._go(event.position())

    def _go(self, point: QPointF) -> None:
        mapping = self._transform()
        if mapping is not None:
            inverse, _ = mapping[0].inverted()
            self.view.centerOn(inverse.map(point))
            self.view.take_over()
