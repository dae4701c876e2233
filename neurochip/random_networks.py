"""Seeded random core descriptions: the randomized suites of the property tests and of
RTL co-verification draw their networks from here, so a failing seed reproduces."""

from __future__ import annotations

import numpy as np

from neurochip.description import (CoreDescription, CoreParams, Encoder, Layer, NeuronParams,
                                   LEAKS, OVERFLOWS, RESETS, INTEGRATIONS, signed_range,
                                   validate, weight_range)


def random_description(seed: int, max_inputs: int = 40, max_neurons: int = 24,
                       max_layers: int = 3, max_steps: int = 5) -> CoreDescription:
    """A valid, deliberately nasty network: narrow membranes that saturate or wrap, tiny
    FIFOs that fill, every reset/leak/integration mode, thresholds that may be negative."""
    rng = np.random.default_rng(seed)
    n_layers = int(rng.integers(1, max_layers + 1))
    inputs = int(rng.integers(1, max_inputs + 1))
    layers = []
    prev, prev_name = inputs, "input"
    for i in range(n_layers):
        neurons = int(rng.integers(1, max_neurons + 1))
        wbits = int(rng.integers(1, 9))
        mbits = int(rng.integers(max(2, wbits), 17))
        lo, hi = signed_range(mbits)
        wlo, whi = weight_range(wbits)
        if wbits == 1:
            weight = rng.choice([-1, 1], size=(prev, neurons))
        else:
            weight = rng.integers(wlo, whi + 1, size=(prev, neurons))
        span = max(1, min(hi, 4 * (whi - wlo)))
        threshold = rng.integers(max(lo, -span // 4), min(hi, span) + 1, size=neurons)
        bias = rng.integers(max(lo, -span // 2), min(hi, span // 2) + 1, size=neurons)
        leak = str(rng.choice(LEAKS))
        amount = {"none": 0, "subtract": int(rng.integers(0, min(hi, 8) + 1)),
                  "shift": int(rng.integers(1, mbits))}[leak]
        layers.append(Layer(
            name=f"l{i}", inputs=prev, neurons=neurons, weight_bits=wbits,
            membrane_bits=mbits, overflow=str(rng.choice(OVERFLOWS)),
            neuron=NeuronParams(reset=str(rng.choice(RESETS)), leak=leak, leak_amount=amount,
                                integration=str(rng.choice(INTEGRATIONS))),
            core=CoreParams(index=i, lanes=int(rng.integers(1, 9)),
                            fifo_depth=int(rng.choice([1, 2, 3, 4, 8, 64]))),
            weight=weight.astype(np.int64), threshold=threshold.astype(np.int64),
            bias=bias.astype(np.int64), source=prev_name))
        prev, prev_name = neurons, f"l{i}"
    desc = CoreDescription(
        name=f"random-{seed}", input_shape=(inputs,),
        encoder=Encoder(kind=str(rng.choice(["bernoulli_lfsr", "rate_deterministic", "latency"])),
                        seed=int(rng.integers(0, 2**32))),
        time_steps=int(rng.integers(1, max_steps + 1)), clock_hz=100e6,
        count_bits=int(rng.integers(1, 5)), layers=layers,
        provenance={"generator": "neurochip.random_networks", "seed": seed})
    validate(desc)
    return desc


def random_images(seed: int, count: int, size: int) -> np.ndarray:
    """Pixels with a mix of black, saturated and random values."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, size=(count, size))
    img[rng.random((count, size)) < 0.3] = 0
    img[rng.random((count, size)) < 0.1] = 255
    return img.astype(np.uint8)
