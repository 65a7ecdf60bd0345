"""Scrolling a form never edits it: the mouse wheel over a spin box, combo box or slider that does
not have keyboard focus scrolls the form around it instead of changing the value (a user scrolling
the training settings once turned batch size 32 into 31 without noticing).

One application-wide event filter; it lets everything but wheel events through at once.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QAbstractSlider, QAbstractSpinBox, QComboBox

GUARDED = (QAbstractSpinBox, QComboBox, QAbstractSlider)


class WheelGuard(QObject):
    def eventFilter(self, watched, event) -> bool:
        if event.type() != QEvent.Type.Wheel or not isinstance(watched, GUARDED) or watched.hasFocus():
            return False
        # Ignored and filtered: the widget never sees it, and Qt offers it to the parents (the scroll area).
        event.ignore()
        return True


def install_wheel_guard(app) -> WheelGuard:
    """Once per application (every window calls it)."""
    guard = app.findChild(WheelGuard)
    if guard is None:
        guard = WheelGuard(app)
        app.installEventFilter(guard)
    return guard
