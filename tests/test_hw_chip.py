"""The whole chip in Amaranth's own simulator against the Numba simulator: bit- and
cycle-exact on seeded nasty random networks (tiny FIFOs that fill, saturation, wrap,
every reset/leak/integration mode) before any Verilog is involved."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from neurochip.counters import CORE
from neurochip.description import validate
from neurochip.random_networks import random_description, random_images
from neurochip.sim import simulate
from neurochip.verify.amaranth_run import run_amaranth
from neurochip.verify.compare import compare_image


def check(desc, images) -> np.ndarray:
    sim = simulate(desc, images, record_spikes=True)
    rtl = run_amaranth(desc, images)
    names = [lay.name for lay in desc.layers]
    mismatches = [m for i, r in enumerate(rtl) for m in compare_image(i, r, sim, names)]
    assert not mismatches, "\n".join(map(str, mismatches[:20]))
    return sim.core_counters


SEEDS = range(24)


@pytest.mark.parametrize("seed", SEEDS)
def test_chip_equals_simulator_on_random_network(seed):
    desc = random_description(seed)
    check(desc, random_images(seed, 3, desc.input_size))


def test_random_suite_covers_stalls_saturation_and_wrap():
    """The seeds above really exercise FIFO-full stalls and both overflow modes."""
    stalls = host_stalls = 0
    overflows = set()
    for seed in SEEDS:
        desc = random_description(seed)
        res = simulate(desc, random_images(seed, 3, desc.input_size))
        stalls += int(res.core_counters[:, :, CORE["stall_cycles"]].sum())
        host_stalls += int(res.chip_counters[:, 2].sum())
        overflows |= {lay.overflow for lay in desc.layers}
    assert stalls > 0 and host_stalls > 0
    assert overflows == {"saturate", "wrap"}


@pytest.mark.parametrize("overflow", ["saturate", "wrap"])
def test_depth_one_fifos_and_two_bit_membranes(overflow):
    """Hand-made worst case: every FIFO of depth 1 (stalls everywhere), 2-bit membranes
    hit by 8-bit weights (every add overflows), one lane (K = N)."""
    desc = random_description(4)  # 3 layers
    for lay in desc.layers:
        lay.core = replace(lay.core, fifo_depth=1, lanes=1)
        lay.membrane_bits, lay.weight_bits, lay.overflow = 2, 8, overflow
        lay.threshold = np.clip(lay.threshold, -2, 1)
        lay.bias = np.clip(lay.bias, -2, 1)
        lay.neuron = replace(lay.neuron, leak="none", leak_amount=0)
    validate(desc)
    counters = check(desc, random_images(4, 2, desc.input_size))
    assert counters[:, :-1, CORE["stall_cycles"]].sum() > 0
