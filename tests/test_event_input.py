"""Event input (§11.2): the host pushes given events, several at one address in one step
as several pushes back to back. Every backend takes it, bit- and cycle-exact; bad counts
are refused with one line."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from neurochip.counters import CHIP, CORE
from neurochip.description import CoreDescription, CoreMapping, Encoder, Layer
from neurochip.golden.encoders import host_addresses
from neurochip.neurons.lif import LifNeuron
from neurochip.random_networks import random_description, random_events
from neurochip.sim import simulate
from neurochip.sim.simulator import encode_images
from neurochip.verify.stimulus import EOS_ITEM, item_streams
from test_chip_equivalence import SLOW, assert_backend_equals_simulator


def _fc(T: int = 3, inputs: int = 5, lanes: int = 2, fifo: int = 2) -> CoreDescription:
    """inputs → 3 fc, no leak, thresholds out of reach: membranes are the weighted sums."""
    w = np.arange(inputs * 3).reshape(inputs, 3) % 7 - 3
    layer = Layer(name="out", inputs=inputs, neurons=3, weight_bits=4, membrane_bits=16,
                  overflow="saturate",
                  neuron=LifNeuron(reset="subtract", leak="none", leak_amount=0,
                                   integration="continuous"),
                  core=CoreMapping(index=0, lanes=lanes, fifo_depth=fifo), weight=w,
                  threshold=np.full(3, 30000), bias=np.zeros(3, dtype=np.int64),
                  source="input")
    return CoreDescription(name="events-fc", input_shape=(inputs,),
                           encoder=Encoder("events", 0), time_steps=T, clock_hz=1e8,
                           count_bits=4, layers=[layer])


def test_a_count_is_that_many_pushes_of_the_address():
    desc = _fc()
    counts = np.zeros((1, 3, 5), dtype=np.uint8)
    counts[0, 0, 1] = 3
    counts[0, 0, 4] = 1
    counts[0, 2, 0] = 255
    res = simulate(desc, counts, record_spikes=True)
    w = desc.layers[0].weight
    np.testing.assert_array_equal(res.membranes[0], 3 * w[1] + w[4] + 255 * w[0])
    assert res.chip_counters[0, CHIP["host_pushes"]] == 3 + 1 + 255 + desc.time_steps
    core = res.core_counters[0, 0]
    K = desc.layers[0].words
    assert core[CORE["pops"]] == 259 + 3
    assert core[CORE["weight_word_reads"]] == 259 * K  # one fc event per push (§8)
    assert core[CORE["synaptic_ops"]] == 259 * 3
    # the host stream: address 1 three times back to back, then 4, then the token
    (stream,) = item_streams(desc, counts)
    assert stream[:5].tolist() == [1, 1, 1, 4, EOS_ITEM]
    assert stream[5:].tolist() == [EOS_ITEM] + [0] * 255 + [EOS_ITEM]


def test_counts_pass_through_encode_images_and_pixel_encoders_give_0_or_1():
    desc = _fc()
    counts = random_events(1, 4, desc.time_steps, desc.input_size)
    np.testing.assert_array_equal(encode_images(desc, counts), counts)
    np.testing.assert_array_equal(host_addresses(np.array([0, 2, 1, 0, 3])), [1, 1, 2, 4, 4, 4])
    pixel = dataclasses.replace(desc, encoder=Encoder("rate_deterministic", 0))
    enc = encode_images(pixel, np.full((2, 5), 200, dtype=np.uint8))
    assert enc.max() == 1


def test_counts_may_come_in_the_input_shape():
    """(n, T, H, W, C) counts equal their flat (n, T, P) form, address (y·W + x)·C + c."""
    desc = random_description(7, kinds=("conv2d",), events=1.0, max_side=4, max_channels=2)
    flat = random_events(3, 2, desc.time_steps, desc.input_size)
    shaped = flat.reshape(2, desc.time_steps, *desc.input_shape)
    a, b = simulate(desc, flat), simulate(desc, shaped)
    np.testing.assert_array_equal(a.membranes, b.membranes)
    np.testing.assert_array_equal(a.cycles, b.cycles)


@pytest.mark.parametrize("make, words", [
    (lambda c: c[:, :-1], ["event input has shape", "needs (2, 3, 5)"]),
    (lambda c: c[..., :-1], ["event input has shape"]),
    (lambda c: c[0], ["event input has shape"]),
    (lambda c: c.astype(np.int64) - 1, ["event counts hold -1", "0 … 255"]),
    (lambda c: c.astype(np.int64) + 256, ["outside 0 … 255 events per address and step"]),
    (lambda c: c.astype(np.float32), ["event counts have dtype float32"]),
])
def test_bad_counts_are_refused(make, words):
    desc = _fc()
    counts = random_events(2, 2, desc.time_steps, desc.input_size)
    with pytest.raises(ValueError) as err:
        simulate(desc, make(counts))
    for w in words:
        assert w in str(err.value)


def _event_cases():
    for kind in ("fc", "conv2d", "pool", "add"):
        for backend in ("reference", "amaranth", "icarus", "verilator"):
            if backend == "verilator" and kind != "conv2d":
                continue  # a Verilator build each: one kind here, all of them on Icarus
            marks = [pytest.mark.slow] if backend in SLOW else []
            for seed in ((11,) if backend == "verilator" else (11, 12)):
                yield pytest.param(kind, backend, seed, marks=marks, id=f"{kind}-{backend}-{seed}")


@pytest.mark.parametrize("kind, backend, seed", list(_event_cases()))
def test_every_backend_takes_event_input(kind, backend, seed, tmp_path):
    kinds = ("fc", kind) if kind in ("add", "pool") else (kind,)
    desc = random_description(seed, kinds=kinds, events=1.0, max_layers=3)
    assert desc.event_input
    counts = random_events(seed, 3, desc.time_steps, desc.input_size)
    counts[0, 0, 0] = 7  # a burst at one address in one step, always
    sim = assert_backend_equals_simulator(backend, desc, counts, tmp_path)
    assert (sim.chip_counters[:, CHIP["host_pushes"]]
            == counts.reshape(3, -1).sum(axis=1) + desc.time_steps).all()


def test_random_networks_draw_event_input_without_changing_the_others():
    """The events draw is on a side stream: a seed's layers are what they were."""
    seen = set()
    for seed in range(40):
        a, b = random_description(seed), random_description(seed, events=0.0)
        seen.add(a.encoder.kind)
        assert [lay.name for lay in a.layers] == [lay.name for lay in b.layers]
        for la, lb in zip(a.layers, b.layers):
            np.testing.assert_array_equal(la.weight, lb.weight)
        if a.event_input:
            assert b.encoder.kind != "events"
    assert "events" in seen and len(seen) == 4
