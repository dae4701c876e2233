"""Moved: the quantizer is :mod:`neurochip.train.quantize`, the width rule
:mod:`neurochip.train.widths`. Kept only for ``neurochip/interchange/nir_foreign.py``
(owned by another change), which imports these two names from here."""

from neurochip.train.widths import MAX_MEMBRANE_BITS
from neurochip.train.widths import bits_for as _bits_for

__all__ = ["MAX_MEMBRANE_BITS", "_bits_for"]
