"""Every implementation of the chip equals the Numba simulator exactly, written once and
parametrised over backends (the hls4ml layers × backends sweep): the golden NumPy
reference, the whole chip in Amaranth's simulator, and the generated Verilog on Icarus and
Verilator (cocotb). Compared with neurochip.observe.compare: predictions, output counts,
every layer's spike train, final membranes, cycles, every core and chip counter, no
tolerance. Networks come from the one generator, neurochip.random_networks."""

from __future__ import annotations

import os
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurochip.counters import CHIP, CORE
from neurochip.description import CoreDescription, validate
from neurochip.golden.reference import run_batch
from neurochip.kinds import KINDS
from neurochip.neurons import MODELS
from neurochip.neurons.bistable import fires_in
from neurochip.observe import Observation, compare
from neurochip.random_networks import Knobs, random_description, random_inputs
from neurochip.sim import kernel, simulate
from neurochip.sim.pack import PackedModel
from neurochip.sim.simulator import encode_images
from helpers import bounds_case


def need(simulator: str) -> None:
    """Skip when an HDL simulator is genuinely missing on a developer's machine; under CI
    (CI=true, where .ci/run installs both) a missing simulator fails the run."""
    from neurochip.verify.runner import missing_simulator

    why = missing_simulator(simulator)
    if why and os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI must co-simulate on {simulator}: {why}")
    if why:
        pytest.skip(why)


def _reference(desc: CoreDescription, images: np.ndarray, tmp_path) -> Observation:
    return run_batch(desc, encode_images(desc, images))


def _amaranth(desc: CoreDescription, images: np.ndarray, tmp_path) -> Observation:
    from neurochip.verify.amaranth_run import run_amaranth

    return run_amaranth(desc, images)


def _hdl(simulator: str):
    def run(desc: CoreDescription, images: np.ndarray, tmp_path) -> Observation:
        from neurochip.verify.runner import run_rtl

        need(simulator)
        cycles = simulate(desc, images).cycles
        return run_rtl(desc, images, simulator, tmp_path, 2 * int(cycles.max()) + 1000).observation
    return run


BACKENDS = {"reference": _reference, "amaranth": _amaranth, "icarus": _hdl("icarus"),
            "verilator": _hdl("verilator")}
# Seeds per backend: the HDL runs cost a build each (Verilator compiles C++, ~30 s here)
SEEDS = {"reference": range(40), "amaranth": range(24), "icarus": range(16),
         "verilator": (1, 4, 15)}
SLOW = {"verilator"}


def assert_backend_equals_simulator(backend: str, desc: CoreDescription, images: np.ndarray,
                                    tmp_path) -> Observation:
    sim = simulate(desc, images, record_spikes=True)
    got = BACKENDS[backend](desc, images, tmp_path)
    result = compare(sim, got, labels=("simulator", backend))
    assert result.identical, "\n".join(map(str, result.mismatches[:20]))
    assert set(result.compared) >= {"predictions", "counts", "spikes", "membranes", "cycles",
                                    "core_counters", "chip_counters"}
    return sim


def _cases(table: dict = SEEDS):
    """(backend, seed) parameters of a seed table; the slow backends marked slow."""
    for backend, seeds in table.items():
        marks = [pytest.mark.slow] if backend in SLOW else []
        for seed in seeds:
            yield pytest.param(backend, seed, marks=marks, id=f"{backend}-{seed}")


@pytest.mark.parametrize("backend, seed", list(_cases()))
def test_backend_equals_simulator_on_random_network(backend, seed, tmp_path):
    desc = random_description(seed)
    assert_backend_equals_simulator(backend, desc, random_inputs(seed, 3, desc),
                                    tmp_path)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1),
       knobs=st.builds(Knobs, max_inputs=st.integers(1, 20), max_neurons=st.integers(1, 20),
                       max_layers=st.integers(1, 3), max_steps=st.integers(1, 6),
                       max_lanes=st.integers(1, 9), wide_membranes=st.booleans(),
                       extremes=st.booleans()),
       n_images=st.integers(1, 3))
def test_reference_equals_simulator_on_drawn_networks(seed, knobs, n_images, tmp_path_factory):
    """Hypothesis draws the generator's seed and knobs (wide membranes up to B = 32,
    thresholds and biases on the B-bit bounds)."""
    desc = random_description(seed, knobs)
    assert_backend_equals_simulator("reference", desc,
                                    random_inputs(seed, n_images, desc), None)


@pytest.mark.parametrize("overflow", ["saturate", "wrap"])
@pytest.mark.parametrize("backend, bits", [("reference", b) for b in (2, 7, 15, 16, 31, 32)]
                         + [("icarus", b) for b in (2, 15, 16, 31, 32)])
def test_membrane_width_bounds(backend, bits, overflow, tmp_path):
    """Membranes driven to the B-bit bounds by 8-bit weights at every width where the
    simulator changes its storage (int16, int32, int64 adds)."""
    desc, images = bounds_case(bits, overflow)
    sim = assert_backend_equals_simulator(backend, desc, images, tmp_path)
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if overflow == "saturate":  # the bounds were really reached
        assert np.isin(sim.membranes, [lo, hi]).any()


def test_quiet_steps_of_chains_against_the_reference():
    """A step in which only EOS tokens move (the host's only item is its token, no core but
    the output core fires) is timed in closed form in a chain (``kernel._quiet_step``).
    Chains of fc, conv2d and pool cores with the latency encoder over 24 steps (most steps
    quiet), one lane (slow updates) and depth-1 FIFOs between cores (the host's at 2, which
    its closed form needs), so that tokens wait for free slots in quiet steps too."""
    from neurochip.description.model import Encoder

    quiet = stalls = 0
    for seed in range(10):
        desc = random_description(seed, max_layers=3, kinds=("fc", "conv2d", "pool"))
        desc = replace(desc, time_steps=24, encoder=Encoder(kind="latency", seed=seed))
        for i, lay in enumerate(desc.layers):
            lay.core = replace(lay.core, fifo_depth=2 if i == 0 else 1, lanes=1)
            assert lay.sources == ((desc.layers[i - 1].name,) if i else ("input",))  # a chain
        validate(desc)
        images = random_inputs(seed, 3, desc)
        sim = assert_backend_equals_simulator("reference", desc, images, None)
        moving = encode_images(desc, images).any(axis=2)
        for j in range(len(desc.layers) - 1):
            n0, n1 = sim.neuron_offsets[j], sim.neuron_offsets[j + 1]
            moving |= sim.spikes[:, :, n0:n1].any(axis=2)
        quiet += int((~moving).sum())
        stalls += int(sim.counter("stall_cycles")[:, :-1].sum())
    assert quiet > 100 and stalls > 0


@pytest.mark.parametrize("overflow", ["saturate", "wrap"])
def test_depth_one_fifos_and_two_bit_membranes_on_amaranth(overflow):
    """Hand-made worst case: every FIFO of depth 1 (stalls everywhere), 2-bit membranes
    hit by 8-bit weights (every add overflows), one lane (K = N)."""
    desc = random_description(4, max_layers=3, kinds=("fc", "conv2d", "pool"))  # no diamond
    for lay in desc.layers:
        lay.core = replace(lay.core, fifo_depth=1, lanes=1)
        lay.membrane_bits, lay.overflow = 2, overflow
        lay.weight_bits = 1 if lay.kind == "pool" else 8  # a pool has no weight memory
        lay.threshold = np.clip(lay.threshold, -2, 1)
        lay.bias = np.clip(lay.bias, -2, 1)
        if lay.neuron.model == "lif":
            lay.neuron = replace(lay.neuron, leak="none", leak_amount=0)
        if lay.kind != "pool":  # 8-bit weights: every add overflows the 2-bit membrane
            rng = np.random.default_rng(4)
            lay.weight = rng.integers(-128, 128, size=lay.weight.shape)
    validate(desc)
    sim = assert_backend_equals_simulator("amaranth", desc, random_inputs(4, 2, desc),
                                          None)
    assert sim.counter("stall_cycles")[:, :-1].sum() > 0


def test_random_suite_has_teeth():
    """The seeds above really exercise every kind and neuron model, FIFO-full stalls of
    cores and of the host (with the host's pushes in closed form and without), both
    overflow modes, every lif mode, synchronous neurons and
    bistable layers that fire (only in their FIRE steps)."""
    stalls = host_stalls = sync = bistable_spikes = 0
    seen: dict[str, set] = {k: set() for k in ("kind", "model", "overflow", "reset", "leak",
                                               "integration", "psp", "plain", "host")}
    for seed in SEEDS["amaranth"]:
        desc = random_description(seed)
        res = simulate(desc, random_inputs(seed, 3, desc), record_spikes=True)
        # the simulator's two timings of the host (docs/simulator.md): in closed form where
        # its FIFO is its consumer's only source and holds 2 or more items, else as an agent
        first = next(lay for lay in desc.layers if "input" in lay.sources)
        seen["host"].add((len(first.sources) == 1 and first.core.fifo_depth >= 2,
                          bool(res.chip_counter("host_stall_cycles").sum())))
        flags = PackedModel.from_description(desc).layer_cfg[:, kernel.LC_NO_OVERFLOW]
        seen["plain"] |= {(lay.kind, bool(f)) for lay, f in zip(desc.layers, flags)}
        stalls += int(res.counter("stall_cycles").sum())
        host_stalls += int(res.chip_counter("host_stall_cycles").sum())
        for lay in desc.layers:
            seen["kind"].add(lay.kind)
            seen["model"].add(lay.neuron.model)
            seen["overflow"].add(lay.overflow)
            for key in ("reset", "leak", "integration", "psp"):
                if hasattr(lay.neuron, key):
                    seen[key].add(getattr(lay.neuron, key))
            if lay.neuron.model != "lif" and lay.kind == "pool" and lay.geometry["window"] == 1:
                sync += 1  # a synchronous neuron (§6.2)
            if lay.neuron.model == "bistable":
                j = desc.layers.index(lay)
                n0, n1 = res.neuron_offsets[j], res.neuron_offsets[j + 1]
                fire = np.array([fires_in(lay.neuron, t) for t in range(desc.time_steps)])
                active = res.spikes[:, :, n0:n1].any(axis=(0, 2))
                assert not active[~fire].any()  # never fires in INTEGRATE
                bistable_spikes += int(active.sum())
    assert stalls > 0 and host_stalls > 0
    assert sync > 0 and bistable_spikes > 0
    assert seen["kind"] == set(KINDS) and seen["model"] == set(MODELS)
    assert seen["overflow"] == {"saturate", "wrap"}
    assert seen["reset"] == {"subtract", "zero"} and seen["integration"] == {"continuous", "discontinuous"}
    assert seen["leak"] == {"none", "subtract", "shift"}
    assert seen["psp"] == {"ramp", "step"}
    # every kind both with plain adds (its no-overflow bound holds) and saturating ones
    assert seen["plain"] == {(k, f) for k in KINDS for f in (False, True)}
    # both timings of the host, each with FIFO-full host stalls
    assert {(True, True), (False, True)} <= seen["host"]


def test_reference_counts_every_cycle_exactly_once():
    """§10: busy + stall + idle = cycles for every core. The reference counts idle cycles
    itself (the Numba kernel derives them as the remainder), so this can fail."""
    for seed in range(12):
        desc = random_description(seed)
        ref = run_batch(desc, encode_images(desc, random_inputs(seed, 3, desc)))
        total = ref.counter("busy_cycles") + ref.counter("stall_cycles") + ref.counter("idle_cycles")
        np.testing.assert_array_equal(total, np.repeat(ref.cycles[:, None], len(desc.layers), 1))
        assert (ref.chip_counters[:, CHIP["cycles"]] == ref.cycles).all()
        assert (ref.core_counters[:, :, CORE["idle_cycles"]] >= 0).all()


# ----------------------------------------------------------------------------- ttfs (§6.1)
# networks of single-spike neurons only, on every kind: the decision rule (first class out,
# else the largest final V) and the I / V registers are compared on every backend
TTFS_SEEDS = {"reference": range(30), "amaranth": range(12), "icarus": range(6),
              "verilator": (2, 3)}


@pytest.mark.parametrize("backend, seed", list(_cases(TTFS_SEEDS)))
def test_backend_equals_simulator_on_random_ttfs_network(backend, seed, tmp_path):
    desc = random_description(seed, models=("ttfs",))
    sim = assert_backend_equals_simulator(backend, desc,
                                          random_inputs(seed, 3, desc), tmp_path)
    assert sim.states["potentials"] is not None


def test_ttfs_suite_has_teeth():
    """The ttfs seeds decide by a first spike and by the V fallback, both PSP forms and
    pools with and without their own sent bitmap appear, and no neuron goes out twice."""
    first = fallback = 0
    seen_psp, seen_emit = set(), set()
    for seed in TTFS_SEEDS["reference"]:
        desc = random_description(seed, models=("ttfs",))
        res = simulate(desc, random_inputs(seed, 3, desc), record_spikes=True)
        went_out = res.counts.sum(axis=1) > 0
        first += int(went_out.sum())
        fallback += int((~went_out).sum())
        assert res.spikes.sum(axis=1).max() <= 1  # one spike per neuron and image
        for lay in desc.layers:
            seen_psp.add(lay.neuron.psp)
            if lay.kind == "pool":
                seen_emit.add(lay.geometry["emit"])
    assert first > 0 and fallback > 0
    assert seen_psp == {"ramp", "step"} and seen_emit == {"once", "every_step"}


# ----------------------------------------------------------------------------- lif_refractory (§6.4)
# a model added through its state declaration (§6.3) alone: networks of refractory neurons
# only, on every kind, the counter word compared on every backend
REFRACTORY_SEEDS = {"reference": range(30), "amaranth": range(12), "icarus": range(6),
                    "verilator": (0,)}


@pytest.mark.parametrize("backend, seed", list(_cases(REFRACTORY_SEEDS)))
def test_backend_equals_simulator_on_random_refractory_network(backend, seed, tmp_path):
    desc = random_description(seed, models=("lif_refractory",))
    sim = assert_backend_equals_simulator(backend, desc, random_inputs(seed, 3, desc), tmp_path)
    assert sim.states["refractory_left"] is not None


def test_refractory_suite_has_teeth():
    """The refractory seeds hold neurons that fire, sit out their period (the counter is
    non-zero after the last step) and fire again, with R from 1 to 3."""
    refiring = resting = 0
    periods = set()
    for seed in REFRACTORY_SEEDS["reference"]:
        desc = random_description(seed, models=("lif_refractory",))
        res = simulate(desc, random_inputs(seed, 3, desc), record_spikes=True)
        refiring += int((res.spikes.sum(axis=1) >= 2).sum())
        resting += int((res.states["refractory_left"] > 0).sum())
        periods |= {lay.neuron.refractory for lay in desc.layers}
        for lay_i, lay in enumerate(desc.layers):  # never two spikes closer than R + 1 steps
            for img in range(res.images):
                for n in range(lay.neurons):
                    steps = np.flatnonzero(res.layer_spikes(img, lay_i)[:, n])
                    assert np.all(np.diff(steps) > lay.neuron.refractory), (seed, lay.name, n)
    assert refiring > 0 and resting > 0 and periods == {1, 2, 3}


@pytest.mark.parametrize("backend", ["reference", "amaranth"])
def test_backend_equals_simulator_on_a_fan_out_of_three(backend, tmp_path):
    """A core with three consumers (the random generator's residual blocks fan out to two):
    l0 feeds l1, the add l2 = (l1, l0) and the add l3 = (l2, l0), every FIFO just deep
    enough (§7), so pushes of the fan-out stall between its consumers."""
    from neurochip.description import CoreMapping, Encoder, Layer
    from neurochip.neurons.lif import LifNeuron

    rng = np.random.default_rng(3)
    n = 6

    def core(index, depth, lanes=2):
        return CoreMapping(index=index, lanes=lanes, fifo_depth=depth)

    def add(name, sources, index):
        return Layer(name=name, kind="add", source=sources, inputs=n, neurons=n,
                     weight_bits=2, membrane_bits=8, overflow="saturate",
                     neuron=LifNeuron(), core=core(index, n + 1),
                     weight=rng.integers(-2, 2, size=(2, n)), threshold=np.full(n, 2),
                     bias=np.zeros(n, dtype=np.int64), geometry={"in_shape": [1, 1, n]})

    def fc(name, source, inputs, index, depth, lanes):
        return Layer(name=name, inputs=inputs, neurons=n, weight_bits=2, membrane_bits=8,
                     overflow="saturate", neuron=LifNeuron(), core=core(index, depth, lanes),
                     weight=rng.integers(0, 2, size=(inputs, n)), threshold=np.full(n, 1),
                     bias=np.zeros(n, dtype=np.int64), source=source)

    # l1 takes n cycles an event (one lane), so its 2-deep FIFO fills and l0 stalls
    layers = [fc("l0", "input", 8, 0, 3, 2), fc("l1", "l0", n, 1, 2, 1),
              add("l2", ("l1", "l0"), 2), add("l3", ("l2", "l0"), 3)]
    desc = CoreDescription(name="fan-out-3", input_shape=(8,),
                           encoder=Encoder("bernoulli_lfsr", 7), time_steps=5, clock_hz=1e8,
                           count_bits=4, layers=layers)
    validate(desc)
    images = random_inputs(3, 4, desc)
    sim = assert_backend_equals_simulator(backend, desc, images, tmp_path)
    assert sim.spikes[:, :, :n].sum() > 0  # l0 fires, so its three-way pushes are exercised
    assert sim.core_counters[:, 0, CORE["stall_cycles"]].sum() > 0
