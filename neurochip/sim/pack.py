"""Host side of the Numba kernel: a core description flattened into the typed arrays
``neurochip.sim.kernel.simulate_batch`` takes. Each layer kind and neuron model registers
a packer that fills its own columns of the layer table; the FIFO table comes from
``neurochip.graph``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from neurochip.counters import CHIP_COUNTERS, CORE_COUNTERS
from neurochip.description import CoreDescription, Layer, signed_range
from neurochip.graph import Topology
from neurochip.kinds import get_kind
from neurochip.neurons import get_model
from neurochip.sim import kernel

ENCODER_CODES = {"bernoulli_lfsr": kernel.ENC_BERNOULLI, "rate_deterministic": kernel.ENC_RATE,
                 "latency": kernel.ENC_LATENCY}

# the kernel's literal counter columns must be the table's order
assert [CORE_COUNTERS[i] for i in (kernel.C_POPS, kernel.C_PUSHES, kernel.C_WREADS,
                                   kernel.C_SOPS, kernel.C_MREADS, kernel.C_MWRITES,
                                   kernel.C_PREADS, kernel.C_UPDATES, kernel.C_SPIKES,
                                   kernel.C_BUSY, kernel.C_STALL, kernel.C_IDLE)] == list(CORE_COUNTERS)
assert kernel.N_CORE_COUNTERS == len(CORE_COUNTERS)
assert [CHIP_COUNTERS[i] for i in (kernel.CHIP_CYCLES, kernel.CHIP_HOST_PUSHES,
                                   kernel.CHIP_HOST_STALLS)] == list(CHIP_COUNTERS)


def _pack_fc(layer: Layer, row: np.ndarray) -> None:
    """fc uses no kind columns: K and N are common."""


def _pack_lif(layer: Layer, row: np.ndarray) -> None:
    p = layer.neuron
    row[kernel.LIF_RESET] = {"subtract": kernel.LIF_RESET_SUBTRACT,
                             "zero": kernel.LIF_RESET_ZERO}[p.reset]
    row[kernel.LIF_LEAK] = {"none": kernel.LIF_LEAK_NONE, "subtract": kernel.LIF_LEAK_SUBTRACT,
                            "shift": kernel.LIF_LEAK_SHIFT}[p.leak]
    row[kernel.LIF_LEAK_AMOUNT] = p.leak_amount
    row[kernel.LIF_DISCONTINUOUS] = p.integration == "discontinuous"


# backend tables: kind / neuron model name -> (kernel code, packer of its columns)
KIND_PACKERS: dict[str, tuple[int, Callable[[Layer, np.ndarray], None]]] = {
    "fc": (kernel.KIND_FC, _pack_fc),
}
MODEL_PACKERS: dict[str, tuple[int, Callable[[Layer, np.ndarray], None]]] = {
    "lif": (kernel.MODEL_LIF, _pack_lif),
}


@dataclass(frozen=True)
class PackedModel:
    """A core description flattened into the arrays the kernel takes."""

    layer_cfg: np.ndarray  # (layers, N_LAYER_CFG) int64
    weights: np.ndarray  # int8 (w <= 8), every layer's weight array row-major, concatenated
    w_off: np.ndarray
    param_values: np.ndarray  # (MAX_PARAM_FIELDS · total neurons,): the model's param_fields
    n_off: np.ndarray  # neuron offsets, (layers + 1,)
    topology: dict[str, np.ndarray]  # Topology.arrays()
    host_fifo: int
    output_core: int
    enc_kind: int
    seed: int
    time_steps: int
    count_max: int

    @classmethod
    def from_description(cls, desc: CoreDescription) -> "PackedModel":
        topo = Topology.from_description(desc)
        if len(topo.host_fifos) != 1:
            raise ValueError(f"{len(topo.host_fifos)} layers read the input; the simulator's "
                             "host feeds exactly one FIFO")
        rows = []
        n_off = np.concatenate([[0], np.cumsum([lay.neurons for lay in desc.layers])]).astype(np.int64)
        param_values = np.zeros((kernel.MAX_PARAM_FIELDS, int(n_off[-1])), dtype=np.int64)
        for j, lay in enumerate(desc.layers):
            kind, model = get_kind(lay.kind), get_model(lay.neuron.model)
            kind_code, pack_kind = KIND_PACKERS[kind.name]
            model_code, pack_model = MODEL_PACKERS[model.name]
            lo, hi = signed_range(lay.membrane_bits)
            row = np.zeros(kernel.N_LAYER_CFG, dtype=np.int64)
            row[kernel.LC_KIND], row[kernel.LC_MODEL] = kind_code, model_code
            row[kernel.LC_INPUTS] = lay.inputs
            row[kernel.LC_NEURONS] = lay.neurons
            row[kernel.LC_WORDS] = lay.words
            row[kernel.LC_LANES] = lay.core.lanes
            row[kernel.LC_LO], row[kernel.LC_HI] = lo, hi
            row[kernel.LC_WRAP] = lay.overflow == "wrap"
            row[kernel.LC_BITS] = lay.membrane_bits
            pack_kind(lay, row)
            pack_model(lay, row)
            rows.append(row)
            for r, name in enumerate(model.param_fields):
                param_values[r, n_off[j]:n_off[j + 1]] = getattr(lay, name)
        sizes = [lay.weight.size for lay in desc.layers]
        return cls(
            layer_cfg=np.stack(rows),
            weights=np.concatenate([lay.weight.ravel() for lay in desc.layers]).astype(np.int8),
            w_off=np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64),
            param_values=param_values.ravel(),
            n_off=n_off,
            topology=topo.arrays(),
            host_fifo=topo.host_fifos[0],
            output_core=topo.output_core,
            enc_kind=ENCODER_CODES[desc.encoder.kind],
            seed=desc.encoder.seed,
            time_steps=desc.time_steps,
            count_max=(1 << desc.count_bits) - 1,
        )

    def kernel_args(self) -> tuple:
        """The model arguments of simulate_batch, in its order (after the images)."""
        t = self.topology
        return (self.enc_kind, self.seed, self.time_steps, self.count_max, self.layer_cfg,
                self.weights, self.w_off, self.param_values, self.n_off, t["fifo_depth"],
                t["fifo_producer"], t["fifo_consumer"], t["in_ptr"], t["in_fifo"],
                t["out_ptr"], t["out_fifo"], self.host_fifo, self.output_core)
