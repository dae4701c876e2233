"""RTL backends of the layer kinds (``neurochip.kinds``), registered against the kind's
name: the sequencer the core shell instantiates and the weight-memory image
``neurochip rtl`` writes (and the Amaranth simulation loads)."""

from __future__ import annotations

from typing import Callable

from neurochip.description import Layer
from neurochip.hw.config import CoreConfig
from neurochip.hw.kinds import fc
from neurochip.hw.kinds.base import Sequencer

SEQUENCERS: dict[str, type[Sequencer]] = {"fc": fc.FcSequencer}
WEIGHT_IMAGES: dict[str, Callable[[Layer, CoreConfig], list[str]]] = {"fc": fc.weight_hex}


def sequencer(kind: str) -> type[Sequencer]:
    try:
        return SEQUENCERS[kind]
    except KeyError:
        raise NotImplementedError(f"layer kind {kind!r} has no RTL sequencer; this generator "
                                  f"knows {sorted(SEQUENCERS)}") from None
