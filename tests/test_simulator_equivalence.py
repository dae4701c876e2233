"""Hand-worked §8 cycle cases and properties of the Numba simulator. (Its equality with
the reference and the RTL on random networks is tests/test_chip_equivalence.py.)"""

from __future__ import annotations

import numpy as np
import pytest

from neurochip.counters import CHIP, CHIP_COUNTERS, CORE, CORE_COUNTERS
from neurochip.description import CoreDescription, CoreMapping, Encoder, Layer
from neurochip.neurons.lif import LifNeuron
from neurochip.random_networks import random_description, random_inputs
from neurochip.observe import state_names
from neurochip.sim import simulate


def _layer(name, source, weight, threshold, lanes, depth, index, bits=16, **neuron):
    weight = np.asarray(weight, dtype=np.int64)
    return Layer(name=name, inputs=weight.shape[0], neurons=weight.shape[1], weight_bits=1,
                 membrane_bits=bits, overflow="saturate", neuron=LifNeuron(**neuron),
                 core=CoreMapping(index=index, lanes=lanes, fifo_depth=depth), weight=weight,
                 threshold=np.asarray(threshold, dtype=np.int64),
                 bias=np.zeros(weight.shape[1], dtype=np.int64), source=source)


def _chip(layers, inputs, T=1):
    return CoreDescription(name="hand", input_shape=(inputs,), encoder=Encoder("latency", 0),
                           time_steps=T, clock_hz=1e8, count_bits=4, layers=layers)


def test_hand_worked_single_core_with_full_fifo():
    """§8 by hand: 2 input events + EOS through a depth-1 FIFO into one core with K = 2.

    cycle 0 host push a0 / core idle; 1 pop a0, host stall; 2 host push a1; 2-3 accumulate;
    3-4 host stalls; 4 pop a1; 5 host push EOS; 5-6 accumulate; 7 pop EOS; 8-9 update;
    done in cycle 10."""
    desc = _chip([_layer("out", "input", [[1, 1, -1], [1, -1, -1]], [0, 0, 0], 2, 1, 0)], 2)
    res = simulate(desc, np.array([[255, 255]], dtype=np.uint8))
    assert res.cycles[0] == 10
    assert res.chip_counters[0, CHIP["host_pushes"]] == 3
    assert res.chip_counters[0, CHIP["host_stall_cycles"]] == 3
    c = res.core_counters[0, 0]
    assert (c[CORE["pops"]], c[CORE["busy_cycles"]], c[CORE["idle_cycles"]]) == (3, 9, 1)
    assert list(res.counts[0]) == [1, 0, 0]


def test_hand_worked_push_gaps_and_downstream_stall():
    """Two cores: core 0 fires neurons 0 and 2 (groups 0 and 1, K = 2) into a depth-1 FIFO.

    0 host a0; 1 host EOS, core0 pop a0; 2-3 acc; 4 pop EOS; 5 update g0; 6 push n0;
    7 update g1, core1 pops n0; 8 push n2, core1 acc; 9 EOS push stalls (FIFO full at the
    start of the cycle although core1 pops n2 in it); 10 push EOS; 11 core1 pops EOS;
    12 update; done in cycle 13."""
    l0 = _layer("h", "input", [[1, -1, 1]], [0, 0, 0], 2, 4, 0)
    l1 = _layer("out", "h", [[1], [1], [1]], [0], 1, 1, 1)
    res = simulate(_chip([l0, l1], 1), np.array([[255]], dtype=np.uint8), record_spikes=True)
    assert res.cycles[0] == 13
    c0, c1 = res.core_counters[0]
    assert c0[CORE["busy_cycles"]] == 9 and c0[CORE["stall_cycles"]] == 1
    assert c0[CORE["idle_cycles"]] == 3 and c0[CORE["pushes"]] == 3
    assert c1[CORE["pops"]] == 3 and c1[CORE["busy_cycles"]] == 6
    np.testing.assert_array_equal(res.layer_spikes(0, 0), [[1, 0, 1]])
    assert list(res.counts[0]) == [1]


def test_saturation_order_matters_and_is_followed():
    """With B = 3 (range -4..3), +1 x5 then -1 x5 saturates at 3 and ends at -2; the
    opposite order would end at +2. Events arrive in ascending input index (§4)."""
    w = [[1]] * 5 + [[-1]] * 5
    desc = _chip([_layer("out", "input", w, [3], 1, 4, 0, bits=3, reset="zero",
                         integration="continuous")], 10)
    res = simulate(desc, np.full((1, 10), 255, dtype=np.uint8))
    assert res.layer_membranes(0, 0).tolist() == [-2]


def test_no_overflow_bound_holds_exactly_up_to_the_register_range():
    """neurochip.sim.overflow_bound on a hand-worked fc layer: column 0 brings at most
    |2| + |−1| = 3 a step. Continuous lif with θ ≥ 0: |m| ≤ T·(3 + |b|), so with T = 4
    and b = 0 the bound is 12: plain adds from B = 5 (range −16 … 15), not at B = 4 (… 7);
    a bias of 1 makes it 16 (> 15). A negative θ (a subtract that grows |m|) proves
    nothing; discontinuous integration bounds by one step (3 ≤ 3 at B = 3); the events
    encoder may push an address 255 times a step (§11.2)."""
    from neurochip.sim.overflow_bound import never_overflows

    def chip(bits, bias=0, threshold=1, encoder="latency", integration="continuous"):
        lay = _layer("out", "input", [[2, 1], [-1, 0]], [threshold, 1], 2, 4, 0, bits=bits,
                     integration=integration)
        lay.bias = np.array([bias, 0], dtype=np.int64)
        desc = _chip([lay], 2, T=4)
        desc.encoder = Encoder(encoder, 0)
        return desc

    assert never_overflows(chip(5), 0, True) and not never_overflows(chip(4), 0, True)
    assert not never_overflows(chip(5, bias=1), 0, True)
    assert never_overflows(chip(6, bias=-4), 0, True)  # 4·7 = 28 ≤ 31
    assert not never_overflows(chip(6, bias=5), 0, True)  # 32 > 31
    assert not never_overflows(chip(24, threshold=-1), 0, True)
    assert never_overflows(chip(3, integration="discontinuous"), 0, True)
    assert not never_overflows(chip(2, integration="discontinuous"), 0, True)
    assert not never_overflows(chip(12, encoder="events"), 0, True)  # 4·765 = 3060 > 2047
    assert never_overflows(chip(13, encoder="events"), 0, True)
    assert never_overflows(chip(12, encoder="events"), 0, False)  # fed by a core: once a step


def test_weight_pass_equals_numpy():
    """The packer's one pass over a layer's weights (pack.narrow_weights) gives what
    NumPy's cast and abs-sum give, for every integer dtype and layout a description can
    hold; it hands its sums to the overflow bound, so the bound is weight_column_bound's.
    flip_conv_weights copies the weights only where there is a conv2d layer to reorder."""
    from neurochip.kinds.base import weight_column_bound
    from neurochip.sim import kernel
    from neurochip.sim.overflow_bound import register_bound
    from neurochip.sim.pack import PackedModel, narrow_weights

    rng = np.random.default_rng(7)
    for dtype in (np.int64, np.int32, np.int8, np.uint8, np.bool_):
        for shape in ((1, 1), (5, 3), (300, 17), (0, 4)):
            w = rng.integers(-128 if dtype != np.uint8 else 0, 128, size=shape).astype(dtype)
            for arr in (w, np.asfortranarray(w), w[::-1]):
                out = np.full(arr.size, 99, dtype=np.int8)
                sums = narrow_weights(arr, out)
                assert np.array_equal(sums, np.abs(np.asarray(arr, dtype=np.int64)).sum(axis=0))
                assert np.array_equal(out, np.asarray(arr).ravel().astype(np.int8))
    with pytest.raises(ValueError, match="do not pack"):
        narrow_weights(np.zeros((3, 2), dtype=np.int64), np.zeros(3, dtype=np.int8))
    assert narrow_weights(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int8)) is None
    for seed in (0, 3, 4):
        desc = random_description(seed, kinds=("conv2d", "fc", "pool"), models=("lif",),
                                  max_layers=4)
        packed = PackedModel.from_description(desc)
        for j, lay in enumerate(desc.layers):
            if lay.kind == "pool":
                continue
            start = packed.w_off[j]
            assert np.array_equal(packed.weights[start:start + lay.weight.size],
                                  np.asarray(lay.weight).ravel().astype(np.int8))
            sums = narrow_weights(lay.weight, np.empty(lay.weight.size, dtype=np.int8))
            assert register_bound(desc, j, j == 0, sums) == register_bound(desc, j, j == 0)
            assert np.array_equal(sums, weight_column_bound(lay))
        conv = [lay.kind == "conv2d" for lay in desc.layers]
        flipped = kernel.flip_conv_weights(packed.weights, packed.w_off, packed.layer_cfg)
        assert (flipped is packed.weights) == (not any(conv)), seed  # a copy only to reorder


def test_plain_adds_give_what_saturating_adds_give_within_the_bound():
    """Networks with layers whose bound holds (plain fc and conv2d adds) beside layers
    whose bound does not: the simulator agrees, in every output and spike, with the
    reference, which saturates every add."""
    from neurochip.golden.reference import run_batch
    from neurochip.observe import compare
    from neurochip.sim import kernel
    from neurochip.sim.pack import PackedModel
    from neurochip.sim.simulator import encode_images

    seen = set()
    for seed in (0, 3, 4):
        desc = random_description(seed, kinds=("conv2d", "fc"), models=("lif",), max_layers=3)
        flags = PackedModel.from_description(desc).layer_cfg[:, kernel.LC_NO_OVERFLOW]
        seen |= {(lay.kind, bool(f)) for lay, f in zip(desc.layers, flags)}
        x = random_inputs(seed, 3, desc)
        res = simulate(desc, x, record_spikes=True)
        ref = run_batch(desc, encode_images(desc, x))
        assert compare(ref, res, limit=1).identical, seed
    assert seen == {("fc", True), ("fc", False), ("conv2d", True), ("conv2d", False)}


def test_conv_columns_reordered_so_touched_positions_are_one_row():
    """flip_conv_weights' column order (_kx_slot): a permutation of the kw columns in which
    the columns one event touches on an output row (kx, kx − s, kx − 2s, …) sit side by
    side; stride 1 reverses them."""
    from neurochip.sim.kernel import _kx_slot

    for kw in (1, 2, 3, 4, 5, 7):
        for s in (1, 2, 3, 4):
            slots = [_kx_slot(kx, kw, s) for kx in range(kw)]
            assert sorted(slots) == list(range(kw)), (kw, s)
            for kx in range(s, kw):
                assert _kx_slot(kx - s, kw, s) == _kx_slot(kx, kw, s) + 1, (kw, s, kx)
            if s == 1:
                assert slots == list(range(kw))[::-1]


def test_workers_give_identical_results():
    desc = random_description(12)
    images = random_inputs(12, 50, desc)
    one = simulate(desc, images, record_spikes=True, chunk=4)
    two = simulate(desc, images, record_spikes=True, chunk=4, workers=2)
    for field in ("counts", "cycles", "core_counters", "chip_counters", "membranes", "spikes"):
        np.testing.assert_array_equal(getattr(one, field), getattr(two, field), err_msg=field)


def test_functional_pass_alone_changes_only_the_cycle_figures():
    """timing=False (the trainers' chip spikes, neurochip.train.chip_forward) gives every
    spike, membrane, count, prediction and event counter of the timed run; only cycles,
    stalls and idles are left 0."""
    timed_only = {"cycles", "stall_cycles", "idle_cycles", "host_stall_cycles"}
    core = [i for i, name in enumerate(CORE_COUNTERS) if name not in timed_only]
    chip = [i for i, name in enumerate(CHIP_COUNTERS) if name not in timed_only]
    for seed in range(8):
        desc = random_description(seed)
        images = random_inputs(seed, 10, desc)
        timed = simulate(desc, images, record_spikes=True)
        fast = simulate(desc, images, record_spikes=True, timing=False)
        for field in ("predictions", "counts", "membranes", "spikes") + state_names():
            np.testing.assert_array_equal(fast.value(field), timed.value(field),
                                          err_msg=f"seed {seed}: {field}")
        np.testing.assert_array_equal(fast.core_counters[:, :, core],
                                      timed.core_counters[:, :, core], err_msg=f"seed {seed}")
        np.testing.assert_array_equal(fast.chip_counters[:, chip], timed.chip_counters[:, chip])
        assert timed.spikes.any() and timed.cycles.all() and not fast.cycles.any()


def test_keep_state_false_drops_only_the_neuron_state():
    """keep_state=False (the CLI, the sweeps, the bench's timed runs) keeps no final
    membrane or state word and changes nothing else: predictions, counts, cycles and every
    counter equal the full run's, on 1 and 2 workers and in chunks of any size."""
    for seed in (0, 3, 7, 11):
        desc = random_description(seed)
        images = random_inputs(seed, 23, desc)
        full = simulate(desc, images)
        for workers, chunk in ((1, 128), (2, 5)):
            lean = simulate(desc, images, keep_state=False, workers=workers, chunk=chunk)
            assert lean.membranes is None and lean.states == {}
            for field in ("predictions", "counts", "cycles", "core_counters", "chip_counters"):
                np.testing.assert_array_equal(getattr(lean, field), getattr(full, field),
                                              err_msg=f"seed {seed}: {field}")
        assert full.membranes.shape == (23, int(full.neuron_offsets[-1]))


def _map_layer(name, kind, source, geometry, weight, threshold, lanes, depth, index, bits=16,
               wbits=2, **neuron):
    from neurochip.kinds import get_kind

    lay = Layer(name=name, kind=kind, source=source, inputs=0, neurons=0, weight_bits=wbits,
                membrane_bits=bits, overflow="saturate", neuron=LifNeuron(**neuron),
                core=CoreMapping(index=index, lanes=lanes, fifo_depth=depth),
                weight=np.asarray(weight, dtype=np.int64),
                threshold=np.asarray(threshold, dtype=np.int64),
                bias=np.zeros(len(threshold), dtype=np.int64), geometry=geometry)
    k = get_kind(kind)
    lay.inputs = int(np.prod(geometry["in_shape"]))
    lay.neurons = int(np.prod(k.output_shape(lay)))
    return lay


def test_hand_worked_conv_event_at_a_padded_border():
    """§5.2/§8 by hand: a 3×3 kernel with padding 1 on a 3×3 map, C_out = 3 on L = 2 lanes
    (K_c = 2, the last word half disabled). The event at the corner (0, 0) touches the four
    positions (0,0), (0,1), (1,0), (1,1) with kernel rows 4, 3, 1, 0: 1 + 4·2 = 9 cycles.
    cycle 0 host a0 / core idle; 1 pop a0; 2-9 accumulate; 10 pop EOS; 11-28 update the
    9·2 = 18 groups; done in cycle 29."""
    rng = np.random.default_rng(0)
    w = rng.integers(-2, 2, size=(9, 3))
    geometry = {"in_shape": [3, 3, 1], "channels": 3, "kernel": [3, 3], "stride": 1, "pad": 1}
    lay = _map_layer("out", "conv2d", "input", geometry, w, [100, 100, 100], 2, 4, 0,
                     integration="continuous")
    desc = CoreDescription(name="conv", input_shape=(3, 3), encoder=Encoder("latency", 0),
                           time_steps=1, clock_hz=1e8, count_bits=4, layers=[lay])
    image = np.zeros((1, 9), dtype=np.uint8)
    image[0, 0] = 255
    res = simulate(desc, image)
    assert res.cycles[0] == 29
    c = res.core_counters[0, 0]
    assert c[CORE["address_steps"]] == 4 and c[CORE["weight_word_reads"]] == 8
    assert c[CORE["synaptic_ops"]] == 12 and c[CORE["membrane_word_reads"]] == 8 + 18
    assert (c[CORE["busy_cycles"]], c[CORE["idle_cycles"]], c[CORE["pops"]]) == (28, 1, 2)
    m = res.layer_membranes(0, 0).reshape(3, 3, 3)  # (oy, ox, channel)
    np.testing.assert_array_equal(m[0, 0], w[4])
    np.testing.assert_array_equal(m[0, 1], w[3])
    np.testing.assert_array_equal(m[1, 0], w[1])
    np.testing.assert_array_equal(m[1, 1], w[0])
    assert not m[2].any() and not m[:, 2].any()


def test_hand_worked_pool_spike_suppressed_by_emit_once():
    """§5.3/§8 by hand: OR pooling (θ = 0, reset zero, discontinuous) of a 2×2 map by one
    2×2 window, emit = once, pixels 0 and 3 at 255 with the deterministic rate code, T = 3
    (they spike in steps 1 and 2). Step 0: pop EOS 1, update 2 (no spike). Steps 1 and 2:
    pop a0, +1 (2 cycles), pop a3, +1 (2), pop EOS, update 1 group: cycles 3-8 and 9-14.
    The window fires in steps 1 and 2, but the second spike is suppressed by its sent bit.
    Done in 15."""
    geometry = {"in_shape": [2, 2, 1], "window": 2, "stride": 2, "emit": "once"}
    lay = _map_layer("out", "pool", "input", geometry, np.zeros((0, 0)), [0], 1, 8, 0, bits=4,
                     wbits=1, reset="zero", integration="discontinuous")
    desc = CoreDescription(name="pool", input_shape=(2, 2),
                           encoder=Encoder("rate_deterministic", 0), time_steps=3,
                           clock_hz=1e8, count_bits=4, layers=[lay])
    res = simulate(desc, np.array([[255, 0, 0, 255]], dtype=np.uint8), record_spikes=True)
    assert res.cycles[0] == 15
    np.testing.assert_array_equal(res.layer_spikes(0, 0), [[0], [1], [0]])
    assert list(res.counts[0]) == [1]
    c = res.core_counters[0, 0]
    assert c[CORE["spikes"]] == 1 and c[CORE["bitmap_reads"]] == 3 and c[CORE["bitmap_writes"]] == 3
    assert c[CORE["address_steps"]] == 4 and c[CORE["synaptic_ops"]] == 4
    assert (c[CORE["busy_cycles"]], c[CORE["idle_cycles"]]) == (14, 1)
    lay.geometry = dict(geometry, emit="every_step")  # without the bitmap: both spikes go out
    again = simulate(desc, np.array([[255, 0, 0, 255]], dtype=np.uint8), record_spikes=True)
    np.testing.assert_array_equal(again.layer_spikes(0, 0), [[0], [1], [1]])
    assert again.core_counters[0, 0, CORE["bitmap_reads"]] == 0


def test_hand_worked_add_drains_source_0_then_source_1():
    """§4/§8 by hand: x = l0 (fc 1→1) fans out to l1 (fc 1→1) and to the add l2, whose
    sources are (l1, l0). l0: pop a0 1, acc 2, EOS 3, update 4, pushes n0→l1 5, n0→l2 6,
    EOS→l1 7, EOS→l2 8. l1: pop n0 6, acc 7, EOS 8, update 9, push n0 10, EOS 11. l2: pop
    n0 of source 0 at 11, +gain 12, EOS of source 0 13 (1 cycle), n0 of source 1 14, +gain
    15, EOS 16, update 17; done in 18."""
    l0 = _layer("l0", "input", [[1]], [0], 1, 4, 0)
    l1 = _layer("l1", "l0", [[1]], [0], 1, 4, 1)
    add = _map_layer("out", "add", ("l1", "l0"), {"in_shape": [1, 1, 1]}, [[1], [1]], [1], 1, 2,
                     2)
    desc = _chip([l0, l1, add], 1)
    res = simulate(desc, np.array([[255]], dtype=np.uint8), record_spikes=True)
    assert res.cycles[0] == 18
    assert list(res.counts[0]) == [1]
    c0, c1, c2 = res.core_counters[0]
    assert c0[CORE["pushes"]] == 4 and c0[CORE["busy_cycles"]] == 8
    assert (c2[CORE["pops"]], c2[CORE["busy_cycles"]], c2[CORE["idle_cycles"]]) == (4, 7, 11)
    assert c2[CORE["synaptic_ops"]] == 2 and c2[CORE["weight_word_reads"]] == 2


def test_a_diamond_whose_shortcut_fifo_cannot_hold_a_step_is_refused():
    """§7: the shortcut FIFO of an add must hold one step of its source (N + 1 items)."""
    import pytest

    from neurochip.description import DescriptionError, validate

    l0 = _layer("l0", "input", [[1, 1, 1]], [0, 0, 0], 1, 4, 0)
    l1 = _layer("l1", "l0", np.eye(3, dtype=int) * 2 - 1, [0, 0, 0], 1, 4, 1)
    add = _map_layer("out", "add", ("l1", "l0"), {"in_shape": [1, 1, 3]}, [[1] * 3, [1] * 3],
                     [1, 1, 1], 2, 3, 2)
    desc = _chip([l0, l1, add], 1)
    with pytest.raises(DescriptionError, match=r"FIFO from 'l0'.*depth 3.*fifo_depth >= 4"):
        validate(desc)
    from dataclasses import replace

    add.core = replace(add.core, fifo_depth=4)
    validate(desc)
    res = simulate(desc, np.array([[255]], dtype=np.uint8))
    assert res.cycles[0] > 0
