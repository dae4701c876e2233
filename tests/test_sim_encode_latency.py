"""The simulator's latency encoder (kernel._encode_latency, a counting sort over the steps)
writes exactly §11's item stream: for every step t, the pixels x >= 1 with
((255 − x)·T) div 256 == t in ascending order, then the step's EOS token."""

from __future__ import annotations

import numpy as np
import pytest

from neurochip.sim import kernel


def _stream(pixels: np.ndarray, T: int) -> list[int]:
    out: list[int] = []
    for t in range(T):
        for p, x in enumerate(pixels.astype(np.int64)):
            if x >= 1 and ((255 - x) * T) // 256 == t:
                out.append(p)
        out.append(kernel.EOS)
    return out


@pytest.mark.parametrize("T", [1, 2, 3, 16, 64, 255])
def test_latency_encoder_equals_definition(T):
    rng = np.random.default_rng(T)
    for trial in range(12):
        P = int(rng.integers(1, 300))
        pixels = rng.integers(0, 256, size=P).astype(np.uint8)
        if trial == 0:
            pixels[:] = 0
        elif trial == 1:
            pixels[:] = 255
        elif trial % 2:
            pixels[rng.random(P) < 0.7] = 0
        items = np.full(T * (P + 1), 12345, dtype=np.int64)
        n = kernel.encode_image(kernel.ENC_LATENCY, pixels, T, 0, 0, items)
        assert items[:n].tolist() == _stream(pixels, T)
