"""Memory images of §3: weight words and parameter words of a layer, as ``$readmemh``
hex strings (vectorised, so the 1024-neuron layers pack in well under a second)."""

from __future__ import annotations

import numpy as np

from neurochip.description import Layer
from neurochip.hw.config import CoreConfig

_HEX = np.array(list("0123456789abcdef"))


def lanes_to_hex(fields: np.ndarray, field_bits: int) -> list[str]:
    """Pack (rows, L) unsigned fields, lane l at bits [l·f, (l+1)·f), into hex words."""
    rows, lanes = fields.shape
    shifts = np.arange(field_bits, dtype=np.uint64)
    bits = ((fields.astype(np.uint64)[:, :, None] >> shifts) & np.uint64(1)).astype(np.uint8)
    bits = bits.reshape(rows, lanes * field_bits)  # LSB first
    width = lanes * field_bits
    digits = max(1, -(-width // 4))
    pad = digits * 4 - width
    if pad:
        bits = np.concatenate([bits, np.zeros((rows, pad), np.uint8)], axis=1)
    nibbles = bits.reshape(rows, digits, 4) @ np.array([1, 2, 4, 8], dtype=np.uint8)
    chars = _HEX[nibbles[:, ::-1]]
    return ["".join(row) for row in chars]


def _padded(values: np.ndarray, cfg: CoreConfig) -> np.ndarray:
    """(…, N) → (…, K·L) with disabled lanes 0."""
    out = np.zeros(values.shape[:-1] + (cfg.words * cfg.lanes,), dtype=np.int64)
    out[..., :cfg.neurons] = values
    return out


def weight_hex(lay: Layer, cfg: CoreConfig) -> list[str]:
    """Row a, word k at address a·K + k; 1-bit weights store +1 as 1 and −1 as 0."""
    w = _padded(lay.weight.astype(np.int64), cfg)
    if cfg.weight_bits == 1:
        enc = (w > 0).astype(np.uint64)
    else:
        enc = (w & ((1 << cfg.weight_bits) - 1)).astype(np.uint64)
    return lanes_to_hex(enc.reshape(cfg.inputs * cfg.words, cfg.lanes), cfg.weight_bits)


def param_hex(lay: Layer, cfg: CoreConfig) -> list[str]:
    """Word g: lane l holds threshold at [2Bl, 2Bl+B) and bias at [2Bl+B, 2Bl+2B)."""
    B = cfg.membrane_bits
    mask = (1 << B) - 1
    th = _padded(lay.threshold.astype(np.int64), cfg) & mask
    bias = _padded(lay.bias.astype(np.int64), cfg) & mask
    fields = (bias.astype(np.uint64) << np.uint64(B)) | th.astype(np.uint64)
    return lanes_to_hex(fields.reshape(cfg.words, cfg.lanes), 2 * B)


def as_ints(hex_words: list[str]) -> list[int]:
    return [int(h, 16) for h in hex_words]
