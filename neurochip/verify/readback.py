"""What the testbench reads back after ``done`` and how the words decode into results.

The plan is an ordered list of debug addresses (docs/rtl-interface.md, "Debug
readback"); the HDL testbench sweeps it after every image and the words come back in
the same order, so decoding needs nothing but the plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from neurochip.counters import CHIP_COUNTERS, CORE_COUNTERS
from neurochip.observe import Observation
from neurochip.hw.config import (CHIP_CYCLES, CHIP_HOST_PUSHES, CHIP_HOST_STALLS,
                                 CHIP_PREDICTION, CHIP_STATUS, DATA_BITS, SPACE_CHIP,
                                 SPACE_COUNT, SPACE_COUNTER, ChipConfig, address,
                                 membrane_address, state_address, trace_address)
from neurochip.neurons import MODELS, get_model, state_fields

_CHIP_OFFSETS = {"cycles": CHIP_CYCLES, "host_pushes": CHIP_HOST_PUSHES,
                 "host_stall_cycles": CHIP_HOST_STALLS}


def _membrane_addresses(c) -> list[int]:
    return [membrane_address(c, n) for n in range(c.neurons)]


def _trace_addresses(c) -> list[int]:
    return [trace_address(c, t, k, s) for t in range(c.time_steps)
            for k in range(c.words) for s in range(c.trace_slices)]


def _signed_words(it, count: int) -> np.ndarray:
    """``count`` readback words, each a sign-extended 32-bit value."""
    v = np.array([next(it) for _ in range(count)], dtype=np.int64)
    return np.where(v >= 1 << 31, v - (1 << 32), v)


def _decode_membranes(it, c, obs: Observation, i: int, off: int) -> None:
    obs.membranes[i, off:off + c.neurons] = _signed_words(it, c.neurons)


def _state_addresses(name: str, c) -> list[int]:
    """Declared state word ``name`` of the core's model (§6.3): space 5 + its index."""
    index = [w.name for w in get_model(c.model).state_words].index(name)
    return [state_address(c, index, n) for n in range(c.neurons)]


def _decode_state(name: str, it, c, obs: Observation, i: int, off: int) -> None:
    """Signed words come back sign-extended, unsigned ones zero-extended."""
    if get_model(c.model).state_word(name).signed:
        values = _signed_words(it, c.neurons)
    else:
        values = np.array([next(it) for _ in range(c.neurons)], dtype=np.int64)
    obs.states[name][i, off:off + c.neurons] = values


def _trace_columns(c) -> np.ndarray:
    """Column g·L + lane of the trace bits (group g, lane) that holds neuron n (§3: neuron
    n = pos·C + ch in word pos·K_c + ch div L, lane ch mod L)."""
    cols = [g * c.lanes + lane for g, lane in map(c.neuron_word, range(c.neurons))]
    return np.array(cols, dtype=np.int64)


def _decode_trace(it, c, obs: Observation, i: int, off: int) -> None:
    """Trace row t·K + g holds the lanes of group g that went out in step t."""
    bits = np.zeros((c.time_steps, c.words * c.lanes), dtype=np.uint8)
    for t in range(c.time_steps):
        for k in range(c.words):
            row = 0
            for s in range(c.trace_slices):
                row |= next(it) << (DATA_BITS * s)
            for lane in range(c.lanes):
                bits[t, k * c.lanes + lane] = (row >> lane) & 1
    obs.spikes[i, :, off:off + c.neurons] = bits[:, _trace_columns(c)]


# observable -> (its debug addresses for a core, its decoder into the Observation); every
# declared state word reads like the membranes, in its own space (§6.3)
OBSERVABLES = {"membranes": (_membrane_addresses, _decode_membranes),
               "spikes": (_trace_addresses, _decode_trace)}


def addresses_of(name: str, c) -> list[int]:
    if name in OBSERVABLES:
        return OBSERVABLES[name][0](c)
    return _state_addresses(name, c)


def decode_into(name: str, it, c, obs: Observation, i: int, off: int) -> None:
    if name in OBSERVABLES:
        OBSERVABLES[name][1](it, c, obs, i, off)
    else:
        _decode_state(name, it, c, obs, i, off)


# backend tables (neurochip.backends): what the sweep reads of each kind and neuron model,
# in sweep order, beyond the §10 counters every core has
# (no kind keeps state of its own to read: the pool's sent bitmap follows from its trace)
KIND_READBACK: dict[str, tuple[str, ...]] = {"fc": (), "conv2d": (), "pool": (), "add": ()}
# a model's readback follows from its declaration (NeuronModel.observables): the
# accumulation register as "membranes", each state word, the trace (from which the fired
# bits of a model that emits once follow)
MODEL_READBACK: dict[str, tuple[str, ...]] = {
    name: tuple(model.observables(SimpleNamespace(neurons=1), 1)) for name, model in MODELS.items()}


def core_observables(c) -> tuple[str, ...]:
    return KIND_READBACK[c.kind] + MODEL_READBACK[c.model]


@dataclass(frozen=True)
class ReadbackPlan:
    cfg: ChipConfig
    addresses: tuple[int, ...]

    @classmethod
    def for_chip(cls, cfg: ChipConfig) -> "ReadbackPlan":
        a: list[int] = [address(SPACE_CHIP, 0, CHIP_STATUS), address(SPACE_CHIP, 0, CHIP_PREDICTION)]
        for name in CHIP_COUNTERS:
            off = _CHIP_OFFSETS[name]
            a += [address(SPACE_CHIP, 0, off), address(SPACE_CHIP, 0, off + 1)]
        for c in cfg.cores:
            a += [address(SPACE_COUNTER, c.index, j) for j in range(2 * len(CORE_COUNTERS))]
            for name in core_observables(c):
                a += addresses_of(name, c)
        a += [address(SPACE_COUNT, cfg.output.index, n) for n in range(cfg.classes)]
        return cls(cfg, tuple(a))

    def decode(self, images: list[tuple[int, list[int]]]) -> Observation:
        """Per image (testbench cycle count, readback words in plan order) → the batch's
        Observation; ``cycles`` is the testbench's own count, ``chip_counters`` the chip's."""
        cfg = self.cfg
        n = len(images)
        total = sum(c.neurons for c in cfg.cores)
        offsets = np.concatenate([[0], np.cumsum([c.neurons for c in cfg.cores])]).astype(np.int64)
        obs = Observation(
            predictions=np.zeros(n, np.int64), counts=np.zeros((n, cfg.classes), np.int64),
            cycles=np.zeros(n, np.int64), done=np.zeros(n, np.int64),
            core_counters=np.zeros((n, len(cfg.cores), len(CORE_COUNTERS)), np.int64),
            chip_counters=np.zeros((n, len(CHIP_COUNTERS)), np.int64),
            membranes=np.zeros((n, total), np.int64),
            states={w.name: np.zeros((n, total), np.int64) for w in state_fields()},
            spikes=np.zeros((n, cfg.time_steps, total), np.uint8),
            neuron_offsets=offsets, layer_names=tuple(c.name for c in cfg.cores))
        for i, (tb_cycles, words) in enumerate(images):
            self._decode_image(obs, i, tb_cycles, words)
        return obs

    def _decode_image(self, obs: Observation, i: int, tb_cycles: int, words: list[int]) -> None:
        if len(words) != len(self.addresses):
            raise ValueError(f"image {i}: readback returned {len(words)} words, expected "
                             f"{len(self.addresses)}")
        it = iter(words)

        def wide() -> int:
            lo, hi = next(it), next(it)
            return lo | (hi << DATA_BITS)

        obs.cycles[i] = tb_cycles
        obs.done[i] = next(it) & 1  # status bit 0
        obs.predictions[i] = next(it)
        obs.chip_counters[i] = [wide() for _ in CHIP_COUNTERS]
        for c, off in zip(self.cfg.cores, obs.neuron_offsets):
            obs.core_counters[i, c.index] = [wide() for _ in CORE_COUNTERS]
            for name in core_observables(c):
                decode_into(name, it, c, obs, i, int(off))
        obs.counts[i] = [next(it) for _ in range(self.cfg.classes)]
