"""Persistent preferences (QSettings, INI format): recent files and the chosen theme."""

from __future__ import annotations

from PySide6.QtCore import QSettings

MAX_RECENT = 8


def settings() -> QSettings:
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "Layerloom", "layerloom")


def recent_files() -> list[str]:
    value = settings().value("recent_files", [])
    if isinstance(value, str):  # QSettings returns a lone entry as a plain string
        value = [value]
    return [str(v) for v in value or []]


def add_recent(path: str) -> list[str]:
    files = [path, *(p for p in recent_files() if p != path)][:MAX_RECENT]
    settings().setValue("recent_files", files)
    return files


def theme_name() -> str:
    return str(settings().value("theme", "dark"))


def set_theme_name(name: str) -> None:
    settings().setValue("theme", name)
