"""``add``: a residual add of two maps of the same shape (§5.4, §8, §4 drain order).

Sources 0 and 1 both produce (H, W, C); an event at (y, x, c) from source s adds the
per-channel gain W[s, c] to the one neuron (y, x, c) (an identity mapping with a weight;
a 1×1 mixing of channels is a ``conv2d`` with a 1×1 kernel on that path). Per time step
the core drains all items of source 0 up to its EOS token, then those of source 1, then
updates (§4). Thresholds and biases are per channel.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from neurochip.description.fields import DescriptionError, Field
from neurochip.kinds.base import weight_column_bound
from neurochip.kinds.geometric import GeometricKind, same_shape

SOURCES = 2


class AddKind(GeometricKind):
    name = "add"
    code = 3
    doc = "residual add: an event of source s at (y, x, c) adds the gain W[s, c] to neuron " \
          "(y, x, c); sources drained in order each step"
    section = "§5.4"
    fields = (
        Field("in_shape", list, "the map (H, W, C) both sources produce (and the output)", "§3",
              range_text="3 positive integers, product ≤ 32768"),
    )

    def out_shape(self, g: dict) -> tuple[int, int, int]:
        return tuple(g["in_shape"])  # type: ignore[return-value]

    def arrays(self, layer) -> dict[str, tuple[int, ...]]:
        return {"weight": (SOURCES, self.in_shape(layer)[2])}

    def check_sources(self, layer, inputs, where: str, origin: str) -> None:
        if len(inputs) != SOURCES:
            raise DescriptionError(f"{origin}: field '{where}.source' names {len(inputs)} "
                                   f"sources; an add layer has exactly {SOURCES} (a list, in "
                                   "drain order)")
        for src in inputs:
            same_shape(src, self.in_shape(layer), f"{where}.in_shape", origin)

    def touched(self, layer, address: int, source: int) -> Iterator[tuple[int, int]]:
        """(weight row = source, neuron) of an event: exactly one neuron."""
        yield source, address

    def step_input_bound(self, layer, column_sums: np.ndarray | None = None) -> np.ndarray:
        return weight_column_bound(layer) if column_sums is None else column_sums

    def synapses(self, layer) -> int:
        return SOURCES * layer.neurons

    def stored_weights(self, layer) -> int:
        return SOURCES * self.in_shape(layer)[2]

    def memory_bits(self, layer) -> dict[str, int]:
        return {"weight_memory": SOURCES * self.words_per_position(layer) * layer.core.lanes
                * layer.weight_bits}

    def random_weight(self, rng, layer_inputs, neurons, weight_bits, geometry=None):
        c = geometry["in_shape"][2]
        if weight_bits == 1:
            return rng.choice([-1, 1], size=(SOURCES, c)).astype(np.int64)
        lo, hi = -(1 << (weight_bits - 1)), (1 << (weight_bits - 1)) - 1
        return rng.integers(lo, hi + 1, size=(SOURCES, c)).astype(np.int64)


KIND = AddKind()
