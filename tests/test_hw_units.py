"""Accumulator lanes, neuron-update unit and spike counters against the golden
reference's arithmetic (§2, §5, §6), exhaustively over modes, in Amaranth's simulator;
the sequencers (address generators) of every kind against ``neurochip.kinds`` (fc's row
walk, ``touched()`` order of conv2d / pool / add at borders, with padding and strides), the
param-word layout, the readback map of map-shaped layers, the core shell's limits and the
top level's wiring from the topology table."""

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
from neurochip.neurons import MODELS
from neurochip.golden.reference import accumulate, neuron_update
from neurochip.hw.config import (ChipConfig, CoreConfig, check_counter_space,
                                 counter_select_bits)
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
    """lif: threshold at [2Bl, 2Bl+B), bias at [2Bl+B, 2Bl+2B); ttfs: threshold at
    [Bl, Bl+B); from ``param_fields``; one word per channel word (K_c words; update group
    g reads word g mod K_c)."""
    from neurochip.neurons import get_model

    assert get_model("lif").param_fields == ("threshold", "bias")
    assert get_model("ttfs").param_fields == ("threshold",)
    seen = set()
    for seed in (7, 2, 0, 3, 5):  # fc, conv2d / pool / add layers, every model
        desc, cfg = small_chip(seed)
        for lay, c in zip(desc.layers, cfg.cores):
            names = get_model(c.model).param_fields
            seen.add(c.model)
            B, L, Kc, F = c.membrane_bits, c.lanes, c.wpp, len(names)
            assert c.param_bits == F * B and c.param_width == L * F * B
            assert c.param_words == Kc and c.words == c.positions * Kc
            got = as_ints(PARAM_IMAGES[c.model](lay, c))
            values = np.zeros((F, Kc * L), np.int64)
            for i, name in enumerate(names):
                values[i, :c.channels] = getattr(lay, name)
            fields = [sum((int(values[i, j]) & ((1 << B) - 1)) << (i * B) for i in range(F))
                      for j in range(Kc * L)]
            assert got == [pack(fields[k * L:(k + 1) * L], F * B) for k in range(Kc)]
            unit = NEURON_UNITS[c.model].for_core(c)
            assert (unit.lanes, unit.membrane_bits, unit.param_bits) == (L, B, c.param_bits)
            Fragment.get(unit, None)  # elaborates
    assert seen == set(MODELS)  # every neuron model's parameter word is checked


def test_core_shell_accepts_fan_in_and_fan_out_but_not_an_output_core_that_pushes():
    from neurochip.hw.core import build_core

    desc, cfg = small_chip(4, max_layers=3)
    assert len(cfg.cores) >= 2
    hidden = cfg.cores[0]
    for inputs, outputs in ((2, 1), (1, 2), (2, 3)):
        Fragment.get(build_core(hidden, desc.layers[0], cfg.count_bits, False,
                                inputs=inputs, outputs=outputs), None)
    with pytest.raises(ValueError, match="at least one input"):
        build_core(hidden, desc.layers[0], cfg.count_bits, False, inputs=0, outputs=1)
    with pytest.raises(ValueError, match="at least one output"):
        build_core(hidden, desc.layers[0], cfg.count_bits, False, inputs=1, outputs=0)
    with pytest.raises(ValueError, match="output core"):
        build_core(cfg.output, desc.layers[-1], cfg.count_bits, False, inputs=1, outputs=1)


# --------------------------------------------------------------------------- address generators

def map_layer(kind: str, geometry: dict, lanes: int, wbits: int = 4, seed: int = 0) -> Layer:
    """A layer of a map kind (conv2d, pool, add) with random weights and parameters."""
    from neurochip.kinds import get_kind

    k = get_kind(kind)
    rng = np.random.default_rng(seed)
    h, w, c = geometry["in_shape"]
    lay = Layer(name="m", kind=kind, inputs=h * w * c, neurons=1, weight_bits=wbits,
                membrane_bits=8, overflow="saturate", neuron=LifNeuron(),
                core=CoreMapping(index=0, lanes=lanes, fifo_depth=4),
                weight=np.zeros((0, 0), np.int64), threshold=np.zeros(0, np.int64),
                bias=np.zeros(0, np.int64), geometry=geometry,
                source=("a", "b") if kind == "add" else "input")
    oh, ow, oc = k.output_shape(lay)
    lay.neurons = oh * ow * oc
    lay.weight = k.random_weight(rng, lay.inputs, lay.neurons, wbits, geometry)
    lay.threshold = np.zeros(oc, np.int64)
    lay.bias = np.zeros(oc, np.int64)
    return lay


def run_sequencer(cfg, words: list[int], events: list[tuple[int, int]], max_cycles: int):
    """Pop each (address, source) event, then step until ``last``; per event: (empty,
    next_word at the pop, [(word, weights, enable, ops, visit, last, next_word) per cycle])."""
    from neurochip.hw.kinds import sequencer

    dut = sequencer(cfg.kind)(cfg, words, blackbox=False)
    seen = []

    async def tb(ctx):
        for a, src in events:
            ctx.set(dut.address, a)
            ctx.set(dut.source, src)
            ctx.set(dut.start, 1)
            empty, first = ctx.get(dut.empty), ctx.get(dut.next_word)
            await ctx.tick()
            ctx.set(dut.start, 0)
            ctx.set(dut.address, 0)  # the head item may change: the event is latched
            ctx.set(dut.source, 0)
            cycles = []
            while not empty and len(cycles) < max_cycles:
                ctx.set(dut.step, 1)
                cycles.append(tuple(ctx.get(p) for p in (dut.word, dut.weights, dut.enable,
                                                         dut.ops, dut.visit, dut.last,
                                                         dut.next_word)))
                await ctx.tick()
                if cycles[-1][5]:
                    break
            ctx.set(dut.step, 0)
            seen.append((empty, first, cycles))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    return seen


def expected_cycles(cfg, touched: list[tuple[int, int, int, int]]) -> list[tuple]:
    """(word, weights, enable, ops, visit, last) per accumulation cycle from
    (membrane word, weights, lane mask, first-of-position) tuples."""
    out = []
    for i, (word, weights, mask, visit) in enumerate(touched):
        out.append((word, weights, mask, bin(mask).count("1"), visit, int(i == len(touched) - 1)))
    return out


def check_walk(cfg, seen, expect, addresses) -> None:
    for a, (empty, first, cycles), exp in zip(addresses, seen, expect):
        assert empty == int(not exp), f"address {a}: empty"
        assert [c[:6] for c in cycles] == exp, f"address {a}"
        if exp:  # the membrane read address one cycle ahead: first, then each next word
            assert first == exp[0][0], f"address {a}: first word"
            assert [c[6] for c in cycles[:-1]] == [e[0] for e in exp[1:]], f"address {a}"


CONV_CASES = [  # (in_shape, channels, kernel, stride, pad, lanes)
    ((5, 6, 2), 5, (3, 2), 2, 1, 2),  # borders, padding, stride 2, K_c = 3 with a partial word
    ((5, 5, 1), 3, (1, 2), 3, 0, 4),  # stride > kernel: events that touch no position
    ((4, 3, 3), 2, (3, 3), 1, 2, 1),  # pad = kh − 1, one lane
    ((1, 7, 1), 8, (1, 3), 1, 1, 8),  # one row, a full word
]


@pytest.mark.parametrize("in_shape,channels,kernel,stride,pad,lanes", CONV_CASES)
def test_conv2d_sequencer_follows_touched_order(in_shape, channels, kernel, stride, pad, lanes):
    """Every address of the input map: the touched positions in ``touched()`` order, K_c
    words each (weight word r·K_c + k, membrane word pos·K_c + k, lanes of word k), an
    address step at each position, 1 + T·K_c cycles, just the pop when T = 0."""
    from neurochip.kinds import get_kind

    geometry = {"in_shape": list(in_shape), "channels": channels, "kernel": list(kernel),
                "stride": stride, "pad": pad}
    lay = map_layer("conv2d", geometry, lanes)
    cfg = CoreConfig.from_layer(lay, 0, True, 1)
    Kc = cfg.wpp
    words = as_ints(WEIGHT_IMAGES["conv2d"](lay, cfg))
    assert len(words) == lay.weight.shape[0] * Kc
    addresses = list(range(lay.inputs))
    expect = []
    for a in addresses:
        t = [(pos * Kc + k, words[row * Kc + k], cfg.lane_mask(k), int(k == 0))
             for row, pos in get_kind("conv2d").touched(lay, a) for k in range(Kc)]
        expect.append(expected_cycles(cfg, t))
        assert len(t) <= SEQUENCERS["conv2d"].cycles(cfg)
    assert any(not e for e in expect) == (stride > min(kernel))
    seen = run_sequencer(cfg, words, [(a, 0) for a in addresses], 4 * cfg.words + 4)
    check_walk(cfg, seen, expect, addresses)


POOL_CASES = [  # (in_shape, window, stride, lanes, some event falls in no window)
    ((5, 7, 3), 2, 1, 2, False),  # overlapping windows, K_c = 2 with a partial word
    ((6, 8, 3), 3, 2, 4, True),  # borders: the last row and column fall in no window
    ((6, 5, 2), 2, 3, 1, True),  # stride > window: gaps between the windows
]


@pytest.mark.parametrize("in_shape,window,stride,lanes,gaps", POOL_CASES)
def test_pool_sequencer_follows_touched_order(in_shape, window, stride, lanes, gaps):
    """One cycle per window holding the event, in ``touched()`` order: membrane word
    pos·K_c + c div L, lane c mod L only, the implicit +1 in every lane, no weight memory."""
    from neurochip.kinds import get_kind

    geometry = {"in_shape": list(in_shape), "window": window, "stride": stride,
                "emit": "once"}
    lay = map_layer("pool", geometry, lanes, wbits=1)
    cfg = CoreConfig.from_layer(lay, 0, True, 1)
    assert SEQUENCERS["pool"].weight_shape(cfg) is None and "pool" not in WEIGHT_IMAGES
    Kc, L = cfg.wpp, cfg.lanes
    plus_one = sum(1 << i for i in range(L))  # 1-bit weights: bit 1 = +1 in every lane
    addresses = list(range(lay.inputs))
    expect = [expected_cycles(cfg, [(pos * Kc + c // L, plus_one, 1 << (c % L), 1)
                                    for c, pos in get_kind("pool").touched(lay, a)])
              for a in addresses]
    assert any(not e for e in expect) == gaps
    seen = run_sequencer(cfg, [], [(a, 0) for a in addresses], cfg.words + 4)
    check_walk(cfg, seen, expect, addresses)


@pytest.mark.parametrize("in_shape,lanes", [((3, 2, 5), 2), ((1, 4, 3), 4), ((2, 2, 1), 1)])
def test_add_sequencer_adds_the_gain_of_the_events_source(in_shape, lanes):
    """One cycle: gain word s·K_c + c div L, membrane word pos·K_c + c div L, lane c mod L."""
    from neurochip.kinds import get_kind

    lay = map_layer("add", {"in_shape": list(in_shape)}, lanes, wbits=3)
    cfg = CoreConfig.from_layer(lay, 0, True, 1)
    Kc, L, C = cfg.wpp, cfg.lanes, cfg.channels
    words = as_ints(WEIGHT_IMAGES["add"](lay, cfg))
    assert len(words) == 2 * Kc
    events = [(a, src) for src in (1, 0) for a in range(lay.inputs)]
    expect = []
    for a, src in events:
        ((row, n),) = get_kind("add").touched(lay, a, src)
        c = n % C
        expect.append(expected_cycles(cfg, [((n // C) * Kc + c // L, words[row * Kc + c // L],
                                             1 << (c % L), 0)]))
    seen = run_sequencer(cfg, words, events, 3)
    check_walk(cfg, seen, expect, events)


def test_readback_addresses_of_map_layers_follow_positions_and_channel_words():
    """Neuron n = pos·C + ch: membrane word pos·K_c + ch div L, lane ch mod L (§3)."""
    from neurochip.hw.config import SPACE_MEMBRANE, address, membrane_address

    lay = map_layer("conv2d", {"in_shape": [3, 3, 1], "channels": 5, "kernel": [2, 2],
                               "stride": 1, "pad": 0}, lanes=2)
    cfg = CoreConfig.from_layer(lay, 3, False, 2)
    assert (cfg.channels, cfg.positions, cfg.wpp, cfg.words) == (5, 4, 3, 12)
    n = 2 * 5 + 4  # position 2, channel 4: word 2·3 + 2, lane 0
    assert cfg.neuron_word(n) == (8, 0) and cfg.word_neuron(8, 0) == n
    assert cfg.word_neuron(8, 1) == -1  # the disabled tail lane of the position
    assert membrane_address(cfg, n) == address(SPACE_MEMBRANE, 3, (8 << 1) | 0)


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
    from neurochip.random_networks import random_inputs
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
    images = random_inputs(4, 2, desc)
    result = compare(simulate(desc, images, record_spikes=True), run_amaranth(desc, images))
    assert result.identical, "\n".join(map(str, result.mismatches[:20]))
