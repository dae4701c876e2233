"""The one seeded generator of random core descriptions, over every layer kind and neuron
model: the property tests (Hypothesis draws the seed and the knobs), the chip-equivalence
suites on every backend and the RTL regression draw their networks here, so a failing
seed reproduces everywhere."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurochip.description import (ENCODERS, OVERFLOWS, CoreDescription, CoreMapping, Encoder,
                                   Layer, validate, weight_range)
from neurochip.kinds import KINDS
from neurochip.neurons import MODELS

FIFO_DEPTHS = (1, 2, 3, 4, 5, 8, 16, 64)
WIDE_MEMBRANES = (15, 16, 17, 30, 31, 32)  # where the simulator changes membrane storage


@dataclass(frozen=True)
class Knobs:
    """What a random network may contain. The defaults give small, deliberately nasty
    networks: narrow membranes that saturate or wrap, tiny FIFOs that fill, every mode."""

    max_inputs: int = 40
    max_neurons: int = 24
    max_layers: int = 3
    max_steps: int = 5
    max_lanes: int = 8
    wide_membranes: bool = False  # also draw B from WIDE_MEMBRANES
    extremes: bool = False  # thresholds and biases on the B-bit bounds too
    kinds: tuple[str, ...] = tuple(KINDS)
    models: tuple[str, ...] = tuple(MODELS)


def random_description(seed: int, knobs: Knobs | None = None, **overrides) -> CoreDescription:
    """A valid random network; ``overrides`` replace single knobs (``max_layers=1``)."""
    k = knobs or Knobs()
    if overrides:
        k = Knobs(**{**k.__dict__, **overrides})
    rng = np.random.default_rng(seed)
    n_layers = int(rng.integers(1, k.max_layers + 1))
    inputs = int(rng.integers(1, k.max_inputs + 1))
    layers = []
    prev, prev_name = inputs, "input"
    for i in range(n_layers):
        kind = KINDS[str(rng.choice(k.kinds))]
        model = MODELS[str(rng.choice(k.models))]
        neurons = int(rng.integers(1, k.max_neurons + 1))
        wbits = int(rng.integers(1, 9))
        mbits = int(rng.integers(max(2, wbits), 17))
        if k.wide_membranes and rng.random() < 0.3:
            mbits = int(rng.choice(WIDE_MEMBRANES))
        weight = kind.random_weight(rng, prev, neurons, wbits)
        params = model.random_params(rng, mbits, weight_range(wbits), neurons, k.extremes)
        layers.append(Layer(
            name=f"l{i}", kind=kind.name, source=prev_name, inputs=prev, neurons=neurons,
            weight_bits=wbits, membrane_bits=mbits, overflow=str(rng.choice(OVERFLOWS)),
            neuron=model.random_settings(rng, mbits, None if k.extremes else 8),
            core=CoreMapping(index=i, lanes=int(rng.integers(1, k.max_lanes + 1)),
                             fifo_depth=int(rng.choice(FIFO_DEPTHS))),
            weight=weight, **params))
        prev, prev_name = kind.output_size(layers[-1]), f"l{i}"
    desc = CoreDescription(
        name=f"random-{seed}", input_shape=(inputs,),
        encoder=Encoder(kind=str(rng.choice(ENCODERS)), seed=int(rng.integers(0, 2**32))),
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
