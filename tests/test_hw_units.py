"""Accumulator lanes, neuron-update unit and spike counters against the golden
reference's arithmetic (§2, §5, §6), exhaustively over modes, in Amaranth's simulator;
the fc sequencer, the param-word layout, the core shell's limits and the top level's
wiring from the topology table."""

from __future__ import annotations

import itertools
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
from amaranth.hdl import Fragment
from amaranth.sim import Simulator

from neurochip.description import CoreMapping, Layer, signed_range, weight_range
from neurochip.neurons.lif import LifNeuron
from neurochip.golden.reference import accumulate, neuron_update
from neurochip.hw.config import ChipConfig, check_counter_space, counter_select_bits
from neurochip.hw.kinds import SEQUENCERS, WEIGHT_IMAGES
from neurochip.hw.lanes import AccumulatorLanes
from neurochip.hw.neurons import NEURON_UNITS, PARAM_IMAGES
from neurochip.hw.neurons.lif import NeuronMode, NeuronUpdate
from neurochip.hw.pack import as_ints
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
                 overflow=ovf, neuron=LifNeuron(reset=reset, leak=leak, leak_amount=lam,
                                                   integration=integ),
                 core=CoreMapping(index=0, lanes=LANES, fifo_depth=1),
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
        ctx.set(dut.param_word, pack(fields, 2 * mbits))
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


def small_chip(seed: int = 5, **knobs) -> tuple:
    from neurochip.random_networks import random_description

    desc = random_description(seed, **knobs)
    return desc, ChipConfig.from_description(desc)


@pytest.mark.parametrize("lanes,neurons", [(1, 3), (3, 7), (4, 8), (8, 5)])
def test_fc_sequencer_walks_the_weight_row_of_the_popped_event(lanes, neurons):
    """Pop cycle, then K accumulation cycles: word k of row a with the lanes of group k."""
    from neurochip.kinds import get_kind

    desc, _ = small_chip(max_layers=1)
    lay = desc.layers[0]
    lay.core = replace(lay.core, lanes=lanes)
    lay.neurons = neurons
    rng = np.random.default_rng(lanes * 10 + neurons)
    lay.weight = get_kind("fc").random_weight(rng, lay.inputs, neurons, lay.weight_bits)
    lay.threshold = np.zeros(neurons, np.int64)
    lay.bias = np.zeros(neurons, np.int64)
    cfg = ChipConfig.from_description(desc).cores[0]
    words = as_ints(WEIGHT_IMAGES["fc"](lay, cfg))
    seq_cls = SEQUENCERS["fc"]
    K = seq_cls.cycles(cfg)
    assert K == cfg.words == -(-neurons // lanes)
    dut = seq_cls(cfg, words, blackbox=False)
    seen = []

    async def tb(ctx):
        for a in (lay.inputs - 1, 0):
            ctx.set(dut.address, a)
            ctx.set(dut.start, 1)
            seen.append(("pop", ctx.get(dut.next_word)))
            await ctx.tick()
            ctx.set(dut.start, 0)
            ctx.set(dut.address, 0x7FFF)  # the head item may change: the row is latched
            for _ in range(K):
                ctx.set(dut.step, 1)
                seen.append((a, ctx.get(dut.word), ctx.get(dut.weights), ctx.get(dut.enable),
                             ctx.get(dut.ops), ctx.get(dut.last), ctx.get(dut.next_word)))
                await ctx.tick()
            ctx.set(dut.step, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    expect = []
    for a in (lay.inputs - 1, 0):
        expect.append(("pop", 0))
        for k in range(K):
            n = min(lanes, neurons - k * lanes)
            expect.append((a, k, words[a * K + k], (1 << n) - 1, n, int(k == K - 1),
                           (k + 1) % K))
    assert seen == expect


def test_param_words_follow_the_models_param_fields():
    """lif: threshold at [2Bl, 2Bl+B), bias at [2Bl+B, 2Bl+2B), from ``param_fields``."""
    from neurochip.neurons import get_model

    assert get_model("lif").param_fields == ("threshold", "bias")
    desc, cfg = small_chip(7)
    for lay, c in zip(desc.layers, cfg.cores):
        B, L = c.membrane_bits, c.lanes
        assert c.param_bits == 2 * B and c.param_width == L * 2 * B
        got = as_ints(PARAM_IMAGES[c.model](lay, c))
        th = np.zeros(c.words * L, np.int64)
        bias = np.zeros(c.words * L, np.int64)
        th[:c.neurons], bias[:c.neurons] = lay.threshold, lay.bias
        fields = [(int(t) & ((1 << B) - 1)) | ((int(b) & ((1 << B) - 1)) << B)
                  for t, b in zip(th, bias)]
        assert got == [pack(fields[k * L:(k + 1) * L], 2 * B) for k in range(c.words)]
        unit = NEURON_UNITS[c.model].for_core(c)
        assert (unit.lanes, unit.membrane_bits, unit.param_bits) == (L, B, c.param_bits)
        Fragment.get(unit, None)  # elaborates


def test_core_shell_refuses_fan_in_and_fan_out():
    from neurochip.hw.core import build_core

    desc, cfg = small_chip(4, max_layers=3)
    assert len(cfg.cores) >= 2
    hidden = cfg.cores[0]
    with pytest.raises(NotImplementedError, match="2 input FIFOs"):
        build_core(hidden, desc.layers[0], cfg.count_bits, False, inputs=2, outputs=1)
    with pytest.raises(NotImplementedError, match="fan-out"):
        build_core(hidden, desc.layers[0], cfg.count_bits, False, inputs=1, outputs=2)
    with pytest.raises(NotImplementedError, match="output core"):
        build_core(cfg.output, desc.layers[-1], cfg.count_bits, False, inputs=1, outputs=1)


def test_counter_readback_select_follows_the_counter_table():
    from neurochip.counters import CORE_COUNTERS

    assert counter_select_bits() == max(1, (2 * len(CORE_COUNTERS) - 1).bit_length())
    assert counter_select_bits(12) == 5 and counter_select_bits(17) == 6
    check_counter_space(1 << 23)  # 2^24 words: the whole offset
    with pytest.raises(ValueError, match="core counters"):
        check_counter_space((1 << 23) + 1)


def test_chip_wires_fifos_and_cores_from_the_topology_table(monkeypatch):
    """FIFO numbers permuted (FIFO f no longer feeds core f): the chip follows the table
    and still equals the simulator."""
    from neurochip.graph import Topology
    from neurochip.hw import config as hwcfg
    from neurochip.observe import compare
    from neurochip.random_networks import random_images
    from neurochip.sim import simulate
    from neurochip.verify.amaranth_run import run_amaranth

    def permuted(desc, origin="<description>"):
        t = Topology.from_description(desc, origin)
        F = t.fifos
        new = [F - 1 - f for f in range(F)]  # old FIFO f becomes FIFO new[f]
        order = sorted(range(F), key=lambda f: new[f])
        return replace(t, producer=tuple(t.producer[f] for f in order),
                       consumer=tuple(t.consumer[f] for f in order),
                       depth=tuple(t.depth[f] for f in order),
                       in_fifos=tuple(tuple(new[f] for f in x) for x in t.in_fifos),
                       out_fifos=tuple(tuple(new[f] for f in x) for x in t.out_fifos))

    desc, _ = small_chip(4, max_layers=3)
    assert len(desc.layers) == 3
    monkeypatch.setattr(hwcfg, "Topology", SimpleNamespace(from_description=permuted))
    topo = ChipConfig.from_description(desc).topology
    assert topo.host_fifos == (topo.fifos - 1,) and topo.in_fifos[0] == (topo.fifos - 1,)
    images = random_images(4, 2, desc.input_size)
    result = compare(simulate(desc, images, record_spikes=True), run_amaranth(desc, images))
    assert result.identical, "\n".join(map(str, result.mismatches[:20]))
