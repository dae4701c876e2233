"""The simulator's interleaved encoder (kernel.encode_group) writes exactly the item
streams of encode_image (§11), image by image, for every encoder and group size."""

from __future__ import annotations

import numpy as np
import pytest

from neurochip.sim import kernel


@pytest.mark.parametrize("kind", [kernel.ENC_BERNOULLI, kernel.ENC_RATE, kernel.ENC_LATENCY])
@pytest.mark.parametrize("count", [1, 3, kernel.GROUP])
def test_encode_group_equals_encode_image(kind, count):
    rng = np.random.default_rng(kind * 10 + count)
    T, P = 5, 37
    images = rng.integers(0, 256, size=(9, P)).astype(np.uint8)
    images[0, :5] = 0
    images[1, :5] = 255
    indices = rng.integers(0, 10_000, size=9).astype(np.int64)
    items = np.empty((kernel.GROUP, T * (P + 1)), dtype=np.int64)
    n_items = np.zeros(kernel.GROUP, dtype=np.int64)
    one = np.empty(T * (P + 1), dtype=np.int64)
    for img0 in range(0, 9 - count + 1, 2):
        kernel.encode_group(kind, images, img0, count, T, 7, indices, items, n_items)
        for g in range(count):
            n = kernel.encode_image(kind, images[img0 + g], T, 7, indices[img0 + g], one)
            assert n_items[g] == n
            assert np.array_equal(items[g, :n], one[:n])
