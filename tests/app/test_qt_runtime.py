"""Guards against a broken Qt binding: PySide6-Essentials 6.12.0 on Python 3.11 drops None's
reference count on every call that returns nothing, and the app aborts with
`Fatal Python error: none_dealloc` after a few thousand calls. pyproject excludes that release;
this test fails loudly if a broken build is ever installed again."""

import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QPointF  # noqa: E402
from PySide6.QtWidgets import QGraphicsRectItem, QGraphicsScene  # noqa: E402


def test_void_qt_calls_keep_nones_refcount(qapp):
    scene = QGraphicsScene()
    item = QGraphicsRectItem(0, 0, 10, 10)
    scene.addItem(item)
    before = sys.getrefcount(None)
    for i in range(5000):
        item.setPos(QPointF(i, i))  # returns None: the call that leaked on 6.12.0
        item.setZValue(i % 3)
    after = sys.getrefcount(None)
    assert after >= before - 50, f"None's refcount fell by {before - after} over 10,000 void Qt calls"
