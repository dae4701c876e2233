"""Registry of layer kinds (the connectivity axis of a layer; §5, §12).

Each kind has one definition module; backends register their implementation against the
kind's ``name`` and ``tests/test_registry_complete.py`` fails, naming kind and backend,
when one is missing."""

from __future__ import annotations

from neurochip.kinds import add, conv2d, fc, pool
from neurochip.kinds.base import LayerKind
from neurochip.neurons.base import unknown

KINDS: dict[str, LayerKind] = {k.name: k for k in (fc.KIND, conv2d.KIND, pool.KIND, add.KIND)}
ALIASES: dict[str, str] = {alias: k.name for k in KINDS.values() for alias in k.aliases}


def get_kind(name: str) -> LayerKind:
    try:
        return KINDS[ALIASES.get(name, name)]
    except KeyError:
        raise unknown("layer kind", name, sorted(KINDS)) from None
