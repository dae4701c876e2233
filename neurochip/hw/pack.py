"""Memory images of §3 as ``$readmemh`` hex strings (vectorised, so the 1024-neuron layers
pack in well under a second): the lane packer every image uses and the param words of a
neuron model. Weight images belong to the layer kind (``neurochip.hw.kinds``)."""

from __future__ import annotations

import numpy as np

from neurochip.description import Layer
from neurochip.hw.config import CoreConfig
from neurochip.neurons import get_model

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


def padded(values: np.ndarray, cfg: CoreConfig) -> np.ndarray:
    """(…, C) per-channel values → (…, K_c·L) with the disabled lanes 0 (fc: C = N)."""
    out = np.zeros(values.shape[:-1] + (cfg.wpp * cfg.lanes,), dtype=np.int64)
    out[..., :cfg.channels] = values
    return out


def channel_words_hex(rows: np.ndarray, cfg: CoreConfig) -> list[str]:
    """A (R, C) weight array as R rows × K_c words, word r·K_c + k, lane l = channel k·L + l
    (§3); 1-bit weights store +1 as 1 and −1 as 0, wider ones two's complement."""
    w = padded(np.asarray(rows).astype(np.int64).reshape(-1, cfg.channels), cfg)
    if cfg.weight_bits == 1:
        enc = (w > 0).astype(np.uint64)
    else:
        enc = (w & ((1 << cfg.weight_bits) - 1)).astype(np.uint64)
    return lanes_to_hex(enc.reshape(w.shape[0] * cfg.wpp, cfg.lanes), cfg.weight_bits)


def param_hex(lay: Layer, cfg: CoreConfig) -> list[str]:
    """The K_c param words of a layer (parameters are per channel; update group g reads word
    g mod K_c), from its neuron model's ``param_fields``: word k, lane l holds channel
    k·L + l's field i (B bits, two's complement) at bits [l·P + i·B, l·P + (i+1)·B), P = the
    fields' total width, lowest field first (lif: θ at [2Bl, 2Bl+B), b at [2Bl+B, 2Bl+2B))."""
    names = get_model(cfg.model).param_fields
    B = cfg.membrane_bits
    if cfg.param_bits != len(names) * B:
        raise ValueError(f"layer {cfg.name}: {cfg.param_bits}-bit param words do not hold "
                         f"{len(names)} fields of {B} bits")
    mask = (1 << B) - 1
    K_c = cfg.param_words
    lane_words = np.zeros((K_c, cfg.lanes, len(names)), dtype=np.uint64)
    for i, name in enumerate(names):
        field = padded(np.asarray(getattr(lay, name)).astype(np.int64), cfg) & mask
        lane_words[:, :, i] = field.astype(np.uint64).reshape(K_c, cfg.lanes)
    # the fields of one lane are consecutive B-bit fields: pack them as L·|fields| lanes
    return lanes_to_hex(lane_words.reshape(K_c, cfg.lanes * len(names)), B)


def as_ints(hex_words: list[str]) -> list[int]:
    return [int(h, 16) for h in hex_words]
