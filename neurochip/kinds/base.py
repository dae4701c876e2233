"""What a layer kind declares once, for every backend to read (hls4ml's layer classes with
declared attributes, against which backend templates register)."""

from __future__ import annotations

from typing import Any

import numpy as np

from neurochip.description.fields import Field, Reader


class LayerKind:
    """A layer kind: its connectivity fields, arrays, geometry rules, memory and cost. The
    behaviour per event lives in each backend (reference, Numba kernel section, RTL
    sequencer), registered against ``name``."""

    name: str = ""
    code: int = -1  # equals neurochip.sim.kernel.KIND_<NAME> (checked by a test)
    doc: str = ""
    section: str = ""
    fields: tuple[Field, ...] = ()  # layer-level fields owned by the kind
    aliases: tuple[str, ...] = ()  # older names that still load (v1 'dense' = 'fc')

    def parse(self, reader: Reader) -> dict[str, Any]:
        """The kind's manifest fields as ``Layer`` keyword arguments."""
        return {f.key: f.read(reader) for f in self.fields}

    def manifest(self, layer) -> dict[str, Any]:
        return {f.key: getattr(layer, f.key) for f in self.fields}

    def arrays(self, layer) -> dict[str, tuple[int, ...]]:
        raise NotImplementedError

    def output_size(self, layer) -> int:
        return layer.neurons

    def output_shape(self, layer) -> tuple[int, int, int]:
        """The (H, W, C) map of the layer's output stream (§3)."""
        return (1, 1, layer.neurons)

    def channels(self, layer) -> int:
        """C: neurons per output position; parameters are per channel (§3)."""
        return self.output_shape(layer)[2]

    def positions(self, layer) -> int:
        h, w, _ = self.output_shape(layer)
        return h * w

    def words_per_position(self, layer) -> int:
        """K_c = ceil(C / L): lane words of one output position."""
        return -(-self.channels(layer) // layer.core.lanes)

    def words(self, layer) -> int:
        """K: lane words (update groups) of the core's membrane memory, positions × K_c."""
        return self.positions(layer) * self.words_per_position(layer)

    def validate(self, layer, inputs: list[tuple[str, tuple[int, int, int]]], where: str,
                 origin: str) -> None:
        """Geometry and shape rules; ``inputs`` are (source name, (H, W, C)) in drain order."""
        for f in self.fields:
            f.check(getattr(layer, f.key), where, origin)

    def synapses(self, layer) -> int:
        """Connections the layer computes (input → neuron pairs)."""
        raise NotImplementedError

    def stored_weights(self, layer) -> int:
        """Weights the layer stores (the kernel of a conv2d, the matrix of an fc)."""
        raise NotImplementedError

    def memory_bits(self, layer) -> dict[str, int]:
        """Bits of each memory of the core (``inspect``, static energy)."""
        raise NotImplementedError

    def step_input_bound(self, layer, column_sums: np.ndarray | None = None
                         ) -> np.ndarray | None:
        """Per channel, the largest |sum of the adds| the events of one time step can bring
        to one neuron, when each input address is sent at most once a step (a core's spike
        list; every encoder but ``events``, whose counts the simulator multiplies in); None
        when the kind gives no bound. The no-overflow proofs read it (the simulator's plain
        adds, docs/simulator.md; the bench peers' exactness, bench/netspec.py).

        ``column_sums``: :func:`weight_column_bound` of the layer when the caller has it
        already (the simulator's packer computes it in the pass that narrows the weights);
        a kind bounded by its weight columns returns it instead of reading them again."""
        return None

    def random_geometry(self, rng: np.random.Generator, in_shape) -> dict:
        """Random kind fields for an input map ``in_shape`` (kinds on maps only)."""
        return {}

    def random_weight(self, rng: np.random.Generator, layer_inputs: int, neurons: int,
                      weight_bits: int, geometry: dict | None = None) -> np.ndarray:
        raise NotImplementedError


def weight_column_bound(layer) -> np.ndarray:
    """Σ_r |W[r, c]| per output channel c: the step bound of a kind whose (rows, channels)
    weight array reaches a neuron through each row at most once per input spike (fc: row =
    input address; conv2d: row = (c_in, ky, kx), which one input position supplies to an
    output position; add: row = source)."""
    return np.abs(np.asarray(layer.weight, dtype=np.int64)).sum(axis=0)
