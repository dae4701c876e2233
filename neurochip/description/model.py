"""The core description's data model: what the chip is configured with (§3).

A layer's connectivity is its ``kind`` (``neurochip.kinds``) and its neuron behaviour its
``neuron`` settings, an instance of the settings class of its neuron model
(``neurochip.neurons``); both registries own the fields, arrays and rules of their
members, so this module stays the same when a kind or a model is added."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

FORMAT_NAME = "neurochip-core-description"
FORMAT_VERSION = 1
MAX_ADDRESS = 1 << 15  # FIFO items carry a 15-bit address (§2)
MAX_ARRAY_BYTES = 1 << 30  # refuse anything larger than 1 GiB per array
# the arrays a manifest may declare, counted as int64 (how they are held in memory):
# 128 Mi values, far beyond any chip of this format, well within a workstation
MAX_DESCRIPTION_BYTES = 1 << 30
MAX_MANIFEST_BYTES = 16 << 20  # the JSON manifest
MAX_CLOCK_HZ = 1e12  # clock_hz must lie in (0, MAX_CLOCK_HZ]
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1

PIXEL_ENCODERS = ("bernoulli_lfsr", "rate_deterministic", "latency")  # §11.1: pixels in
EVENT_INPUT = "events"  # §11.2: the host pushes given events (an event camera's), no pixels
MAX_EVENT_COUNT = 255  # §11.2: most events at one address in one step of event input
ENCODERS = PIXEL_ENCODERS + (EVENT_INPUT,)
OVERFLOWS = ("saturate", "wrap")
INPUT = "input"  # the source name of the host's input stream


@dataclass(frozen=True)
class CoreMapping:
    """Where a layer runs and how its core is sized (§3)."""

    index: int
    lanes: int = 32
    fifo_depth: int = 64


@dataclass
class Layer:
    """One layer: common fields, the kind's connectivity and the neuron model's settings.

    ``inputs`` is the size of the layer's input stream (its addresses 0 … inputs−1) and
    ``neurons`` the size of its output; what connects them is the kind's business."""

    name: str
    inputs: int
    neurons: int
    weight_bits: int
    membrane_bits: int
    overflow: str
    neuron: Any  # settings of the neuron model, e.g. neurochip.neurons.lif.LifNeuron
    core: CoreMapping
    weight: np.ndarray  # shape declared by the kind (fc: (inputs, neurons))
    threshold: np.ndarray  # per neuron (fc) or per channel (conv2d, pool, add)
    bias: np.ndarray  # like threshold
    kind: str = "fc"
    source: str | tuple[str, ...] = INPUT  # several sources (add): in drain order
    geometry: dict[str, Any] = field(default_factory=dict)  # the kind's own fields

    @property
    def sources(self) -> tuple[str, ...]:
        """The layers (or ``input``) feeding this one, in drain order (§4)."""
        return (self.source,) if isinstance(self.source, str) else tuple(self.source)

    @property
    def words(self) -> int:
        """K, the lane words of the core (§3); for ``fc`` ceil(N / L)."""
        from neurochip.kinds import get_kind

        return get_kind(self.kind).words(self)

    @property
    def weight_memory_bits(self) -> int:
        """Bits of weight memory including lane padding (§3)."""
        from neurochip.kinds import get_kind

        return get_kind(self.kind).memory_bits(self)["weight_memory"]


@dataclass(frozen=True)
class Encoder:
    kind: str = "bernoulli_lfsr"
    seed: int = 1


@dataclass
class CoreDescription:
    """A whole chip configuration: input, encoder, layers, readout and clock."""

    name: str
    input_shape: tuple[int, ...]
    encoder: Encoder
    time_steps: int
    clock_hz: float
    count_bits: int
    layers: list[Layer]
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def input_size(self) -> int:
        return math.prod(self.input_shape)

    @property
    def classes(self) -> int:
        return self.layers[-1].neurons

    @property
    def event_input(self) -> bool:
        """The host pushes given events (§11.2) instead of encoding pixels (§11)."""
        return self.encoder.kind == EVENT_INPUT

    def manifest(self) -> dict[str, Any]:
        """The JSON manifest (everything except the arrays)."""
        from neurochip.kinds import get_kind

        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "name": self.name,
            "input": {"shape": list(self.input_shape),
                      "encoder": {"kind": self.encoder.kind, "seed": self.encoder.seed}},
            "time_steps": self.time_steps,
            "clock_hz": self.clock_hz,
            "readout": {"kind": "spike_count", "count_bits": self.count_bits,
                        "tie_break": "lowest_index"},
            "layers": [
                {"name": lay.name, "kind": lay.kind,
                 "source": lay.source if isinstance(lay.source, str) else list(lay.source),
                 **get_kind(lay.kind).manifest(lay),
                 "weight_bits": lay.weight_bits, "membrane_bits": lay.membrane_bits,
                 "overflow": lay.overflow, "neuron": asdict(lay.neuron),
                 "core": asdict(lay.core)}
                for lay in self.layers
            ],
            "provenance": self.provenance,
        }

    def arrays(self) -> dict[str, np.ndarray]:
        """Every layer's arrays as stored: weights int8 (1..8-bit weights fit), the
        per-neuron parameter arrays of its neuron model int64."""
        out: dict[str, np.ndarray] = {}
        for lay in self.layers:
            for part in array_shapes(lay):
                arr = getattr(lay, part)
                out[f"{lay.name}.{part}"] = arr.astype(np.int8 if part == "weight" else np.int64)
        return out

    def content_hash(self) -> str:
        """SHA-256 over manifest and arrays: identifies the exact hardware configuration."""
        h = hashlib.sha256(json.dumps(self.manifest(), sort_keys=True).encode())
        for key, arr in sorted(self.arrays().items()):
            h.update(key.encode())
            h.update(np.ascontiguousarray(arr.astype(np.int64)).tobytes())
        return h.hexdigest()


def array_shapes(lay: Layer) -> dict[str, tuple[int, ...]]:
    """The arrays of a layer and their shapes, as its kind and neuron model declare them."""
    from neurochip.kinds import get_kind
    from neurochip.neurons import get_model

    return {**get_kind(lay.kind).arrays(lay), **get_model(lay.neuron.model).arrays(lay)}
