"""The convolutional network of the benchmark and synthetic conv networks for the scaling
sweep.

The benchmark's CNN is Yin et al.'s binary network, 28×28 → 12C5 → OR-pool2 → 64C5 →
OR-pool2 → fc 512 → 10 (``neurochip train ste-bp --arch cnn``, quantized by
``neurochip quantize`` into conv2d / pool / fc cores). Until the trained file
``models/ste-bp-mnist-cnn.npz`` exists the harness uses :func:`synthetic_cnn`: the same
topology and the same core mapping as the quantizer produces (lanes min(64, C), FIFO depth
64, saturating discontinuous ``lif``, OR pools with θ = 0 and reset to zero), random ±1
weights, and per-channel thresholds calibrated on the benchmark's own encoded images so
that ~15 % of each layer's neurons fire in a step (:func:`calibrate`). Membranes are wide
enough that no add can overflow (so snnTorch, which cannot saturate, is provably exact).

:func:`forward_currents` is a NumPy model of one discontinuous step of such a chain (every
step starts from 0, so steps are independent): it gives each layer's input currents, from
which the thresholds are chosen. It is used only for calibration; the benchmark checks
every peer against neurochip, not against this."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

CNN_ARCH = "12c5,p2,64c5,p2,512"  # + the 10-class output layer
FIRE_TARGET = 0.15  # fraction of neurons that should fire in a step
CALIBRATION_IMAGES = 64  # the first images of the run choose the thresholds


def bits_for(max_abs: int) -> int:
    """Smallest two's-complement width whose range holds ±max_abs (as the quantizer)."""
    return max(2, int(math.ceil(math.log2(max_abs + 1))) + 1)


# ----------------------------------------------------------------------------- NumPy forward

def _conv_currents(s: np.ndarray, w: np.ndarray, g: dict) -> np.ndarray:
    """§5.2 summed over one step: s (n, H, W, C_in) spikes, w (C_in·kh·kw, C_out) ->
    (n, H_out, W_out, C_out). Windows are (C_in, kh, kw) in row order (c·kh + ky)·kw + kx."""
    kh, kw = g["kernel"]
    p, st = g["pad"], g["stride"]
    x = np.pad(s, ((0, 0), (p, p), (p, p), (0, 0))).astype(np.float32)
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::st, ::st]
    n, ho, wo = win.shape[:3]
    return (win.reshape(n * ho * wo, -1) @ w.astype(np.float32)).reshape(n, ho, wo, -1)


def _pool_currents(s: np.ndarray, g: dict) -> np.ndarray:
    """§5.3 summed over one step: the count of spikes in every p × p window."""
    p, st = g["window"], g["stride"]
    win = np.lib.stride_tricks.sliding_window_view(s.astype(np.float32), (p, p), axis=(1, 2))
    return win[:, ::st, ::st].sum(axis=(-2, -1))


def forward_currents(layer, spikes_in: np.ndarray) -> np.ndarray:
    """Input current (membrane before bias) of every neuron of ``layer`` in one step, from
    its source's spikes (n, H, W, C) -> (n, H_out, W_out, C_out)."""
    if layer.kind == "conv2d":
        return _conv_currents(spikes_in, layer.weight, layer.geometry)
    if layer.kind == "pool":
        return _pool_currents(spikes_in, layer.geometry)
    if layer.kind == "fc":
        flat = spikes_in.reshape(len(spikes_in), -1).astype(np.float32)
        return (flat @ layer.weight.astype(np.float32))[:, None, None, :]
    raise ValueError(f"forward_currents: kind {layer.kind!r} is not part of a chain CNN")


def calibrate(desc, input_spikes: np.ndarray, target: float = FIRE_TARGET) -> list[float]:
    """Set the per-channel thresholds of every conv2d / fc layer of a discontinuous chain so
    that about ``target`` of its neurons fire in a step of ``input_spikes`` ((n, T, P) as
    the chip's encoder makes them); pools keep θ = 0 (OR). Returns the fraction of neurons
    firing per layer under the chosen thresholds."""
    from neurochip.shapes import stream_shape

    h, w, c = stream_shape(desc.input_shape)
    s = input_spikes.reshape(-1, h, w, c)
    fractions = []
    for lay in desc.layers:
        cur = forward_currents(lay, s)
        if lay.kind != "pool":
            per_channel = cur.reshape(-1, cur.shape[-1])
            theta = np.floor(np.quantile(per_channel, 1.0 - target, axis=0)).astype(np.int64)
            lay.threshold = np.maximum(theta, 0)
        fired = cur + 0 > lay.threshold.reshape(1, 1, 1, -1)  # bias 0
        fractions.append(float(fired.mean()))
        s = fired.astype(np.uint8)
    return fractions


# ----------------------------------------------------------------------------- descriptions

def _conv_layer(name: str, index: int, source: str, in_shape, channels: int, kernel: int,
                pad: int, rng: np.random.Generator, weight_bits: int = 1):
    from neurochip.description import CoreMapping, Layer
    from neurochip.kinds import get_kind
    from neurochip.neurons.lif import LifNeuron

    g = {"in_shape": list(in_shape), "channels": channels, "kernel": [kernel, kernel],
         "stride": 1, "pad": pad}
    out = get_kind("conv2d").out_shape(g)
    rows = in_shape[2] * kernel * kernel
    return Layer(name=name, kind="conv2d", source=source, inputs=int(np.prod(in_shape)),
                 neurons=int(np.prod(out)), weight_bits=weight_bits, membrane_bits=2,
                 overflow="saturate",
                 neuron=LifNeuron(reset="subtract", leak="none", integration="discontinuous"),
                 core=CoreMapping(index=index, lanes=min(64, channels), fifo_depth=64),
                 weight=rng.choice([-1, 1], size=(rows, channels)).astype(np.int64),
                 threshold=np.zeros(channels, np.int64), bias=np.zeros(channels, np.int64),
                 geometry=g)


def _pool_layer(name: str, index: int, source: str, in_shape, window: int, emit: str = "every_step"):
    from neurochip.description import CoreMapping, Layer
    from neurochip.kinds import get_kind
    from neurochip.neurons.lif import LifNeuron

    g = {"in_shape": list(in_shape), "window": window, "stride": window, "emit": emit}
    out = get_kind("pool").out_shape(g)
    c = in_shape[2]
    return Layer(name=name, kind="pool", source=source, inputs=int(np.prod(in_shape)),
                 neurons=int(np.prod(out)), weight_bits=1, membrane_bits=bits_for(window * window),
                 overflow="saturate",
                 neuron=LifNeuron(reset="zero", leak="none", integration="discontinuous"),
                 core=CoreMapping(index=index, lanes=min(64, c), fifo_depth=64),
                 weight=np.zeros((0, 0), np.int64), threshold=np.zeros(c, np.int64),
                 bias=np.zeros(c, np.int64), geometry=g)


def _fc_layer(name: str, index: int, source: str, inputs: int, neurons: int,
              rng: np.random.Generator):
    from neurochip.description import CoreMapping, Layer
    from neurochip.neurons.lif import LifNeuron

    return Layer(name=name, kind="fc", source=source, inputs=inputs, neurons=neurons,
                 weight_bits=1, membrane_bits=2, overflow="saturate",
                 neuron=LifNeuron(reset="subtract", leak="none", integration="discontinuous"),
                 core=CoreMapping(index=index, lanes=min(64, neurons), fifo_depth=64),
                 weight=rng.choice([-1, 1], size=(inputs, neurons)).astype(np.int64),
                 threshold=np.zeros(neurons, np.int64), bias=np.zeros(neurons, np.int64))


def conv_chain(stages: list[tuple[int, int, int]], fc: list[int], classes: int = 10,
               time_steps: int = 8, side: int = 28, seed: int = 0, name: str = "synthetic-cnn"):
    """A chain 28×28 → [conv (C, k, pad) → OR-pool 2] per stage → fc ... → classes with
    random ±1 weights and placeholder thresholds (0; see :func:`calibrate`)."""
    from neurochip.description import CoreDescription, Encoder
    from neurochip.kinds import get_kind

    rng = np.random.default_rng(seed)
    layers = []
    shape, prev = (side, side, 1), "input"
    n_conv = n_pool = 0
    for channels, kernel, pad in stages:
        n_conv += 1
        lay = _conv_layer(f"conv{n_conv}", len(layers), prev, shape, channels, kernel, pad, rng)
        layers.append(lay)
        shape, prev = get_kind("conv2d").output_shape(lay), lay.name
        n_pool += 1
        lay = _pool_layer(f"pool{n_pool}", len(layers), prev, shape, 2)
        layers.append(lay)
        shape, prev = get_kind("pool").output_shape(lay), lay.name
    size = int(np.prod(shape))
    for i, n in enumerate(fc + [classes]):
        lay = _fc_layer("out" if i == len(fc) else f"fc{i + 1}", len(layers), prev, size, n, rng)
        layers.append(lay)
        size, prev = n, lay.name
    return CoreDescription(name=name, input_shape=(side, side), encoder=Encoder("bernoulli_lfsr", 1),
                           time_steps=time_steps, clock_hz=100e6,
                           count_bits=max(1, int(time_steps).bit_length()), layers=layers,
                           provenance={"generator": "bench.cnn", "seed": seed})


def finish(desc, input_spikes: np.ndarray, target: float = FIRE_TARGET) -> list[float]:
    """Calibrate the thresholds, then size every membrane so that no add can overflow
    (|m| ≤ Σ|W| per step, discontinuous; as the quantizer sizes them), and validate."""
    from neurochip.description import validate

    fractions = calibrate(desc, input_spikes, target)
    for lay in desc.layers:
        if lay.kind == "pool":
            continue
        reach = int(np.abs(lay.weight).sum(axis=0).max())
        lay.membrane_bits = bits_for(reach + int(np.abs(lay.threshold).max()))
    validate(desc)
    return fractions


def synthetic_cnn(pixels: np.ndarray, indices: np.ndarray | None = None, time_steps: int = 8,
                  seed: int = 0):
    """Yin et al.'s CNN topology with random ±1 weights, thresholds calibrated on
    ``pixels`` ((n, 784) uint8 MNIST images, as the benchmark encodes them). Returns the
    description and the per-layer firing fractions of the calibration."""
    from neurochip.sim.simulator import encode_images

    desc = conv_chain([(12, 5, 0), (64, 5, 0)], [512], time_steps=time_steps, seed=seed,
                      name="synthetic-cnn-12c5-p2-64c5-p2-512-10")
    desc.provenance["note"] = ("stand-in for models/ste-bp-mnist-cnn.npz: random ±1 weights, "
                               f"thresholds calibrated for ~{FIRE_TARGET:.0%} firing")
    pixels, indices = pixels[:CALIBRATION_IMAGES], (None if indices is None else indices[:CALIBRATION_IMAGES])
    fractions = finish(desc, encode_images(desc, pixels, indices))
    desc.provenance["calibration_firing"] = [round(f, 4) for f in fractions]
    return desc, fractions


def write_synthetic_cnn(path: Path, pixels: np.ndarray, indices: np.ndarray | None = None,
                        time_steps: int = 8) -> tuple[Path, list[float]]:
    """Build :func:`synthetic_cnn` and save it as a core description (cached: the same
    images give the same file)."""
    from neurochip.description import save

    desc, fractions = synthetic_cnn(pixels, indices, time_steps)
    path.parent.mkdir(parents=True, exist_ok=True)
    save(desc, path)
    return path, fractions
