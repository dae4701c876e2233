"""Moved to :mod:`neurochip.train.quantize`. Kept only for ``neurochip/interchange/nir_foreign.py``
(owned by another change), which imports ``MAX_MEMBRANE_BITS`` and ``_bits_for`` from here."""

from neurochip.train.quantize import MAX_MEMBRANE_BITS, _bits_for

__all__ = ["MAX_MEMBRANE_BITS", "_bits_for"]
