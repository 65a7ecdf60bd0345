"""The window's layout survives a restart: geometry, which docks are open, where, and their sizes
(QMainWindow's own saveState/restoreState, kept in the app's QSettings).

Saved when the window closes and restored once every dock exists (after the training docks are
installed); a layout saved by an older version with other docks is applied as far as it fits.
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray

from . import settings

STATE_VERSION = 2  # bump when docks are added or renamed: an older saved layout is then ignored


def save_layout(window) -> None:
    store = settings.settings()
    store.setValue("window/geometry", window.saveGeometry())
    store.setValue("window/state", window.saveState(STATE_VERSION))


def restore_layout(window) -> bool:
    """Apply the saved layout; False when there is none (first start) or it does not fit."""
    store = settings.settings()
    geometry, state = store.value("window/geometry"), store.value("window/state")
    if not isinstance(state, QByteArray) or state.isEmpty():
        return False
    if isinstance(geometry, QByteArray):
        window.restoreGeometry(geometry)
    return window.restoreState(state, STATE_VERSION)
