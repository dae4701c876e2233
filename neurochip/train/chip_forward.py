"""The trainers' chip forward pass: the simulator's functional path, nothing of its own.

A trainer that learns from spike features must see the spikes the chip will produce, so
it asks the chip for them: :func:`~neurochip.sim.simulator.simulate` with ``timing=False``
(the functional pass of docs/simulator.md; its spikes are the chip's whatever the timing,
docs/architecture.md §4) and ``record_spikes=True``. There is no second integer model
here to keep equal to the first: every kind, neuron model and overflow the simulator
runs, this runs.

* :func:`layer_trains` — one layer's spike trains (n, T, N) for a batch of images, the
  pixels encoded by the description's own encoder (§11) under their split indices (the
  encoded input itself is :func:`~neurochip.sim.simulator.encode_images`).
* :func:`run_layer` — one layer alone on given input spike trains (n, T, P): the layer
  becomes the single core of a description with event input (§11.2), whose host pushes
  exactly those events in §4's order, as the layer's producer core would.

Images run in chunks, so a batch needs memory for one chunk's spike trains of every
layer, not the whole batch's.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from neurochip.description.model import EVENT_INPUT, INPUT, CoreDescription, Encoder, Layer
from neurochip.sim.simulator import simulate

CHUNK = 100  # images per simulator call: bounds the recorded spike trains of a call


def layer_trains(desc: CoreDescription, images: np.ndarray, indices: np.ndarray,
                 layer: str) -> np.ndarray:
    """Spike trains (n, T, N) uint8 of layer ``layer`` of ``desc`` for ``images`` (pixels,
    or event counts for a description with event input) under split ``indices``."""
    j = [lay.name for lay in desc.layers].index(layer)
    n = len(images)
    out = np.empty((n, desc.time_steps, desc.layers[j].neurons), np.uint8)
    for start in range(0, n, CHUNK):
        sl = slice(start, min(n, start + CHUNK))
        res = simulate(desc, images[sl], indices[sl], record_spikes=True, timing=False)
        out[sl] = res.spikes[:, :, res.neuron_offsets[j]:res.neuron_offsets[j + 1]]
    return out


def single_core(layer: Layer, in_shape: tuple[int, ...], time_steps: int) -> CoreDescription:
    """``layer`` as the only core of a chip whose host pushes given events (§11.2) of
    shape ``in_shape`` (its producer's output shape). The host is one stream, so a layer
    of several sources (``add``) cannot run alone: ValueError."""
    if len(layer.sources) != 1:
        raise ValueError(f"layer {layer.name!r} reads {len(layer.sources)} sources; only a "
                         "layer of one source runs alone on given events")
    return CoreDescription(name=f"{layer.name}-alone", input_shape=tuple(in_shape),
                           encoder=Encoder(EVENT_INPUT), time_steps=time_steps, clock_hz=1e8,
                           count_bits=8, layers=[replace(layer, source=INPUT,
                                                         core=replace(layer.core, index=0))])


def run_layer(layer: Layer, in_shape: tuple[int, ...], spikes: np.ndarray) -> np.ndarray:
    """Output spike trains (n, T, N) uint8 of ``layer`` alone on input trains ``spikes``
    (n, T, P) uint8."""
    desc = single_core(layer, in_shape, spikes.shape[1])
    return layer_trains(desc, spikes, np.arange(len(spikes)), layer.name)
