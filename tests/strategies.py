"""Hypothesis strategies for random chip configurations (structure drawn, arrays seeded)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from neurochip.description import (CoreDescription, CoreParams, Encoder, Layer, NeuronParams,
                                   signed_range, validate, weight_range)


@st.composite
def layers_and_images(draw, max_layers: int = 3, max_width: int = 20):
    n_layers = draw(st.integers(1, max_layers))
    inputs = draw(st.integers(1, max_width))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    layers, prev, prev_name = [], inputs, "input"
    for i in range(n_layers):
        neurons = draw(st.integers(1, max_width))
        wbits = draw(st.integers(1, 8))
        # 2-16 bits, plus the widths where the simulator changes membrane storage
        mbits = draw(st.one_of(st.integers(2, 16), st.sampled_from([15, 16, 17, 30, 31, 32])))
        lo, hi = signed_range(mbits)
        wlo, whi = weight_range(wbits)
        weight = (rng.choice([-1, 1], size=(prev, neurons)) if wbits == 1
                  else rng.integers(wlo, whi + 1, size=(prev, neurons)))
        # thresholds and biases over the whole B-bit range, bounds included
        extremes = np.array([lo, hi, 0, -1, 1])
        threshold = np.where(rng.random(neurons) < 0.2, rng.choice(extremes, neurons),
                             rng.integers(max(lo, -2 * whi), min(hi, 3 * whi) + 1, neurons))
        bias = np.where(rng.random(neurons) < 0.2, rng.choice(extremes, neurons),
                        rng.integers(max(lo, -whi), min(hi, whi) + 1, neurons))
        leak = draw(st.sampled_from(["none", "subtract", "shift"]))
        amount = {"none": 0, "subtract": draw(st.integers(0, hi)),
                  "shift": draw(st.integers(1, mbits - 1))}[leak]
        layers.append(Layer(
            name=f"l{i}", inputs=prev, neurons=neurons, weight_bits=wbits, membrane_bits=mbits,
            overflow=draw(st.sampled_from(["saturate", "wrap"])),
            neuron=NeuronParams(reset=draw(st.sampled_from(["subtract", "zero"])), leak=leak,
                                leak_amount=amount,
                                integration=draw(st.sampled_from(["continuous", "discontinuous"]))),
            core=CoreParams(index=i, lanes=draw(st.integers(1, 9)),
                            fifo_depth=draw(st.sampled_from([1, 2, 3, 5, 16]))),
            weight=weight, threshold=threshold, bias=bias, source=prev_name))
        prev, prev_name = neurons, f"l{i}"
    desc = CoreDescription(
        name="hypothesis", input_shape=(inputs,),
        encoder=Encoder(draw(st.sampled_from(["bernoulli_lfsr", "rate_deterministic", "latency"])),
                        draw(st.integers(0, 2**32 - 1))),
        time_steps=draw(st.integers(1, 6)), clock_hz=1e8,
        count_bits=draw(st.integers(1, 4)), layers=layers)
    validate(desc)
    n_images = draw(st.integers(1, 3))
    images = rng.integers(0, 256, size=(n_images, inputs))
    images[rng.random(images.shape) < 0.3] = 0
    images[rng.random(images.shape) < 0.2] = 255
    return desc, images.astype(np.uint8)
