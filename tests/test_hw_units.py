"""Accumulator lanes, neuron-update unit and spike counters against the golden
reference's arithmetic (§2, §5, §6), exhaustively over modes, in Amaranth's simulator."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from amaranth.sim import Simulator

from neurochip.description import CoreParams, Layer, NeuronParams, signed_range, weight_range
from neurochip.golden.reference import accumulate, neuron_update
from neurochip.hw.lanes import AccumulatorLanes
from neurochip.hw.neuron import NeuronMode, NeuronUpdate
from neurochip.hw.spike_counters import SpikeCounters

LANES = 8


def pack(values, bits: int) -> int:
    word = 0
    for i, v in enumerate(values):
        word |= (int(v) & ((1 << bits) - 1)) << (i * bits)
    return word


def unpack(word: int, bits: int, n: int) -> np.ndarray:
    out = [(word >> (i * bits)) & ((1 << bits) - 1) for i in range(n)]
    return np.array([v - (1 << bits) if v >> (bits - 1) else v for v in out], dtype=np.int64)


def comb_run(dut, vectors, apply, read) -> list:
    """Apply each vector, let the combinational logic settle, read the outputs."""
    results = []

    async def tb(ctx):
        for vec in vectors:
            apply(ctx, vec)
            await ctx.delay(1e-9)
            results.append(read(ctx))

    sim = Simulator(dut)
    sim.add_testbench(tb)
    sim.run()
    return results


def layer(wbits: int, mbits: int, ovf: str, reset="subtract", leak="none", lam=0,
          integ="continuous", neurons=LANES) -> Layer:
    return Layer(name="l", inputs=1, neurons=neurons, weight_bits=wbits, membrane_bits=mbits,
                 overflow=ovf, neuron=NeuronParams(reset=reset, leak=leak, leak_amount=lam,
                                                   integration=integ),
                 core=CoreParams(index=0, lanes=LANES, fifo_depth=1),
                 weight=np.zeros((1, neurons), np.int64), threshold=np.zeros(neurons, np.int64),
                 bias=np.zeros(neurons, np.int64))


@pytest.mark.parametrize("wbits,mbits", [(1, 2), (1, 11), (2, 2), (4, 3), (8, 2), (8, 16), (3, 32)])
@pytest.mark.parametrize("ovf", ["saturate", "wrap"])
def test_accumulator_lanes_match_section_5(wbits, mbits, ovf):
    rng = np.random.default_rng(wbits * 100 + mbits)
    lo, hi = signed_range(mbits)
    wlo, whi = weight_range(wbits)
    dut = AccumulatorLanes(LANES, wbits, mbits, ovf == "saturate")
    lay = layer(wbits, mbits, ovf)
    vectors = []
    for _ in range(60):
        m = rng.integers(lo, hi + 1, LANES)
        m[:2] = [lo, hi]  # the corners, where saturation and wrap differ
        w = rng.choice([-1, 1], LANES) if wbits == 1 else rng.integers(wlo, whi + 1, LANES)
        w[:2] = [wlo, whi]
        vectors.append((m, w))
    stored = (lambda w: (w > 0).astype(int)) if wbits == 1 else (lambda w: w)

    def apply(ctx, vec):
        ctx.set(dut.membrane, pack(vec[0], mbits))
        ctx.set(dut.weights, pack(stored(vec[1]), wbits))
        ctx.set(dut.enable, (1 << LANES) - 1)

    got = comb_run(dut, vectors, apply, lambda ctx: ctx.get(dut.result))
    for (m, w), word in zip(vectors, got):
        lay.weight = w[None, :]
        np.testing.assert_array_equal(unpack(word, mbits, LANES), accumulate(m, lay, 0))


MODES = list(itertools.product(["saturate", "wrap"], ["subtract", "zero"],
                               [("none", 0), ("subtract", 0), ("subtract", 3), ("shift", 1),
                                ("shift", 4)], ["continuous", "discontinuous"]))


@pytest.mark.parametrize("ovf,reset,leak,integ", MODES)
@pytest.mark.parametrize("mbits", [5, 12])
def test_neuron_update_matches_section_6(ovf, reset, leak, integ, mbits):
    kind, lam = leak
    if kind == "shift":
        lam = min(lam, mbits - 1)
    rng = np.random.default_rng(mbits)
    lo, hi = signed_range(mbits)
    mode = NeuronMode(mbits, ovf == "saturate", reset, kind, lam, integ == "discontinuous")
    dut = NeuronUpdate(LANES, mode)
    vectors = []
    for _ in range(40):
        m, b, th = (rng.integers(lo, hi + 1, LANES) for _ in range(3))
        m[:3], b[:3], th[:3] = [hi, lo, 0], [hi, lo, 0], [lo, hi, -1]
        vectors.append((m, b, th))
    en = (1 << (LANES - 1)) - 1  # the last lane disabled: never fires, stays 0

    def apply(ctx, vec):
        m, b, th = vec
        fields = [(int(t) & ((1 << mbits) - 1)) | ((int(bb) & ((1 << mbits) - 1)) << mbits)
                  for t, bb in zip(th, b)]
        ctx.set(dut.membrane, pack(m, mbits))
        ctx.set(dut.params, pack(fields, 2 * mbits))
        ctx.set(dut.enable, en)

    got = comb_run(dut, vectors, apply, lambda ctx: (ctx.get(dut.fire), ctx.get(dut.result)))
    for (m, b, th), (fire, word) in zip(vectors, got):
        lay = layer(1, mbits, ovf, reset, kind, lam, integ)
        lay.bias, lay.threshold = b, th
        exp_fire, exp_v = neuron_update(m, lay)
        exp_fire[-1], exp_v[-1] = False, 0
        assert [(fire >> i) & 1 for i in range(LANES)] == [int(x) for x in exp_fire]
        np.testing.assert_array_equal(unpack(word, mbits, LANES), exp_v)


def test_spike_counters_saturate_and_break_ties_to_the_lowest_class():
    classes, lanes, words, bits = 5, 2, 3, 2
    dut = SpikeCounters(classes, lanes, words, bits)
    seen = []

    async def tb(ctx):
        # group 1 (classes 2, 3) fires 5 times: both saturate at 3, tie -> class 2
        for _ in range(5):
            ctx.set(dut.strobe, 1)
            ctx.set(dut.word, 1)
            ctx.set(dut.fire, 0b11)
            await ctx.tick()
        ctx.set(dut.strobe, 0)
        await ctx.delay(1e-9)
        seen.append([(ctx.get(dut.counts) >> (bits * n)) & 3 for n in range(classes)])
        seen.append(ctx.get(dut.prediction))
        # class 4 (group 2, lane 0) reaches 3 too: still a tie, lowest index wins
        for _ in range(3):
            ctx.set(dut.strobe, 1)
            ctx.set(dut.word, 2)
            ctx.set(dut.fire, 0b11)  # lane 1 of group 2 is no class: ignored
            await ctx.tick()
        ctx.set(dut.strobe, 0)
        ctx.set(dut.read_index, 4)
        await ctx.delay(1e-9)
        seen.append(ctx.get(dut.prediction))
        seen.append(ctx.get(dut.read_data))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    assert seen == [[0, 0, 3, 3, 0], 2, 2, 3]
