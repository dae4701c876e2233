"""The chip's functional forward pass (docs/architecture.md §5, §6) for trainers.

A trainer that learns from spike features must see the spikes the chip will produce, so
this module runs a :class:`~neurochip.description.CoreDescription` layer by layer and time
step by time step with the chip's integer arithmetic: events applied in §4 order
(ascending address; an ``add`` drains source 0, then source 1), the ``saturate`` overflow
after every add (§2), and the ``lif`` update of §6. It is functional only (no cycles):
the functional result does not depend on timing (§4), so it must equal the cycle-accurate
simulator's spikes bit for bit (tests/test_hb_stdp.py checks it). It is a Numba
kernel per kind, event-driven (cost follows spikes), and handles exactly what the
ReStoCNet trainer builds: kinds ``conv2d``, ``pool``, ``add``, ``fc``; model ``lif``;
overflow ``saturate``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from neurochip.description.model import CoreDescription, Layer
from neurochip.sim.kernel import LIF_LEAK_NONE, LIF_LEAK_SHIFT, LIF_LEAK_SUBTRACT

# the kernel's lif leak codes (one set of codes: neurochip.sim.kernel)
LEAK_NONE, LEAK_SUBTRACT, LEAK_SHIFT = LIF_LEAK_NONE, LIF_LEAK_SUBTRACT, LIF_LEAK_SHIFT
_LEAKS = {"none": LEAK_NONE, "shift": LEAK_SHIFT, "subtract": LEAK_SUBTRACT}


class ForwardError(ValueError):
    """A description this functional forward does not cover."""


@njit(cache=True, inline="always")
def _sat(v: int, lo: int, hi: int) -> int:
    return lo if v < lo else (hi if v > hi else v)


@njit(cache=True)
def lif_update(m: np.ndarray, channels: int, theta: np.ndarray, bias: np.ndarray, lo: int,
               hi: int, reset_zero: bool, leak: int, lam: int, continuous: bool,
               out: np.ndarray) -> None:
    """§6 on every neuron of a layer (neuron n is channel n mod ``channels``); writes the
    fired bits to ``out`` (uint8)."""
    for n in range(m.shape[0]):
        ch = n % channels
        v = _sat(m[n] + bias[ch], lo, hi)
        th = theta[ch]
        fire = v > th
        if fire:
            v = 0 if reset_zero else _sat(v - th, lo, hi)
        if leak == LEAK_SHIFT:
            v = v - (v >> lam)
        elif leak == LEAK_SUBTRACT:
            if v > 0:
                v = max(v - lam, 0)
            elif v < 0:
                v = min(v + lam, 0)
        m[n] = v if continuous else 0
        out[n] = 1 if fire else 0


@njit(cache=True)
def conv_accumulate(spikes: np.ndarray, m: np.ndarray, weight: np.ndarray, width: int,
                    c_in: int, kh: int, kw: int, stride: int, pad: int, h_out: int,
                    w_out: int, lo: int, hi: int) -> None:
    """§5.2: every event of one step (``spikes`` (P_in,) uint8) in ascending address."""
    c_out = weight.shape[1]
    for a in range(spikes.shape[0]):
        if spikes[a] == 0:
            continue
        y = a // (width * c_in)
        x = (a // c_in) % width
        c = a % c_in
        for oy in range(h_out):
            ky = y + pad - oy * stride
            if ky < 0 or ky >= kh:
                continue
            for ox in range(w_out):
                kx = x + pad - ox * stride
                if kx < 0 or kx >= kw:
                    continue
                r = (c * kh + ky) * kw + kx
                base = (oy * w_out + ox) * c_out
                for ch in range(c_out):
                    m[base + ch] = _sat(m[base + ch] + weight[r, ch], lo, hi)


@njit(cache=True)
def pool_accumulate(spikes: np.ndarray, m: np.ndarray, width: int, channels: int, window: int,
                    stride: int, h_out: int, w_out: int, lo: int, hi: int) -> None:
    """§5.3: the implicit unit weight to every window holding the event."""
    for a in range(spikes.shape[0]):
        if spikes[a] == 0:
            continue
        y = a // (width * channels)
        x = (a // channels) % width
        c = a % channels
        for oy in range(h_out):
            dy = y - oy * stride
            if dy < 0 or dy >= window:
                continue
            for ox in range(w_out):
                dx = x - ox * stride
                if dx < 0 or dx >= window:
                    continue
                n = (oy * w_out + ox) * channels + c
                m[n] = _sat(m[n] + 1, lo, hi)


@njit(cache=True)
def add_accumulate(spikes: np.ndarray, m: np.ndarray, gain: np.ndarray, lo: int, hi: int
                   ) -> None:
    """§5.4: one source's events; ``gain`` is W[s, :] (per channel)."""
    channels = gain.shape[0]
    for a in range(spikes.shape[0]):
        if spikes[a] != 0:
            m[a] = _sat(m[a] + gain[a % channels], lo, hi)


@njit(cache=True)
def fc_accumulate(spikes: np.ndarray, m: np.ndarray, weight: np.ndarray, lo: int, hi: int
                  ) -> None:
    """§5.1: weight row a to every neuron."""
    for a in range(spikes.shape[0]):
        if spikes[a] == 0:
            continue
        for n in range(m.shape[0]):
            m[n] = _sat(m[n] + weight[a, n], lo, hi)


def bounds(layer: Layer) -> tuple[int, int]:
    """The B-bit two's-complement range of a layer's membrane (§2)."""
    b = layer.membrane_bits
    return -(1 << (b - 1)), (1 << (b - 1)) - 1


def check_supported(desc: CoreDescription) -> None:
    """ForwardError unless every layer is lif + saturate of a kind handled here."""
    for lay in desc.layers:
        if lay.neuron.model != "lif":
            raise ForwardError(f"layer {lay.name!r}: neuron model {lay.neuron.model!r}; the "
                               "functional forward covers 'lif' only")
        if lay.overflow != "saturate":
            raise ForwardError(f"layer {lay.name!r}: overflow {lay.overflow!r}; the functional "
                               "forward covers 'saturate' only")
        if lay.kind not in ("conv2d", "pool", "add", "fc"):
            raise ForwardError(f"layer {lay.name!r}: kind {lay.kind!r} is not covered")


def _channels(lay: Layer) -> int:
    if lay.kind == "fc":
        return lay.neurons
    if lay.kind == "conv2d":
        return int(lay.geometry["channels"])
    return int(lay.geometry["in_shape"][2])


def _accumulate(lay: Layer, srcs: list[np.ndarray], m: np.ndarray, lo: int, hi: int) -> None:
    g = lay.geometry
    if lay.kind == "conv2d":
        h, w, c = g["in_shape"]
        kh, kw = g["kernel"]
        s, p = int(g["stride"]), int(g["pad"])
        h_out, w_out = (h + 2 * p - kh) // s + 1, (w + 2 * p - kw) // s + 1
        conv_accumulate(srcs[0], m, lay.weight, w, c, kh, kw, s, p, h_out, w_out, lo, hi)
    elif lay.kind == "pool":
        h, w, c = g["in_shape"]
        win, s = int(g["window"]), int(g["stride"])
        pool_accumulate(srcs[0], m, w, c, win, s, (h - win) // s + 1, (w - win) // s + 1,
                        lo, hi)
    elif lay.kind == "add":
        for j, sp in enumerate(srcs):
            add_accumulate(sp, m, lay.weight[j], lo, hi)
    else:
        fc_accumulate(srcs[0], m, lay.weight, lo, hi)


def run_image(desc: CoreDescription, in_spikes: np.ndarray,
              weights: dict[str, np.ndarray] | None = None,
              upto: str | None = None) -> dict[str, np.ndarray]:
    """Spike trains (T, N) uint8 of every layer for one image's input spikes (T, P),
    stopping after layer ``upto`` if given.

    ``weights`` may override layers' weight arrays (int64) without rebuilding the
    description. A pool with ``emit = once`` is refused (the trainer does not build one)."""
    T = desc.time_steps
    out: dict[str, np.ndarray] = {"input": np.ascontiguousarray(in_spikes, dtype=np.uint8)}
    for lay in desc.layers:
        if lay.kind == "pool" and lay.geometry.get("emit", "every_step") != "every_step":
            raise ForwardError(f"layer {lay.name!r}: emit once is not covered")
        lo, hi = bounds(lay)
        m = np.zeros(lay.neurons, np.int64)
        spikes = np.zeros((T, lay.neurons), np.uint8)
        if weights is not None and lay.name in weights:
            lay = _with_weight(lay, weights[lay.name])
        p = lay.neuron
        leak = _LEAKS[p.leak]
        chans = _channels(lay)
        theta = np.ascontiguousarray(lay.threshold, np.int64)
        bias = np.ascontiguousarray(lay.bias, np.int64)
        for t in range(T):
            _accumulate(lay, [out[s][t] for s in lay.sources], m, lo, hi)
            lif_update(m, chans, theta, bias, lo, hi, p.reset == "zero", leak,
                       int(p.leak_amount), p.integration == "continuous", spikes[t])
        out[lay.name] = spikes
        if lay.name == upto:
            break
    return out


def _with_weight(lay: Layer, weight: np.ndarray) -> Layer:
    from dataclasses import replace

    return replace(lay, weight=np.ascontiguousarray(weight, np.int64))


def encode(desc: CoreDescription, images: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """The chip's input spikes (n, T, P) uint8 for images with their split indices (§11)."""
    from neurochip.sim.simulator import encode_images

    return encode_images(desc, images, indices)
