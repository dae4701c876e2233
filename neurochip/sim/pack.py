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
from neurochip.neurons import get_model, state_fields
from neurochip.neurons.state import keeps_sent_bitmap
from neurochip.sim import kernel
from neurochip.sim.overflow_bound import never_overflows

ENCODER_CODES = {"bernoulli_lfsr": kernel.ENC_BERNOULLI, "rate_deterministic": kernel.ENC_RATE,
                 "latency": kernel.ENC_LATENCY, "events": kernel.ENC_EVENTS}

# the kernel's literal counter columns must be the table's order
assert [CORE_COUNTERS[i] for i in (kernel.C_POPS, kernel.C_PUSHES, kernel.C_WREADS,
                                   kernel.C_SOPS, kernel.C_MREADS, kernel.C_MWRITES,
                                   kernel.C_PREADS, kernel.C_UPDATES, kernel.C_SPIKES,
                                   kernel.C_BUSY, kernel.C_STALL, kernel.C_IDLE, kernel.C_ADDR,
                                   kernel.C_BMREADS, kernel.C_BMWRITES)] == list(CORE_COUNTERS)
assert kernel.N_CORE_COUNTERS == len(CORE_COUNTERS)
assert [CHIP_COUNTERS[i] for i in (kernel.CHIP_CYCLES, kernel.CHIP_HOST_PUSHES,
                                   kernel.CHIP_HOST_STALLS)] == list(CHIP_COUNTERS)


def _pack_fc(layer: Layer, row: np.ndarray) -> None:
    """fc uses no kind columns: one position of N channels."""


def _pack_conv2d(layer: Layer, row: np.ndarray) -> None:
    g = layer.geometry
    _, w_in, c_in = g["in_shape"]
    h_out, w_out, _ = get_kind("conv2d").output_shape(layer)
    for col, value in ((kernel.CONV_IN_W, w_in), (kernel.CONV_IN_C, c_in),
                       (kernel.CONV_KH, g["kernel"][0]), (kernel.CONV_KW, g["kernel"][1]),
                       (kernel.CONV_STRIDE, g["stride"]), (kernel.CONV_PAD, g["pad"]),
                       (kernel.CONV_OUT_H, h_out), (kernel.CONV_OUT_W, w_out)):
        row[col] = value


def _pack_pool(layer: Layer, row: np.ndarray) -> None:
    g = layer.geometry
    _, w_in, c_in = g["in_shape"]
    h_out, w_out, _ = get_kind("pool").output_shape(layer)
    for col, value in ((kernel.POOL_IN_W, w_in), (kernel.POOL_IN_C, c_in),
                       (kernel.POOL_WINDOW, g["window"]), (kernel.POOL_STRIDE, g["stride"]),
                       (kernel.POOL_OUT_H, h_out), (kernel.POOL_OUT_W, w_out)):
        row[col] = value


def _pack_add(layer: Layer, row: np.ndarray) -> None:
    """add uses no kind columns: C is common, the source index comes from the scheduler."""


def _pack_lif(layer: Layer, row: np.ndarray) -> None:
    p = layer.neuron
    row[kernel.LIF_RESET] = {"subtract": kernel.LIF_RESET_SUBTRACT,
                             "zero": kernel.LIF_RESET_ZERO}[p.reset]
    row[kernel.LIF_LEAK] = {"none": kernel.LIF_LEAK_NONE, "subtract": kernel.LIF_LEAK_SUBTRACT,
                            "shift": kernel.LIF_LEAK_SHIFT}[p.leak]
    row[kernel.LIF_LEAK_AMOUNT] = p.leak_amount
    row[kernel.LIF_DISCONTINUOUS] = p.integration == "discontinuous"


def _pack_ttfs(layer: Layer, row: np.ndarray) -> None:
    row[kernel.TTFS_RAMP] = layer.neuron.psp == "ramp"
    th = np.asarray(layer.threshold)
    row[kernel.TTFS_UNIFORM] = th.size > 0 and bool(np.all(th == th.flat[0]))


def _pack_bistable(layer: Layer, row: np.ndarray) -> None:
    row[kernel.BIS_PHASE_STEPS] = layer.neuron.phase_steps
    row[kernel.BIS_PHASE] = layer.neuron.phase


def _pack_lif_refractory(layer: Layer, row: np.ndarray) -> None:
    row[kernel.REF_PERIOD] = layer.neuron.refractory


# backend tables: kind / neuron model name -> (kernel code, packer of its columns)
KIND_PACKERS: dict[str, tuple[int, Callable[[Layer, np.ndarray], None]]] = {
    "fc": (kernel.KIND_FC, _pack_fc),
    "conv2d": (kernel.KIND_CONV2D, _pack_conv2d),
    "pool": (kernel.KIND_POOL, _pack_pool),
    "add": (kernel.KIND_ADD, _pack_add),
}
MODEL_PACKERS: dict[str, tuple[int, Callable[[Layer, np.ndarray], None]]] = {
    "lif": (kernel.MODEL_LIF, _pack_lif),
    "ttfs": (kernel.MODEL_TTFS, _pack_ttfs),
    "bistable": (kernel.MODEL_BISTABLE, _pack_bistable),
    "lif_refractory": (kernel.MODEL_LIF_REFRACTORY, _pack_lif_refractory),
}


@dataclass(frozen=True)
class PackedModel:
    """A core description flattened into the arrays the kernel takes."""

    layer_cfg: np.ndarray  # (layers, N_LAYER_CFG) int64
    weights: np.ndarray  # int8 (w <= 8), every layer's weight array row-major, concatenated
    w_off: np.ndarray
    param_values: np.ndarray  # (MAX_PARAM_FIELDS · total channels,): the model's param_fields
    state_reset: np.ndarray  # (S, total neurons) int32: state word i of each layer's model
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
        topo = Topology.from_description(desc)  # refuses all but one reader of the input
        rows = []
        n_off = np.concatenate([[0], np.cumsum([lay.neurons for lay in desc.layers])]).astype(np.int64)
        channels = [get_kind(lay.kind).channels(lay) for lay in desc.layers]
        p_off = np.concatenate([[0], np.cumsum(channels)]).astype(np.int64)
        param_values = np.zeros((kernel.MAX_PARAM_FIELDS, int(p_off[-1])), dtype=np.int64)
        host_fed = {topo.consumer[f] for f in topo.host_fifos}
        sizes = [lay.weight.size for lay in desc.layers]
        w_off = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        weights = np.empty(int(w_off[-1]), dtype=np.int8)  # w <= 8 bits
        # one pass per layer: its int8 weights and Σ|W| per column (the overflow bound's)
        column_sums = [narrow_weights(lay.weight, weights[w_off[j]:w_off[j + 1]])
                       for j, lay in enumerate(desc.layers)]
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
            row[kernel.LC_CHANNELS] = kind.channels(lay)
            row[kernel.LC_POSITIONS] = kind.positions(lay)
            row[kernel.LC_WPP] = kind.words_per_position(lay)
            row[kernel.LC_P0] = p_off[j]
            row[kernel.LC_NO_OVERFLOW] = never_overflows(desc, j, j in host_fed, column_sums[j])
            pack_declaration(lay, row)
            pack_kind(lay, row)
            pack_model(lay, row)
            rows.append(row)
            for r, name in enumerate(model.param_fields):
                param_values[r, p_off[j]:p_off[j + 1]] = getattr(lay, name)
        return cls(
            state_reset=state_reset(desc, n_off),
            layer_cfg=np.stack(rows),
            weights=weights,
            w_off=w_off[:-1],
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
        """The model arguments of simulate_batch, in its order (after the images): the
        packed tables plus three model constants derived once here, not once per chunk of
        images (the convolutions' column-reordered weights, the per-neuron
        parameters and update groups: kernel.flip_conv_weights / expand_params /
        group_table)."""
        t = self.topology
        conv_w = kernel.flip_conv_weights(self.weights, self.w_off, self.layer_cfg)
        params = kernel.expand_params(self.param_values, self.layer_cfg, self.n_off)
        grp = kernel.group_table(self.layer_cfg, self.n_off)
        return (self.enc_kind, self.seed, self.time_steps, self.count_max, self.layer_cfg,
                self.weights, conv_w, self.w_off, params, grp, self.n_off, t["fifo_depth"],
                t["fifo_producer"], t["fifo_consumer"], t["in_ptr"], t["in_fifo"],
                t["out_ptr"], t["out_fifo"], self.host_fifo, self.output_core)

    def state_columns(self, desc: CoreDescription, state_out: np.ndarray) -> dict[str, np.ndarray]:
        """The kernel's state rows ((n, S, total neurons)) as the Observation's declared
        state fields ((n, total neurons) each, 0 where a layer's model lacks the word)."""
        n = state_out.shape[0]
        out = {w.name: np.zeros((n, int(self.n_off[-1])), dtype=np.int64) for w in state_fields()}
        rows = [[w.name for w in get_model(lay.neuron.model).state_words] for lay in desc.layers]
        if rows and all(r == rows[0] for r in rows):  # every layer keeps the same words:
            for r, name in enumerate(rows[0]):  # each field is one row of the kernel's output
                out[name] = np.ascontiguousarray(state_out[:, r, :])  # (a view when S = 1)
            return out
        for j, lay in enumerate(desc.layers):
            cols = slice(int(self.n_off[j]), int(self.n_off[j + 1]))
            for r, word in enumerate(get_model(lay.neuron.model).state_words):
                out[word.name][:, cols] = state_out[:, r, cols]
        return out


def narrow_weights(weight: np.ndarray, out: np.ndarray) -> np.ndarray | None:
    """A layer's weights into ``out`` (int8, row-major) and, for a 2-D (rows, channels)
    array, their Σ|W| per column, in one pass (kernel.narrow_weights); None for a kind
    without a weight matrix (pool: an empty array)."""
    w = np.ascontiguousarray(weight, dtype=np.int64)
    if out.dtype != np.int8 or out.shape != (w.size,):
        raise ValueError(f"weights of shape {w.shape} do not pack into {out.dtype} {out.shape}")
    if w.ndim != 2:
        out[:] = w.ravel()
        return None
    sums = np.zeros(w.shape[1], dtype=np.int64)
    kernel.narrow_weights(w, out, sums)
    return sums


def pack_declaration(layer: Layer, row: np.ndarray) -> None:
    """The columns that follow from the model's state declaration (§6.3)."""
    model = get_model(layer.neuron.model)
    row[kernel.LC_SENT] = keeps_sent_bitmap(layer)
    row[kernel.LC_STATE_WORDS] = len(model.state_words)
    row[kernel.LC_FIRST_SPIKE] = model.decision.first_spike
    if model.decision.first_spike:
        row[kernel.LC_FALLBACK] = [w.name for w in model.state_words].index(model.decision.fallback)


def state_rows(desc: CoreDescription) -> int:
    """S: the most state words one layer's model keeps (rows of the kernel's scratch)."""
    return max(len(get_model(lay.neuron.model).state_words) for lay in desc.layers)


def state_reset(desc: CoreDescription, n_off: np.ndarray) -> np.ndarray:
    """(S, total neurons) int32: row i of layer j's columns holds the reset value of its
    model's state word i (0 beyond the model's words)."""
    out = np.zeros((state_rows(desc), int(n_off[-1])), dtype=np.int32)
    for j, lay in enumerate(desc.layers):
        for r, word in enumerate(get_model(lay.neuron.model).state_words):
            out[r, n_off[j]:n_off[j + 1]] = word.reset
    return out
