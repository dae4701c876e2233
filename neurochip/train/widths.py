"""Register widths of the layers the trainers write: one rule for "how many bits hold this
bound", shared by the quantizer and every trainer that writes a core description."""

from __future__ import annotations

import math

import numpy as np

MAX_MEMBRANE_BITS = 32  # §2


def bits_for(max_abs: float) -> int:
    """Smallest two's-complement width, at least 2, whose range holds −max_abs … max_abs."""
    if isinstance(max_abs, (int, np.integer)):
        magnitude = int(max_abs).bit_length()
    else:
        magnitude = int(math.ceil(math.log2(max_abs + 1)))
    return max(2, magnitude + 1)


def saturating_bits(bound: float) -> int:
    """:func:`bits_for`, at most the chip's widest membrane (a saturating register)."""
    return min(MAX_MEMBRANE_BITS, bits_for(bound))
