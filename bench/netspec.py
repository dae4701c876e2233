"""A core description reduced to plain NumPy arrays, so peers that must not import
neurochip (Brian2 runs in its own environment) get the identical integer network."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np


@dataclass
class LayerSpec:
    """One layer (kind ``fc``, neuron model ``lif``) with the semantics of architecture.md
    §5-§6; ``kind`` and ``model`` select a peer's entry in its backend tables."""

    name: str
    weight: np.ndarray  # (inputs, neurons) int64
    threshold: np.ndarray  # (neurons,) int64
    bias: np.ndarray  # (neurons,) int64
    membrane_bits: int
    overflow: str  # saturate | wrap
    reset: str  # subtract | zero
    leak: str  # none | subtract | shift
    leak_amount: int
    integration: str  # continuous | discontinuous
    kind: str = "fc"
    model: str = "lif"

    @property
    def inputs(self) -> int:
        return int(self.weight.shape[0])

    @property
    def neurons(self) -> int:
        return int(self.weight.shape[1])

    @property
    def membrane_range(self) -> tuple[int, int]:
        return -(1 << (self.membrane_bits - 1)), (1 << (self.membrane_bits - 1)) - 1

    def meta(self) -> dict:
        d = asdict(self)
        for key in ("weight", "threshold", "bias"):
            d.pop(key)
        return d


@dataclass
class NetSpec:
    """The whole network: layers, time steps and readout."""

    name: str
    time_steps: int
    count_max: int
    layers: list[LayerSpec]

    @property
    def classes(self) -> int:
        return self.layers[-1].neurons

    @property
    def total_neurons(self) -> int:
        return sum(lay.neurons for lay in self.layers)

    def offsets(self) -> np.ndarray:
        """Column offsets of each layer in the concatenated (…, total_neurons) spike arrays."""
        return np.concatenate([[0], np.cumsum([lay.neurons for lay in self.layers])]).astype(np.int64)

    def shape_text(self) -> str:
        return "-".join([str(self.layers[0].inputs)] + [str(lay.neurons) for lay in self.layers])

    def to_arrays(self) -> dict[str, np.ndarray]:
        meta = {"name": self.name, "time_steps": self.time_steps, "count_max": self.count_max,
                "layers": [lay.meta() for lay in self.layers]}
        out = {"netspec": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)}
        for i, lay in enumerate(self.layers):
            out[f"layer{i}.weight"] = lay.weight
            out[f"layer{i}.threshold"] = lay.threshold
            out[f"layer{i}.bias"] = lay.bias
        return out

    @classmethod
    def from_arrays(cls, arrays) -> "NetSpec":
        meta = json.loads(bytes(np.asarray(arrays["netspec"], dtype=np.uint8)).decode())
        layers = [LayerSpec(weight=np.asarray(arrays[f"layer{i}.weight"], dtype=np.int64),
                            threshold=np.asarray(arrays[f"layer{i}.threshold"], dtype=np.int64),
                            bias=np.asarray(arrays[f"layer{i}.bias"], dtype=np.int64), **m)
                  for i, m in enumerate(meta["layers"])]
        return cls(meta["name"], int(meta["time_steps"]), int(meta["count_max"]), layers)


def from_description(desc) -> NetSpec:
    """Build a NetSpec from a ``neurochip.description.CoreDescription``."""
    layers = [LayerSpec(name=lay.name, weight=np.asarray(lay.weight, dtype=np.int64),
                        threshold=np.asarray(lay.threshold, dtype=np.int64),
                        bias=np.asarray(lay.bias, dtype=np.int64),
                        membrane_bits=lay.membrane_bits, overflow=lay.overflow,
                        reset=lay.neuron.reset, leak=lay.neuron.leak,
                        leak_amount=lay.neuron.leak_amount, integration=lay.neuron.integration,
                        kind=lay.kind, model=lay.neuron.model)
              for lay in desc.layers]
    return NetSpec(desc.name, desc.time_steps, (1 << desc.count_bits) - 1, layers)


def overflow_free(layer: LayerSpec) -> bool:
    """True when no add of §5/§6 can leave the membrane range, so a peer that cannot
    saturate or wrap is still exact. Proven only for discontinuous layers: every step
    starts from 0, so |m| <= sum |W[:, n]| + |b| and |v - θ| <= that + |θ|."""
    if layer.integration != "discontinuous":
        return False
    lo, hi = layer.membrane_range
    reach = np.abs(layer.weight).sum(axis=0) + np.abs(layer.bias)
    worst = int((reach + np.abs(layer.threshold)).max())
    return -worst >= lo and worst <= hi


def save_workload(path: Path, spec: NetSpec, spikes: np.ndarray, **extra: np.ndarray) -> None:
    """Write network + encoded input spikes ((n, T, P) uint8) for a peer process."""
    np.savez(path, spikes=spikes, **spec.to_arrays(), **extra)


def load_workload(path: Path) -> tuple[NetSpec, np.ndarray, dict[str, np.ndarray]]:
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return NetSpec.from_arrays(arrays), arrays["spikes"], arrays
