"""RTL backends of the layer kinds (``neurochip.kinds``), registered against the kind's
name: the sequencer (address generator) the core shell instantiates and the weight-memory
image ``neurochip rtl`` writes (and the Amaranth simulation loads). A kind without weight
memory (``pool``: its weight is an implicit +1) has no image: its sequencer's
``weight_shape`` is None and ``WEIGHT_IMAGES`` has no entry."""

from __future__ import annotations

from typing import Callable

from neurochip.description import Layer
from neurochip.hw.config import CoreConfig
from neurochip.hw.kinds import add, conv2d, fc, pool
from neurochip.hw.kinds.base import Sequencer

SEQUENCERS: dict[str, type[Sequencer]] = {"fc": fc.FcSequencer,
                                          "conv2d": conv2d.Conv2dSequencer,
                                          "pool": pool.PoolSequencer,
                                          "add": add.AddSequencer}
WEIGHT_IMAGES: dict[str, Callable[[Layer, CoreConfig], list[str]]] = {
    "fc": fc.weight_hex, "conv2d": conv2d.weight_hex, "add": add.weight_hex}


def sequencer(kind: str) -> type[Sequencer]:
    try:
        return SEQUENCERS[kind]
    except KeyError:
        raise NotImplementedError(f"layer kind {kind!r} has no RTL sequencer; this generator "
                                  f"knows {sorted(SEQUENCERS)}") from None


def weight_image(lay: Layer, cfg: CoreConfig) -> list[str] | None:
    """The weight memory's image of a core, or None when its kind has no weight memory."""
    if sequencer(cfg.kind).weight_shape(cfg) is None:
        return None
    return WEIGHT_IMAGES[cfg.kind](lay, cfg)
