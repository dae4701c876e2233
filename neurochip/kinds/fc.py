"""``fc``: a fully connected layer (§3, §5, §8).

An address event a (an input spike) adds row a of the weight matrix to every enabled
neuron: ``m[n] ← ovf(m[n] + W[a, n])``; the core reads the row as K = ceil(N / L) lane
words, one per cycle, so an event costs K + 1 cycles (pop + K). Weight memory: N_in rows
× K words of L·w bits. Its output is the map (1, 1, N): one position of N channels.
"""

from __future__ import annotations

import numpy as np

from neurochip.description.fields import DescriptionError, Field
from neurochip.description.model import MAX_ADDRESS
from neurochip.kinds.base import LayerKind, weight_column_bound


class FcKind(LayerKind):
    name = "fc"
    code = 0
    doc = "fully connected: an input event adds its weight row to every neuron"
    section = "§5.1"
    aliases = ("dense",)
    fields = (
        Field("inputs", int, "size of the input stream (addresses 0 … inputs−1); equals the "
              "source's size", "§2", 1, MAX_ADDRESS),
        Field("neurons", int, "neurons N of the layer", "§2", 1, MAX_ADDRESS),
    )

    def arrays(self, layer) -> dict[str, tuple[int, ...]]:
        return {"weight": (layer.inputs, layer.neurons)}

    def validate(self, layer, inputs, where: str, origin: str) -> None:
        super().validate(layer, inputs, where, origin)
        if len(inputs) != 1:
            raise DescriptionError(f"{origin}: field '{where}.source' names {len(inputs)} "
                                   "sources; an fc layer has exactly one")
        source, shape = inputs[0]
        size = shape[0] * shape[1] * shape[2]
        if layer.inputs != size:
            raise DescriptionError(f"{origin}: field '{where}.inputs' = {layer.inputs} but the "
                                   f"previous stage ({source}) has {size} outputs")

    def step_input_bound(self, layer, column_sums: np.ndarray | None = None) -> np.ndarray:
        return weight_column_bound(layer) if column_sums is None else column_sums

    def synapses(self, layer) -> int:
        return layer.inputs * layer.neurons

    def stored_weights(self, layer) -> int:
        return layer.inputs * layer.neurons

    def memory_bits(self, layer) -> dict[str, int]:
        return {"weight_memory": layer.inputs * self.words(layer) * layer.core.lanes * layer.weight_bits}

    def random_weight(self, rng: np.random.Generator, layer_inputs: int, neurons: int,
                      weight_bits: int, geometry: dict | None = None) -> np.ndarray:
        if weight_bits == 1:
            return rng.choice([-1, 1], size=(layer_inputs, neurons)).astype(np.int64)
        lo, hi = -(1 << (weight_bits - 1)), (1 << (weight_bits - 1)) - 1
        return rng.integers(lo, hi + 1, size=(layer_inputs, neurons)).astype(np.int64)


KIND = FcKind()
