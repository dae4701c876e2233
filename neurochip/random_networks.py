"""The one seeded generator of random core descriptions, over every layer kind and neuron
model: the property tests (Hypothesis draws the seed and the knobs), the chip-equivalence
suites on every backend and the RTL regression draw their networks here, so a failing
seed reproduces everywhere."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurochip.description import (EVENT_INPUT, PIXEL_ENCODERS, OVERFLOWS, CoreDescription, CoreMapping, Encoder,
                                   Layer, validate, weight_range)
from neurochip.kinds import KINDS
from neurochip.neurons import MODELS
from neurochip.shapes import stream_shape

FIFO_DEPTHS = (1, 2, 3, 4, 5, 8, 16, 64)
WIDE_MEMBRANES = (15, 16, 17, 30, 31, 32)  # where the simulator changes membrane storage


@dataclass(frozen=True)
class Knobs:
    """What a random network may contain. The defaults give small, deliberately nasty
    networks: narrow membranes that saturate or wrap, tiny FIFOs that fill, every mode,
    conv/pool/add on small maps with borders, padding, strides and residual diamonds."""

    max_inputs: int = 40
    max_neurons: int = 24
    max_layers: int = 3
    max_steps: int = 5
    max_lanes: int = 8
    max_side: int = 6  # H and W of spatial inputs
    max_channels: int = 3
    wide_membranes: bool = False  # also draw B from WIDE_MEMBRANES
    extremes: bool = False  # thresholds and biases on the B-bit bounds too
    kinds: tuple[str, ...] = tuple(KINDS)
    models: tuple[str, ...] = tuple(MODELS)
    events: float = 0.25  # probability of event input (§11.2) instead of a pixel encoder


def _input_shape(rng: np.random.Generator, k: Knobs, spatial: bool) -> tuple[int, ...]:
    if not spatial:
        return (int(rng.integers(1, k.max_inputs + 1)),)
    h, w = (int(x) for x in rng.integers(1, k.max_side + 1, 2))
    c = int(rng.integers(1, k.max_channels + 1))
    return (h, w) if c == 1 and rng.random() < 0.5 else (h, w, c)


def _side_stream(rng: np.random.Generator, salt: int = 0x7F5) -> np.random.Generator:
    """A generator seeded from ``rng``'s state (and ``salt``, one per purpose) without
    consuming it: optional draws made on it leave the main stream, and so every seed's
    network, as it was."""
    state = int(rng.bit_generator.state["state"]["state"])
    return np.random.default_rng([state & (2**64 - 1), state >> 64, salt])


DRAWN_TOGETHER = 3  # the first models of ``Knobs.models`` share one side-stream draw


def _pick_model(rng: np.random.Generator, k: Knobs):
    """The first model of ``k.models`` is drawn on the main stream exactly as when it was
    the only model, so adding a model to the registry keeps every seed's kinds, shapes,
    widths and FIFOs (the suites name seeds for what they contain). Of the first
    DRAWN_TOGETHER models, each layer becomes one of the later ones with probability
    (m − 1) / m (m of them), decided and drawn on a side stream seeded from the main
    stream's state without consuming it. Every model after those takes the layer instead
    with probability 1 / (its position, from 1), decided on a side stream of its own (the
    last such model that says yes wins), so the draw stays uniform over the models while
    adding one changes only the layers it takes. Returns (the first model, the side stream
    or None, the model names to draw from on it)."""
    first = MODELS[str(rng.choice(k.models[:1]))]
    for position in range(len(k.models), DRAWN_TOGETHER, -1):
        own = _side_stream(rng, 0x7F5 + position)
        if own.random() < 1 / position:
            return first, own, (k.models[position - 1],)
    together = k.models[:DRAWN_TOGETHER]
    if len(together) == 1:
        return first, None, ()
    side = _side_stream(rng)
    if side.random() < (len(together) - 1) / len(together):
        return first, side, together[1:]
    return first, None, ()


def _layer(rng: np.random.Generator, k: Knobs, kind, name: str, index: int,
           source, in_shape: tuple[int, int, int], geometry: dict | None = None,
           neurons: int | None = None, depth: int | None = None,
           model: str | None = None) -> Layer:
    """One random layer of ``kind`` reading ``in_shape`` (neuron ``model`` drawn unless given,
    all of it on ``rng``)."""
    if model is None:
        model, side, later = _pick_model(rng, k)
    else:
        model, side, later = MODELS[model], None, ()
    wbits = 1 if kind.name == "pool" else int(rng.integers(1, 9))
    mbits = int(rng.integers(max(2, wbits), 17))
    if k.wide_membranes and rng.random() < 0.3:
        mbits = int(rng.choice(WIDE_MEMBRANES))
    inputs = in_shape[0] * in_shape[1] * in_shape[2]
    if kind.name == "fc":
        geometry = {}
        neurons = neurons or int(rng.integers(1, k.max_neurons + 1))
    else:
        if geometry is None:
            geometry = kind.random_geometry(rng, in_shape)
            if kind.name == "conv2d":
                geometry["channels"] = min(geometry["channels"], k.max_channels + 1)
        out = kind.out_shape(geometry)
        neurons = out[0] * out[1] * out[2]
    lay = Layer(name=name, kind=kind.name, source=source, inputs=inputs, neurons=neurons,
                weight_bits=wbits, membrane_bits=mbits, overflow=str(rng.choice(OVERFLOWS)),
                neuron=model.random_settings(rng, mbits, None if k.extremes else 8),
                core=CoreMapping(index=index, lanes=int(rng.integers(1, k.max_lanes + 1)),
                                 fifo_depth=depth or int(rng.choice(FIFO_DEPTHS))),
                weight=kind.random_weight(rng, inputs, neurons, wbits, geometry),
                threshold=np.zeros(0), bias=np.zeros(0), geometry=geometry)
    wspan = (1, 1) if kind.name == "pool" else weight_range(wbits)
    params = model.random_params(rng, mbits, wspan, kind.channels(lay), k.extremes)
    if side is not None:  # a later model: its own draws on the side stream
        other = MODELS[str(side.choice(later))]
        lay.neuron = other.random_settings(side, mbits, None if k.extremes else 8)
        params = other.random_params(side, mbits, wspan, kind.channels(lay), k.extremes)
    lay.threshold = params["threshold"]
    lay.bias = params.get("bias", np.zeros(0, dtype=np.int64))  # ttfs has no bias (§6.1)
    return lay


def random_description(seed: int, knobs: Knobs | None = None, **overrides) -> CoreDescription:
    """A valid random network; ``overrides`` replace single knobs (``max_layers=1``). Layer
    kinds are drawn from ``knobs.kinds``; an ``add`` comes as a residual block: a
    shape-preserving layer on the main path and the add of (main, shortcut), whose shortcut
    FIFO holds exactly one step of its source (the minimum, so it fills); with ``bistable``
    among the models, the shortcut sometimes runs through a synchronous neuron (§6.2)."""
    k = knobs or Knobs()
    if overrides:
        k = Knobs(**{**k.__dict__, **overrides})
    rng = np.random.default_rng(seed)
    n_layers = int(rng.integers(1, k.max_layers + 1))
    spatial = any(name != "fc" for name in k.kinds) and rng.random() < 0.6
    input_shape = _input_shape(rng, k, spatial)
    shape = stream_shape(input_shape)
    layers: list[Layer] = []
    prev = "input"
    while len(layers) < n_layers:
        i = len(layers)
        name = str(rng.choice(k.kinds))
        if name == "add" and i + 2 <= n_layers + 1 and prev != "input":
            main_kind = KINDS["conv2d"] if "conv2d" in k.kinds else KINDS["fc"]
            same = {"in_shape": list(shape), "channels": shape[2], "kernel": [1, 1],
                    "stride": 1, "pad": 0}
            if main_kind.name == "conv2d" and rng.random() < 0.5:
                same.update(kernel=[3, 3], pad=1)
            main = _layer(rng, k, main_kind, f"l{i}", i, prev, shape,
                          geometry=same if main_kind.name == "conv2d" else None,
                          neurons=shape[0] * shape[1] * shape[2])
            if main_kind.name == "fc":  # an fc output is (1, 1, N): only for a 1×1 map
                if shape[:2] != (1, 1):
                    continue
            layers.append(main)
            shortcut, j = prev, i + 1
            side = _side_stream(rng, 0x5E1) if "bistable" in k.models and "pool" in k.kinds else None
            if side is not None and side.random() < 0.4:
                # a synchronous neuron on the shortcut (§6.2): identity pool, bistable, drawn
                # on a side stream so that the main stream (every seed's network) is kept
                sn = _layer(side, k, KINDS["pool"], f"l{j}", j, prev, shape,
                            geometry={"in_shape": list(shape), "window": 1, "stride": 1,
                                      "emit": "every_step"}, model="bistable")
                layers.append(sn)
                shortcut, j = sn.name, j + 1
            need = shape[0] * shape[1] * shape[2] + 1
            layers.append(_layer(rng, k, KINDS["add"], f"l{j}", j, (main.name, shortcut),
                                 shape, geometry={"in_shape": list(shape)},
                                 depth=int(rng.choice([need, need + 3]))))
            prev = f"l{j}"
            continue
        if name == "add":
            name = "fc"
        kind = KINDS[name]
        lay = _layer(rng, k, kind, f"l{i}", i, prev, shape)
        layers.append(lay)
        shape = kind.output_shape(lay)
        prev = f"l{i}"
    encoder = Encoder(kind=str(rng.choice(PIXEL_ENCODERS)), seed=int(rng.integers(0, 2**32)))
    if _side_stream(rng, 0xE7E).random() < k.events:  # drawn aside: every seed's network kept
        encoder = Encoder(kind=EVENT_INPUT, seed=encoder.seed)
    desc = CoreDescription(
        name=f"random-{seed}", input_shape=input_shape, encoder=encoder,
        time_steps=int(rng.integers(1, k.max_steps + 1)), clock_hz=100e6,
        count_bits=int(rng.integers(1, 5)), layers=layers,
        provenance={"generator": "neurochip.random_networks", "seed": seed,
                    "knobs": {key: list(v) if isinstance(v, tuple) else v
                              for key, v in k.__dict__.items()}})
    validate(desc)
    return desc


def random_images(seed: int, count: int, size: int) -> np.ndarray:
    """Pixels with a mix of black, saturated and random values."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, size=(count, size))
    img[rng.random((count, size)) < 0.3] = 0
    img[rng.random((count, size)) < 0.1] = 255
    return img.astype(np.uint8)


def random_events(seed: int, count: int, steps: int, size: int) -> np.ndarray:
    """Event counts (count, steps, size) for event input (§11.2): mostly silent addresses,
    some single events, some bursts of several events at one address in one step (up to
    6, and now and then 255, the largest count), and some silent steps."""
    rng = np.random.default_rng([seed, 0xE7E])
    counts = rng.integers(1, 4, size=(count, steps, size))
    counts[rng.random((count, steps, size)) < 0.7] = 0
    burst = rng.random((count, steps, size)) < 0.05
    counts[burst] = rng.integers(4, 7, size=int(burst.sum()))
    counts[rng.random((count, steps, size)) < 0.002] = 255
    counts[rng.random((count, steps)) < 0.15] = 0
    return counts.astype(np.uint8)


def random_inputs(seed: int, count: int, desc: CoreDescription) -> np.ndarray:
    """``count`` inputs ``desc`` takes: pixels (:func:`random_images`) for a pixel encoder,
    event counts (:func:`random_events`) for event input."""
    if desc.event_input:
        return random_events(seed, count, desc.time_steps, desc.input_size)
    return random_images(seed, count, desc.input_size)
