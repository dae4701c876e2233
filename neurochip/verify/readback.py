"""What the testbench reads back after ``done`` and how the words decode into results.

The plan is an ordered list of debug addresses (docs/rtl-interface.md, "Debug
readback"); the HDL testbench sweeps it after every image and the words come back in
the same order, so decoding needs nothing but the plan.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurochip.counters import CHIP_COUNTERS, CORE_COUNTERS
from neurochip.hw.config import (CHIP_CYCLES, CHIP_HOST_PUSHES, CHIP_HOST_STALLS,
                                 CHIP_PREDICTION, CHIP_STATUS, DATA_BITS, SPACE_CHIP,
                                 SPACE_COUNT, SPACE_COUNTER, ChipConfig, address,
                                 membrane_address, trace_address)

_CHIP_OFFSETS = {"cycles": CHIP_CYCLES, "host_pushes": CHIP_HOST_PUSHES,
                 "host_stall_cycles": CHIP_HOST_STALLS}


@dataclass
class ChipImageResult:
    """Everything the RTL reports for one image, shaped like the simulator's outputs."""

    tb_cycles: int  # cycles from the first cycle after clear until done, counted by the TB
    status: int
    prediction: int
    counts: np.ndarray  # (classes,)
    core_counters: np.ndarray  # (layers, 12)
    chip_counters: np.ndarray  # (3,)
    membranes: list[np.ndarray]  # per layer (N,)
    spikes: list[np.ndarray]  # per layer (T, N) uint8


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
            a += [membrane_address(c, n) for n in range(c.neurons)]
            a += [trace_address(c, t, k, s) for t in range(c.time_steps)
                  for k in range(c.words) for s in range(c.trace_slices)]
        a += [address(SPACE_COUNT, cfg.output.index, n) for n in range(cfg.classes)]
        return cls(cfg, tuple(a))

    def decode(self, tb_cycles: int, words: list[int]) -> ChipImageResult:
        if len(words) != len(self.addresses):
            raise ValueError(f"readback returned {len(words)} words, expected {len(self.addresses)}")
        it = iter(words)

        def wide() -> int:
            lo, hi = next(it), next(it)
            return lo | (hi << DATA_BITS)

        status, prediction = next(it), next(it)
        chip = np.array([wide() for _ in CHIP_COUNTERS], dtype=np.int64)
        cfg = self.cfg
        core_ctr = np.zeros((len(cfg.cores), len(CORE_COUNTERS)), dtype=np.int64)
        membranes, spikes = [], []
        for c in cfg.cores:
            core_ctr[c.index] = [wide() for _ in CORE_COUNTERS]
            mem = np.array([next(it) for _ in range(c.neurons)], dtype=np.int64)
            membranes.append(np.where(mem >= 1 << 31, mem - (1 << 32), mem))
            bits = np.zeros((c.time_steps, c.words * c.lanes), dtype=np.uint8)
            for t in range(c.time_steps):
                for k in range(c.words):
                    row = 0
                    for s in range(c.trace_slices):
                        row |= next(it) << (DATA_BITS * s)
                    for lane in range(c.lanes):
                        bits[t, k * c.lanes + lane] = (row >> lane) & 1
            spikes.append(bits[:, :c.neurons])
        counts = np.array([next(it) for _ in range(cfg.classes)], dtype=np.int64)
        return ChipImageResult(tb_cycles, status, prediction, counts, core_ctr, chip,
                               membranes, spikes)
