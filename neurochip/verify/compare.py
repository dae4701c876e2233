"""Bit-exact comparison of RTL results against the Numba simulator, with no tolerance.
Every mismatch names image, quantity, layer, neuron and time step and both values."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from neurochip.counters import CHIP_COUNTERS, CORE_COUNTERS
from neurochip.sim.simulator import SimulationResult
from neurochip.verify.readback import ChipImageResult


@dataclass(frozen=True)
class Mismatch:
    image: int
    what: str
    expected: int
    actual: int
    layer: str | None = None
    neuron: int | None = None
    step: int | None = None

    def __str__(self) -> str:
        where = [f"image {self.image}"]
        if self.layer is not None:
            where.append(f"layer {self.layer}")
        if self.neuron is not None:
            where.append(f"neuron {self.neuron}")
        if self.step is not None:
            where.append(f"step {self.step}")
        return f"{', '.join(where)}: {self.what}: simulator {self.expected}, RTL {self.actual}"

    def to_json(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


def compare_image(i: int, rtl: ChipImageResult, sim: SimulationResult,
                  layer_names: list[str]) -> list[Mismatch]:
    """All differences of image ``i`` (index into ``sim``)."""
    out: list[Mismatch] = []

    def check(what: str, exp, act, **where) -> None:
        if int(exp) != int(act):
            out.append(Mismatch(i, what, int(exp), int(act), **where))

    check("cycles (testbench count)", sim.cycles[i], rtl.tb_cycles)
    check("done status", 1, rtl.status & 1)
    check("prediction", sim.predictions[i], rtl.prediction)
    for n, (e, a) in enumerate(zip(sim.counts[i], rtl.counts)):
        check("output spike count", e, a, layer=layer_names[-1], neuron=n)
    for j, name in enumerate(CHIP_COUNTERS):
        check(f"chip counter {name}", sim.chip_counters[i, j], rtl.chip_counters[j])
    for layer, lname in enumerate(layer_names):
        for j, name in enumerate(CORE_COUNTERS):
            check(f"counter {name}", sim.core_counters[i, layer, j], rtl.core_counters[layer, j],
                  layer=lname)
        exp_m = sim.layer_membranes(i, layer)
        for n in np.flatnonzero(exp_m != rtl.membranes[layer]):
            check("final membrane", exp_m[n], rtl.membranes[layer][n], layer=lname, neuron=int(n))
        exp_s = sim.layer_spikes(i, layer)
        for t, n in zip(*np.nonzero(exp_s != rtl.spikes[layer])):
            check("spike", exp_s[t, n], rtl.spikes[layer][t, n], layer=lname, neuron=int(n),
                  step=int(t))
    return out
