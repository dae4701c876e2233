"""Synthetic float checkpoints, so quantizer and CLI tests need neither torch nor data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def write_checkpoint(path: Path, sizes=(784, 48, 10), mode="discontinuous", bits=1, T=4,
                     seed=0) -> Path:
    rng = np.random.default_rng(seed)
    meta = {"format": "neurochip-float-checkpoint", "version": 1, "trainer": "ste-bp",
            "mode": mode, "weight_bits": bits, "time_steps": T, "threshold": 1.0,
            "layer_sizes": list(sizes), "encoder": "bernoulli"}
    arrays = {"manifest": np.frombuffer(json.dumps(meta).encode(), np.uint8)}
    for i in range(len(sizes) - 1):
        arrays[f"layer{i}.weight"] = rng.normal(0, 0.08, (sizes[i], sizes[i + 1])).astype(np.float32)
        arrays[f"layer{i}.bias"] = rng.normal(0.3, 0.5, sizes[i + 1]).astype(np.float32)
    np.savez(path, **arrays)
    return path
