"""`neurochip verify`: simulate a batch with the Numba simulator, run the same batch on
the generated RTL, compare everything with no tolerance and summarise."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neurochip.description import CoreDescription
from neurochip.counters import CHIP
from neurochip.observe import Comparison, Mismatch, compare
from neurochip.sim.simulator import SimulationResult, simulate, warm_up
from neurochip.verify.runner import RtlRun, cycle_budget, run_rtl


@dataclass
class VerifyReport:
    """The outcome of one co-verification run (``--json`` prints :meth:`to_json`)."""

    model: str
    content_hash: str
    simulator: str
    images: int
    mismatches: list[Mismatch]  # the first ones in detail (up to compare's limit)
    mismatch_count: int  # every differing value
    cycles_equal: bool
    predictions_equal: bool
    total_cycles: int
    build_seconds: float
    rtl_seconds: float
    sim_seconds: float
    extra: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.mismatch_count == 0

    def to_json(self, limit: int = 50) -> dict:
        return {
            "model": self.model, "hash": self.content_hash, "simulator": self.simulator,
            "images": self.images, "mismatches": self.mismatch_count,
            "cycles_equal": self.cycles_equal, "predictions_equal": self.predictions_equal,
            "total_cycles": self.total_cycles,
            "rtl_build_seconds": round(self.build_seconds, 3),
            "rtl_run_seconds": round(self.rtl_seconds, 3),
            "rtl_images_per_s": _rate(self.images, self.rtl_seconds),
            "rtl_cycles_per_s": _rate(self.total_cycles, self.rtl_seconds),
            "sim_seconds": round(self.sim_seconds, 4),
            "sim_images_per_s": _rate(self.images, self.sim_seconds),
            "first_mismatches": [m.to_json() for m in self.mismatches[:limit]],
            **self.extra,
        }


def _rate(n: float, seconds: float) -> float | None:
    return round(n / seconds, 3) if seconds > 0 else None


def verify(desc: CoreDescription, images: np.ndarray, simulator: str, work_dir: str | Path,
           indices: np.ndarray | None = None, jobs: int = 1) -> VerifyReport:
    """Run both models on ``images`` and compare every output of every image."""
    warm_up(desc)
    sim: SimulationResult = simulate(desc, images, indices=indices, record_spikes=True)
    rtl: RtlRun = run_rtl(desc, images, simulator, work_dir, cycle_budget(sim.cycles),
                          indices=indices, jobs=jobs)
    rtl_obs = rtl.observation
    result: Comparison = compare(sim, rtl_obs, labels=("simulator", "RTL"))
    tb_cycles, chip_cycles = rtl_obs.cycles, rtl_obs.chip_counters[:, CHIP["cycles"]]
    return VerifyReport(
        model=desc.name, content_hash=desc.content_hash(), simulator=simulator,
        images=len(images), mismatches=result.mismatches, mismatch_count=result.count,
        cycles_equal=bool(np.array_equal(tb_cycles, sim.cycles)
                          and np.array_equal(chip_cycles, sim.cycles)),
        predictions_equal=bool(np.array_equal(rtl_obs.predictions, sim.predictions)),
        total_cycles=int(tb_cycles.sum()), build_seconds=rtl.build_seconds,
        rtl_seconds=rtl.run_seconds, sim_seconds=sim.seconds,
        extra={"work_dir": str(rtl.work_dir)})

