"""Input encoders of §11, in plain Python: the reference every faster encoder must match."""

from __future__ import annotations

import numpy as np

LFSR_MASK = 0x80200003  # x^32 + x^22 + x^2 + x + 1, right-shifting Galois form
MASK32 = 0xFFFFFFFF


def lfsr_seed(seed: int, image_index: int) -> int:
    """Initial LFSR state of one image (§11); never 0, which would lock the LFSR."""
    s = (seed * 0x9E3779B1 + (image_index + 1) * 0x85EBCA77) & MASK32
    return s if s else 1


def lfsr_step(s: int) -> int:
    out = s & 1
    s >>= 1
    return s ^ LFSR_MASK if out else s


def encode_bernoulli_lfsr(pixels: np.ndarray, time_steps: int, seed: int,
                          image_index: int) -> np.ndarray:
    """Bernoulli rate code: pixel p fires in step t iff an 8-bit LFSR draw is < x_p."""
    flat = np.asarray(pixels, dtype=np.int64).ravel()
    spikes = np.zeros((time_steps, flat.size), dtype=bool)
    s = lfsr_seed(seed, image_index)
    for t in range(time_steps):
        for p in range(flat.size):
            for _ in range(8):
                s = lfsr_step(s)
            spikes[t, p] = (s & 0xFF) < flat[p]
    return spikes


def encode_rate_deterministic(pixels: np.ndarray, time_steps: int) -> np.ndarray:
    """Phase-accumulator rate code: x/256 spikes per step, evenly spaced."""
    flat = np.asarray(pixels, dtype=np.int64).ravel()
    t = np.arange(time_steps, dtype=np.int64)[:, None]
    return ((t + 1) * flat) // 256 > (t * flat) // 256


def encode_latency(pixels: np.ndarray, time_steps: int) -> np.ndarray:
    """Time-to-first-spike code: brighter pixels fire earlier, once; black never."""
    flat = np.asarray(pixels, dtype=np.int64).ravel()
    fire_step = ((255 - flat) * time_steps) // 256
    t = np.arange(time_steps, dtype=np.int64)[:, None]
    return (t == fire_step[None, :]) & (flat[None, :] >= 1)


def host_addresses(step_counts: np.ndarray) -> np.ndarray:
    """The addresses the host pushes in one step (§4, §11.2), in order: ascending address,
    address p repeated ``step_counts[p]`` times back to back. A pixel encoder's step (0 or 1
    per address) is just its firing addresses, ascending."""
    counts = np.asarray(step_counts).ravel()
    return np.repeat(np.arange(counts.size, dtype=np.int64), counts.astype(np.int64))


def encode(kind: str, pixels: np.ndarray, time_steps: int, seed: int,
           image_index: int) -> np.ndarray:
    """Dispatch on the encoder kind of the core description; returns (T, P): bool for the
    pixel encoders, the event counts for event input (§11.2)."""
    if kind == "bernoulli_lfsr":
        return encode_bernoulli_lfsr(pixels, time_steps, seed, image_index)
    if kind == "rate_deterministic":
        return encode_rate_deterministic(pixels, time_steps)
    if kind == "latency":
        return encode_latency(pixels, time_steps)
    if kind == "events":  # §11.2: given counts, (T, P), nothing to encode
        counts = np.asarray(pixels, dtype=np.int64)
        return counts.reshape(time_steps, counts.size // time_steps)
    raise ValueError(f"unknown encoder kind {kind!r}")
