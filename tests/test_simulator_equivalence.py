"""Hand-worked §8 cycle cases and properties of the Numba simulator. (Its equality with
the reference and the RTL on random networks is tests/test_chip_equivalence.py.)"""

from __future__ import annotations

import numpy as np

from neurochip.counters import CHIP, CORE
from neurochip.description import CoreDescription, CoreMapping, Encoder, Layer
from neurochip.neurons.lif import LifNeuron
from neurochip.random_networks import random_description, random_images
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


def test_workers_give_identical_results():
    desc = random_description(12)
    images = random_images(12, 50, desc.input_size)
    one = simulate(desc, images, record_spikes=True, chunk=4)
    two = simulate(desc, images, record_spikes=True, chunk=4, workers=2)
    for field in ("counts", "cycles", "core_counters", "chip_counters", "membranes", "spikes"):
        np.testing.assert_array_equal(getattr(one, field), getattr(two, field), err_msg=field)
