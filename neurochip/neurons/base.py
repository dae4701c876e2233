"""What a neuron model declares once, for every backend to read (hls4ml's declared layer
attributes, NIR's equation-in-the-docstring)."""

from __future__ import annotations

from typing import Any

import numpy as np

from neurochip.description.fields import DescriptionError, Field, Reader


class NeuronModel:
    """A neuron model: its settings, per-neuron parameter words, validation and the state a
    verification run can observe. Subclasses set the class attributes and override the
    hooks; the update rule itself lives in each backend (reference, Numba, RTL), which
    register against ``name``."""

    name: str = ""
    code: int = -1  # equals neurochip.sim.kernel.MODEL_<NAME> (checked by a test)
    doc: str = ""
    section: str = ""
    settings: type = object  # frozen dataclass stored as ``layer.neuron``
    fields: tuple[Field, ...] = ()  # inside the layer's "neuron" object (besides "model")
    # per-neuron arrays kept in the parameter memory, each B bits, lowest bits first (§3)
    param_fields: tuple[str, ...] = ()
    fires_once = False  # keeps a fired bit per neuron: the core's sent bitmap (§5.3, §6.1)
    second_register = False  # keeps a membrane V beside the accumulation register (§6.1)

    def parse(self, reader: Reader) -> Any:
        return self.settings(model=self.name, **{f.key: f.read(reader) for f in self.fields})

    def arrays(self, layer) -> dict[str, tuple[int, ...]]:
        """One value per channel (per neuron for fc, whose channels are its neurons)."""
        from neurochip.kinds import get_kind

        return {name: (get_kind(layer.kind).channels(layer),) for name in self.param_fields}

    def param_word_bits(self, layer) -> int:
        """Bits of one neuron's parameter word (one lane of a parameter-memory word)."""
        return len(self.param_fields) * layer.membrane_bits

    def validate(self, layer, where: str, origin: str) -> None:
        """Cross-field rules of the settings; raise DescriptionError naming field and fix."""
        for f in self.fields:
            f.check(getattr(layer.neuron, f.key), f"{where}.neuron", origin)

    def observables(self, layer, time_steps: int) -> dict[str, tuple[int, ...]]:
        """Per-image state a verification run reads back and compares, with shapes."""
        return {"membranes": (layer.neurons,), "spikes": (time_steps, layer.neurons)}

    def random_settings(self, rng: np.random.Generator, membrane_bits: int) -> Any:
        raise NotImplementedError

    def random_params(self, rng: np.random.Generator, layer_bits: int, weight_span: tuple[int, int],
                      neurons: int, extremes: bool) -> dict[str, np.ndarray]:
        raise NotImplementedError


def unknown(kind: str, name: str, known: list[str]) -> DescriptionError:
    return DescriptionError(f"unknown {kind} {name!r}; this neurochip knows {known}")
