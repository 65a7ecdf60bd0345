"""The catalogue of node types: a plain dict filled by explicit `register(spec)` calls."""

from __future__ import annotations

from .spec import NodeSpec

_SPECS: dict[str, NodeSpec] = {}
_LEGACY: dict[str, str] = {}


def register(spec: NodeSpec) -> NodeSpec:
    """Add `spec` to the catalogue; a type id (or legacy id) may be registered only once."""
    for name in (spec.type_id, *spec.legacy_ids):
        if name in _SPECS or name in _LEGACY:
            raise ValueError(f"node type {name!r} is already registered")
    _SPECS[spec.type_id] = spec
    _LEGACY.update({old: spec.type_id for old in spec.legacy_ids})
    return spec


def get_spec(type_id: str) -> NodeSpec | None:
    """The spec for `type_id` (or one of its legacy names), None when unknown."""
    return _SPECS.get(_LEGACY.get(type_id, type_id))


def all_specs() -> list[NodeSpec]:
    return list(_SPECS.values())


def categories() -> dict[str, list[NodeSpec]]:
    """Specs grouped by category, in registration order — the palette's tree."""
    grouped: dict[str, list[NodeSpec]] = {}
    for spec in _SPECS.values():
        grouped.setdefault(spec.category, []).append(spec)
    return grouped
