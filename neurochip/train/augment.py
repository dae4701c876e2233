"""Image augmentation shared by the trainers that move their training images (hb-stdp's
readout copies, bs4nn's ``--augment-shift``)."""

from __future__ import annotations

import numpy as np


def shifted(images: np.ndarray, shift: int, rng: np.random.Generator) -> np.ndarray:
    """Each image ((n, h, w)) moved by (dy, dx) uniform in ±``shift`` (integers, one draw of
    ``rng`` for all), zero-filled."""
    n, h, w = images.shape
    pad = np.pad(images, ((0, 0), (shift, shift), (shift, shift)))
    d = rng.integers(-shift, shift + 1, size=(n, 2))
    out = np.empty_like(images)
    for i, (dy, dx) in enumerate(d):
        out[i] = pad[i, shift - dy:shift - dy + h, shift - dx:shift - dx + w]
    return out
