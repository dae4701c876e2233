"""The no-overflow proof of the simulator's plain adds (docs/simulator.md, "Plain adds under
a no-overflow bound").

An accumulation register starts every image at its reset (§9). The layer's kind bounds
what the events of one step can bring to a neuron (``step_input_bound``: each input
address once a step; the ``events`` encoder pushes an address up to 255 times in a step,
§11.2), and its neuron model turns that into a bound on |m| over the whole image
(``register_bound``). When the bound fits B bits (≤ 2^(B−1) − 1), no add of any image can
saturate or wrap: §2's ovf is the identity on every sum, so the adds may be plain integer
adds, in any order. The bound uses magnitudes only, so it holds for every input."""

from __future__ import annotations

import numpy as np

from neurochip.description import MAX_EVENT_COUNT, CoreDescription
from neurochip.kinds import get_kind
from neurochip.neurons import get_model


def register_bound(desc: CoreDescription, layer_index: int, host_fed: bool,
                   column_sums: np.ndarray | None = None) -> int | None:
    """The bound on |m| of layer ``layer_index`` over any image, or None if none is proven.
    ``column_sums``: Σ|W| per weight column, if the caller has it (``step_input_bound``)."""
    layer = desc.layers[layer_index]
    step = get_kind(layer.kind).step_input_bound(layer, column_sums)
    if step is None:
        return None
    if host_fed and desc.event_input:  # an address pushed up to MAX_EVENT_COUNT times a step
        step = step * MAX_EVENT_COUNT
    return get_model(layer.neuron.model).register_bound(layer, step, desc.time_steps)


def never_overflows(desc: CoreDescription, layer_index: int, host_fed: bool,
                    column_sums: np.ndarray | None = None) -> bool:
    """True when no add into the layer's registers can leave B bits, for any image."""
    bound = register_bound(desc, layer_index, host_fed, column_sums)
    bits = desc.layers[layer_index].membrane_bits
    return bound is not None and bound <= (1 << (bits - 1)) - 1
