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

    def words(self, layer) -> int:
        """K: lane words of the core's membrane (and weight-row) memory."""
        raise NotImplementedError

    def validate(self, layer, input_sizes: list[tuple[str, int]], where: str, origin: str) -> None:
        """Geometry and shape rules; ``input_sizes`` are (source name, size) in drain order."""
        for f in self.fields:
            f.check(getattr(layer, f.key), where, origin)

    def synapses(self, layer) -> int:
        """Connections the layer computes (what a dense 32-bit implementation would store)."""
        raise NotImplementedError

    def memory_bits(self, layer) -> dict[str, int]:
        """Bits of each memory of the core (``inspect``, static energy)."""
        raise NotImplementedError

    def random_weight(self, rng: np.random.Generator, layer_inputs: int, neurons: int,
                      weight_bits: int) -> np.ndarray:
        raise NotImplementedError
