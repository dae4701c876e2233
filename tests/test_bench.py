"""The benchmark harness (bench/): its exact comparison, its JSON, and its cost-model fit
on a tiny configuration. No timing assertions: timings depend on the machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import config as C  # noqa: E402
from bench.netspec import from_description, overflow_free  # noqa: E402
from bench.outputs import Outputs, compare  # noqa: E402
from bench.report import TableRow, table  # noqa: E402


UNDER_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need_snntorch() -> None:
    """Skip without snnTorch on a developer machine; fail under CI, which installs it
    (the `dev` extra), so the peer's exactness check is never silently skipped there."""
    try:
        import snntorch  # noqa: F401
    except ImportError as err:
        if UNDER_CI:
            pytest.fail(f"CI must run the snnTorch peer check: {err}")
        pytest.skip(f"snntorch not installed: {err}")


@pytest.fixture(scope="module")
def small_outputs():
    from neurochip.datasets import load_sample
    from neurochip.description import load
    from neurochip.sim.simulator import simulate

    desc = load(C.SMALL_MODEL)
    images, _ = load_sample()
    return simulate(desc, images[:6], record_spikes=True)  # an Observation


def test_compare_identical_and_perturbed(small_outputs: Outputs):
    same = compare(small_outputs, small_outputs.head(4))
    assert same.identical and same.images == 4
    assert "spikes" in same.compared and "cycles" in same.compared
    bad = small_outputs.head(6)
    bad.spikes = bad.spikes.copy()
    bad.spikes[2, 0, 5] ^= 1  # one hidden spike of image 2
    m = compare(small_outputs, bad)
    assert not m.identical
    assert m.differing_images == 1 and m.per_field["spikes"] == 1
    assert m.per_field["counts"] == 0
    assert "DIFFERS in 1 of 6" in m.summary() and "image 2" in m.first
    # a peer with fewer fields is compared on the fields it has
    partial = Outputs(small_outputs.predictions[:3], small_outputs.counts[:3])
    assert compare(small_outputs, partial).compared == ["predictions", "counts"]


def test_peer_with_fewer_outputs_than_timed_images_differs(small_outputs: Outputs):
    short = compare(small_outputs, small_outputs.head(4), timed_images=6)
    assert not short.identical and short.images == 6
    assert "4 images" in short.first and "timed on 6" in short.first
    assert compare(small_outputs, small_outputs.head(4), timed_images=4).identical


def test_peer_without_outputs_is_not_called_identical():
    from bench.outputs import Match

    row = TableRow(name="peer", kind="snntorch", model="m", images=6, seconds=[1.0],
                   images_per_s=6.0, images_per_s_range=[6.0, 6.0], neurochip_speedup=10.0,
                   match=Match(6, [], 0).to_json())
    text = table([row], {})
    assert "not compared (no outputs)" in text and "outputs not compared" in text
    assert "identical" not in text


def test_differing_peer_is_flagged_in_table(small_outputs: Outputs):
    bad = small_outputs.head(6)
    bad.counts = bad.counts.copy()
    bad.counts[0, 0] += 1
    row = TableRow(name="peer", kind="snntorch", model="m", images=6, seconds=[1.0],
                   images_per_s=6.0, images_per_s_range=[6.0, 6.0], neurochip_speedup=10.0,
                   match=compare(small_outputs, bad).to_json())
    text = table([row], {})
    assert "DIFFERS in 1 of 6" in text and "outputs differ" in text


def test_netspec_roundtrip_and_overflow_bound():
    from neurochip.description import load

    spec = from_description(load(C.DEFAULT_MODEL))
    from bench.netspec import NetSpec

    back = NetSpec.from_arrays(spec.to_arrays())
    assert back.shape_text() == "784-1024-1024-10" and back.count_max == spec.count_max
    assert all(np.array_equal(a.weight, b.weight) for a, b in zip(spec.layers, back.layers))
    assert all(overflow_free(lay) for lay in spec.layers)  # default model cannot saturate
    narrow = replace(spec.layers[0], membrane_bits=8)
    assert not overflow_free(narrow)


def test_interleaved_rounds_alternate_and_ratios_are_paired(monkeypatch):
    """Each round runs every function once, in reversed order every other round, and a
    paired ratio is the median of per-round ratios: a host that slows down between rounds
    (here 1, 10, 100 s per call) moves every run alike and leaves the ratio exact."""
    import bench.measure as M

    calls: list[str] = []
    clock = {"round_speed": 1.0}

    def fake_timed(fn):
        name = fn()
        calls.append(name)
        seconds = {"a": 2.0, "b": 1.0}[name] * clock["round_speed"]
        if len(calls) % 2 == 0:  # the host slows ten-fold after every round
            clock["round_speed"] *= 10
        return seconds, name

    monkeypatch.setattr(M, "timed", fake_timed)
    seconds, outs = M.interleaved([lambda: "a", lambda: "b"], 3)
    assert calls == ["a", "b", "b", "a", "a", "b"] and outs == ["a", "b"]
    assert M.paired_ratio(seconds[0], seconds[1]) == {"median": 2.0, "min": 2.0, "max": 2.0,
                                                       "rounds": 3}


def test_quick_harness_tiny(tmp_path: Path):
    """The harness end to end on the small model, in-process, without Verilator."""
    from bench.run import run_bench, write

    cfg = replace(C.quick(), model=C.SMALL_MODEL, images=8, reps=1, peer_reps=1,
                  numpy_images=3, snntorch_b1_images=4, snntorch_batch=4,
                  snntorch_batch_images=8, brian2_images=4, peers=("numpy", "snntorch", "brian2"),
                  in_process=True, out=tmp_path, stem="t", cache=tmp_path / "cache")
    report = run_bench(cfg)
    js, md = write(report, cfg)
    data = json.loads(js.read_text())
    for key in ("sops_per_s_per_core", "speedup_vs_verilator", "rows", "machine", "workers",
                "images_per_s", "compile_seconds", "scaling"):
        assert key in data
    assert data["sops_per_s_per_core"] > 0
    assert data["speedup_vs_verilator"] is None  # no Verilator row here
    assert data["workers"]["identical"]
    # the machine's ceiling for the workers row: as many processes at once, same images
    ceiling = data["workers"]["process_ceiling"]
    assert ceiling["processes"] == data["workers"]["workers"] == 2
    # both from their own alternating rounds (workers_rounds), not the rows' 1 repetition
    assert ceiling["images"] == 8 and ceiling["speedup"]["rounds"] == cfg.workers_rounds == 5
    assert data["workers"]["paired_speedup"]["rounds"] == 5
    assert ceiling["speedup"]["median"] > 0 and ceiling["seconds_together"] > 0
    assert data["workers"]["fraction_of_process_ceiling"] == pytest.approx(
        data["workers"]["speedup"] / ceiling["speedup"]["median"])
    assert "2 processes running the 1-worker call at once" in md.read_text()
    import multiprocessing
    assert not multiprocessing.active_children()  # the ceiling's processes are gone
    rows = {(r["name"], r["model"]): r for r in data["rows"]}
    assert rows[("NumPy reference (functional + cycle model)", "ste-bp-mnist-small")]["match"]["identical"]
    _check_peer_rows(data["rows"])
    assert "| # | implementation" in md.read_text()
    # the CNN slice: the synthetic stand-in until models/ste-bp-mnist-cnn.npz exists
    cnn = data["cnn"]
    assert cnn["kinds"][:4] == ["conv2d", "pool", "conv2d", "pool"]
    assert cnn["synthetic"] == (not C.CNN_MODEL.is_file())
    assert cnn["sops_per_s_per_core"] > 0 and cnn["all_ran_identical"]
    assert cnn["speedup_vs_verilator"] is None  # no Verilator row: no ratio claimed
    cnn_rows = [r for r in data["rows"] if r["model"] == cnn["model"]]
    assert {r["kind"] for r in cnn_rows} >= {"neurochip", "numpy_ref", "snntorch"}
    assert "**CNN**" in md.read_text()


def test_every_shipped_model_table(tmp_path: Path):
    """The per-model section: sim ÷ chip is the measured time over cycles ÷ clock, the
    functional-only ceiling's outputs equal the cycle-accurate run's, snnTorch gets a ratio
    only where it expresses the network (and declines ttfs), unknown names are refused."""
    from bench.per_model import markdown, run_per_model, shipped_models

    cfg = replace(C.quick(), data=None, per_model_models=("ste-bp-mnist-small",
                                                          "stidi-bp-mnist-fc-s4nn"),
                  per_model_seconds=0.001, per_model_min_images=8, per_model_max_images=8,
                  per_model_reps=1, peer_reps=1, snntorch_batch=4, in_process=True,
                  out=tmp_path, stem="t", cache=tmp_path / "cache")
    section, rows = run_per_model(cfg, use_snntorch=True)
    by = {e["model"]: e for e in section["models"]}
    assert list(by) == ["ste-bp-mnist-small", "stidi-bp-mnist-fc-s4nn"]
    for e in by.values():
        assert e["images"] == 8 and e["functional_identical"]
        assert e["sim_time_per_chip_time"] == pytest.approx(
            e["sim_us_per_image"] / e["chip_us_per_image"])
        assert e["chip_us_per_image"] == pytest.approx(e["cycles_per_image"] / e["clock_hz"] * 1e6)
        assert e["cycle_accurate_per_functional"] == pytest.approx(
            e["sim_us_per_image"] / e["functional_us_per_image"])
    assert by["stidi-bp-mnist-fc-s4nn"]["neurons"] == ["ttfs"]
    assert by["stidi-bp-mnist-fc-s4nn"]["snntorch"]["status"] == "not applicable"
    small = by["ste-bp-mnist-small"]["snntorch"]
    if _snntorch_importable():
        assert small["identical"] and small["neurochip_speedup"] > 0
        # the ratio is paired: neurochip timed in the snnTorch task's process, one round
        # each per repetition, the claimed ratio the median of the per-round ratios
        snn = next(r for r in rows if r.kind == "snntorch" and r.model == "ste-bp-mnist-small")
        paired = snn.extra["paired_neurochip"]
        assert paired["speedup"]["rounds"] == len(snn.seconds) == cfg.per_model_reps
        per_round = [a / b for a, b in zip(snn.seconds, paired["neurochip_seconds"])]
        assert small["neurochip_speedup"] == pytest.approx(np.median(per_round), rel=1e-2)
        assert "unpaired_neurochip_speedup" in snn.extra
    md = markdown(section)
    assert "| ste-bp-mnist-small | fc · lif | 4 | 8 |" in md and "sim ÷ chip" in md
    with pytest.raises(SystemExit, match="no shipped model"):
        shipped_models(("no-such-model",))
    from neurochip.description import description_files

    assert len(shipped_models()) == len(description_files(C.MODELS))


def test_kernel_ab_refuses_an_unknown_revision():
    """The A/B tool names a revision git does not know in one line (nothing compiled)."""
    from bench.kernel_ab import main as kernel_ab

    with pytest.raises(SystemExit, match="--base no-such-rev"):
        kernel_ab(["--base", "no-such-rev", "ste-bp-mnist-small"])


def _snntorch_importable() -> bool:
    try:
        import snntorch  # noqa: F401
    except ImportError:
        return not UNDER_CI  # CI installs it: a missing module there is a failure
    return True


def _check_peer_rows(rows: list[dict], brian2_required: bool = False) -> None:
    """No peer may fail: a crashing peer is a defect, not a row to pass over. snnTorch
    must run wherever it is installed (always in CI); Brian2 may be missing unless
    ``brian2_required``."""
    for r in rows:
        if r["kind"] == "brian2":
            assert r["status"] in (("ok",) if brian2_required else ("ok", "not installed")), r
        elif r["kind"] == "snntorch" and not _snntorch_importable():
            assert r["status"] == "not installed", r
        else:
            assert r["status"] == "ok", r
        if r["kind"] != "neurochip" and r["status"] == "ok":
            assert r["match"] is not None and r["match"]["identical"], r
            assert r["neurochip_speedup"] > 0


def test_cost_fit_recovers_known_coefficients():
    from bench.scaling import Measurement, SweepPoint, fit

    rng = np.random.default_rng(0)
    # sops, neuron updates, FIFO items, address steps, pixel-steps, constant
    truth = np.array([0.1e-9, 5e-9, 1e-9, 20e-9, 6e-9, 15e-6])
    ms = []
    for i in range(16):
        conv = i % 2 == 1  # fc points have no address steps
        f = np.array([rng.uniform(0, 5e6), rng.uniform(1e3, 5e4), rng.uniform(1e2, 1e4),
                      rng.uniform(1e3, 4e5) if conv else 0.0, 784 * rng.integers(1, 33), 1.0])
        ms.append(Measurement(SweepPoint("conv_channels" if conv else "rate", 0.1, 64, 8,
                                         8 if conv else 0, 5 if conv else 0),
                              16, float(f @ truth), [0.0, 0.0], f[0], f[1], f[2], f[4],
                              input_rate=0.1, spikes=0.0, cycles=0.0, address_steps=f[3]))
    got = fit(ms)
    assert got.r2 > 0.999
    assert got.ns_per_sop == pytest.approx(0.1, rel=1e-6)
    assert got.ns_per_neuron_update == pytest.approx(5.0, rel=1e-6)
    assert got.coefficients["address_steps"] * 1e9 == pytest.approx(20.0, rel=1e-6)


def _eval_brian2_update(code: str, m: float, bias: float, theta: float) -> tuple[int, float]:
    """Evaluate Brian2 abstract code for one neuron with Python scalars (Brian2's %, clip
    and floor have Python's floored semantics)."""
    import math

    ns = {"m": m, "bias": bias, "theta": theta, "t": 1, "dt": 1, "timestep": lambda t, dt: t,
          "clip": lambda x, lo, hi: min(max(x, lo), hi), "floor": math.floor, "int": int}
    for line in code.splitlines():
        name, expr = line.split(" = ", 1)
        ns[name.strip()] = eval(expr, {"__builtins__": {}}, ns)
    return int(ns["f"]), ns["m"]


@pytest.mark.parametrize("overflow", ["saturate", "wrap"])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_brian2_update_code_is_the_spec(reset: str, overflow: str):
    """The run_regularly code the Brian2 peer generates equals §6 (golden reference), for
    every reset, leak, integration and overflow mode, near the range limits too. Needs
    no Brian2."""
    from neurochip.neurons.lif import LifNeuron
    from neurochip.golden.reference import neuron_update
    from neurochip.random_networks import random_description

    from bench.peers.brian2_peer import update_code

    rng = np.random.default_rng(7)
    base = random_description(3, kinds=("fc",)).layers[0]
    for leak, amount in (("none", 0), ("subtract", 3), ("shift", 2)):
        for integration in ("continuous", "discontinuous"):
            lay = replace(base, membrane_bits=8, overflow=overflow,
                          neuron=LifNeuron(reset=reset, leak=leak, leak_amount=amount,
                                              integration=integration))
            lay.threshold = rng.integers(-100, 101, size=lay.neurons)
            lay.bias = rng.integers(-60, 61, size=lay.neurons)
            spec_lay = from_description(replace(random_description(3, kinds=("fc",)), layers=[lay])).layers[0]
            code = update_code(spec_lay, stage=0, time_steps=4, period=8)
            for _ in range(8):
                m = rng.integers(-128, 128, size=lay.neurons)
                fire, v = neuron_update(m.astype(np.int64), lay)
                for n in range(lay.neurons):
                    got = _eval_brian2_update(code, float(m[n]), float(lay.bias[n]),
                                              float(lay.threshold[n]))
                    assert got == (int(fire[n]), float(v[n])), (lay.neuron, overflow, code)


@pytest.mark.parametrize("overflow", ["saturate", "wrap"])
def test_brian2_bistable_code_is_the_spec(overflow: str):
    """The Brian2 peer's bistable update (§6.2) equals the golden reference in every step
    of two cycles, for both phases and offsets, near the range limits too. Needs no Brian2."""
    from neurochip.golden.reference import bistable_update
    from neurochip.neurons.bistable import BistableNeuron
    from neurochip.random_networks import random_description

    from bench.peers.brian2_peer import bistable_code

    rng = np.random.default_rng(11)
    base = random_description(3, kinds=("fc",)).layers[0]
    for n_steps, phase in ((1, 0), (1, 1), (2, 3), (3, 2)):
        lay = replace(base, membrane_bits=8, overflow=overflow,
                      neuron=BistableNeuron(phase_steps=n_steps, phase=phase))
        lay.threshold = rng.integers(-100, 101, size=lay.neurons)
        lay.bias = rng.integers(-60, 61, size=lay.neurons)
        spec_lay = from_description(replace(random_description(3, kinds=("fc",)), layers=[lay])).layers[0]
        T, stage = 4 * n_steps, 1
        code = bistable_code(spec_lay, stage=stage, time_steps=T, period=T + stage + 1)
        for t in range(T):
            m = rng.integers(-128, 128, size=lay.neurons)
            fire, v = bistable_update(m.astype(np.int64), lay, t)
            for n in range(lay.neurons):
                # a wrapping layer's on_pre adds without wrapping: m may be off by 2^B·j
                shift = 256 * int(rng.integers(-2, 3)) if overflow == "wrap" else 0
                ns = {"m": float(m[n] + shift), "bias": float(lay.bias[n]), "theta": float(lay.threshold[n]),
                      "t": t + stage + 1, "dt": 1, "timestep": lambda t, dt: t,
                      "clip": lambda x, lo, hi: min(max(x, lo), hi), "int": int}
                for line in code.splitlines():
                    name, expr = line.split(" = ", 1)
                    ns[name.strip()] = eval(expr, {"__builtins__": {}}, ns)
                assert (int(ns["f"]), ns["m"]) == (int(fire[n]), float(v[n])), (lay.neuron, t, code)


SNNTORCH_SEEDS = range(12)
BRIAN2_SEEDS = range(12)


def _expressible_for_snntorch(desc):
    """The random network without what snn.Leaky cannot do: no leak, thresholds >= 0 and
    membranes wide enough that no add can overflow (§2 saturation/wrap never acts)."""
    desc.layers = [replace(lay, membrane_bits=30, threshold=np.abs(lay.threshold),
                           neuron=replace(lay.neuron, leak="none", leak_amount=0))
                   for lay in desc.layers]
    return desc


def test_random_networks_cover_every_kind():
    """The peer tests below draw conv2d, pool (both emit modes), add (a residual diamond:
    a core with two sources and a fan-out) and fc."""
    from neurochip.random_networks import random_description

    for seeds in (SNNTORCH_SEEDS, BRIAN2_SEEDS):
        layers = [lay for s in seeds for lay in random_description(s).layers]
        kinds = {lay.kind for lay in layers}
        assert kinds == {"fc", "conv2d", "pool", "add"}, kinds
        assert {lay.geometry["emit"] for lay in layers if lay.kind == "pool"} == {"once", "every_step"}


@pytest.mark.parametrize("seed", range(6))
def test_netspec_synapse_lists_are_the_chips_order(seed: int):
    """Applying a layer's explicit (pre, post, w) list event by event, with saturation after
    every add, gives the golden reference's membranes for the same events (§4-§5): the lists
    hold every kind's touched neurons in the chip's order, per source in drain order."""
    from neurochip.description import signed_range
    from neurochip.golden.reference import KINDS
    from neurochip.random_networks import random_description

    from bench.netspec import INPUT, NetSpec

    desc = random_description(seed)
    spec = NetSpec.from_arrays(from_description(desc).to_arrays())  # through the file format
    rng = np.random.default_rng(seed)
    assert [lay.sources for lay in spec.layers] == [
        [INPUT if s == "input" else [l.name for l in desc.layers].index(s) for s in lay.sources]
        for lay in desc.layers]
    for lay, sl in zip(desc.layers, spec.layers):
        assert sl.kind == lay.kind and sl.neurons == lay.neurons and sl.inputs == lay.inputs
        assert len(sl.threshold) == sl.channels and sl.per_neuron(sl.threshold).shape == (lay.neurons,)
        lay = replace(lay, overflow="saturate")
        lo, hi = signed_range(lay.membrane_bits)
        start = rng.integers(lo, hi + 1, size=lay.neurons)
        ref, mine = start.copy(), start.astype(np.int64).copy()
        for s in range(len(sl.sources)):
            events = np.flatnonzero(rng.random(lay.inputs) < 0.4)
            for a in events:
                ref = KINDS[lay.kind].event(ref, lay, int(a), s)
            pre, post, w = sl.synapses.of(s)
            for a in events:
                for n, wn in zip(post[pre == a], w[pre == a]):
                    mine[n] = min(max(mine[n] + wn, lo), hi)
        assert np.array_equal(ref, mine), (lay.kind, seed)


def test_netspec_of_an_fc_chain_written_before_geometry_loads():
    """A netspec file of the fc-only format (no kind geometry, sources, shapes or synapse
    lists) still loads as the chain it was."""
    import json

    from neurochip.description import load

    from bench.netspec import NetSpec

    arrays = from_description(load(C.SMALL_MODEL)).to_arrays(synapses=False)
    meta = json.loads(bytes(arrays["netspec"]).decode())
    for lay in meta["layers"]:
        for key in ("sources", "geometry", "in_shape", "shape"):
            lay.pop(key)
    arrays["netspec"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    spec = NetSpec.from_arrays(arrays)
    assert [lay.sources for lay in spec.layers] == [[-1], [0]]
    assert spec.shape_text() == "784-64-10" and spec.stages() == [0, 1]
    assert all(lay.synapses is None for lay in spec.layers)


@pytest.mark.parametrize("seed", SNNTORCH_SEEDS)
def test_snntorch_peer_matches_on_expressible_networks(seed: int):
    """snn.Leaky as the peer builds it computes the chip's spikes exactly whenever
    inexpressible() lets it run (leak none; membranes wide enough never to overflow)."""
    need_snntorch()
    import torch
    from neurochip.random_networks import random_description, random_inputs
    from neurochip.sim.simulator import encode_images, simulate

    from bench.peers.snntorch_peer import SnnTorchNet, inexpressible

    desc = _expressible_for_snntorch(random_description(seed, models=("lif",)))
    spec = from_description(desc)
    assert inexpressible(spec) is None
    images = random_inputs(seed, 6, desc)
    ref = simulate(desc, images, record_spikes=True)
    counts, trace = SnnTorchNet(spec)(torch.from_numpy(encode_images(desc, images).astype(np.float32)),
                                      record=True)
    assert np.array_equal(trace.numpy().astype(np.uint8), ref.spikes)
    assert np.array_equal(counts.numpy().astype(np.int64), ref.counts)


def test_snntorch_refuses_only_what_snn_leaky_cannot_do():
    from neurochip.random_networks import random_description

    from bench.peers.snntorch_peer import inexpressible

    from neurochip.neurons.bistable import BistableNeuron

    desc = _expressible_for_snntorch(random_description(0, models=("lif",)))
    lay = desc.layers[0]
    for change, words in ((dict(neuron=replace(lay.neuron, leak="shift", leak_amount=1)), "leak"),
                          (dict(membrane_bits=4), "does not rule it out"),
                          (dict(neuron=BistableNeuron(phase_steps=2, phase=0)), "phase")):
        other = replace(desc, layers=[replace(lay, **change)] + desc.layers[1:])
        assert words in inexpressible(from_description(other))


def test_snntorch_peer_matches_on_the_cnn():
    """The benchmark's CNN (conv2d → pool → conv2d → pool → fc → fc) as snnTorch runs it."""
    need_snntorch()
    import torch
    from neurochip.datasets import load_sample
    from neurochip.sim.simulator import encode_images, simulate

    from bench.cnn import synthetic_cnn
    from bench.peers.snntorch_peer import SnnTorchNet, inexpressible

    images, _ = load_sample()
    images = images.reshape(len(images), -1)[:12]
    desc, firing = synthetic_cnn(images)
    assert all(0.05 < f < 0.5 for f in firing), firing
    spec = from_description(desc)
    assert inexpressible(spec) is None
    ref = simulate(desc, images, record_spikes=True)
    x = torch.from_numpy(encode_images(desc, images).astype(np.float32))
    for batch in (1, 12):
        counts, trace = SnnTorchNet(spec).run_batches(x, batch, record=True)
        assert np.array_equal(trace.numpy().astype(np.uint8), ref.spikes)
        assert np.array_equal(counts.numpy().astype(np.int64), ref.counts)


def test_brian2_emit_once_code_is_the_spec():
    """pool emit = once (§5.3) in the Brian2 update: a neuron goes out at its first firing
    of an image only, the membrane update is unchanged, and the sent bit clears with the
    image. Needs no Brian2."""
    import math

    from neurochip.random_networks import random_description

    from bench.peers.brian2_peer import KIND_EMIT, update_code

    desc = next(d for d in (random_description(s) for s in range(40))
                if any(lay.kind == "pool" and lay.geometry["emit"] == "once" for lay in d.layers))
    lay = next(l for l in from_description(desc).layers if l.kind == "pool" and l.emit_once)
    T, stage, period = 4, 1, 7
    code = update_code(lay, stage, T, period) + "\n" + KIND_EMIT["pool"](lay, stage)
    theta = float(lay.threshold[0])
    fires = [0, 1, 0, 1]  # the neuron fires in steps 1 and 3 of each image
    got = []
    ns = {"sent": 0.0, "theta": theta, "bias": 0.0, "dt": 1, "timestep": lambda t, dt: t,
          "clip": lambda x, lo, hi: min(max(x, lo), hi), "floor": math.floor, "int": int}
    for image in range(2):
        for k in range(period):
            t = image * period + k
            step = k - stage - 1
            ns.update(t=t, m=theta + 1.0 if 0 <= step < T and fires[step] else theta)
            for line in code.splitlines():
                name, expr = line.split(" = ", 1)
                ns[name.strip()] = eval(expr, {"__builtins__": {}}, ns)
            got.append(int(ns["f"]))
    assert got == [0, 0, 0, 1, 0, 0, 0] * 2


def _brian2_python() -> str | None:
    """An interpreter with a working brian2: BENCH_BRIAN2_PYTHON, this one, or the side
    environment of bench/setup_brian2.sh."""
    if os.environ.get("BENCH_BRIAN2_PYTHON"):
        return os.environ["BENCH_BRIAN2_PYTHON"]
    try:
        import brian2  # noqa: F401

        return sys.executable
    except Exception:
        pass
    return str(C.BRIAN2_VENV_PYTHON) if C.BRIAN2_VENV_PYTHON.is_file() else None


def test_brian2_peer_matches_on_random_networks(tmp_path: Path):
    """The Brian2 peer equals neurochip exactly (every layer's spike trains and the
    counts) on random networks with conv2d, pool, add and fc, lif layers in every reset,
    leak, overflow and integration mode as drawn, and bistable layers (Brian2 expresses all
    of them), in one Brian2 process."""
    from neurochip.random_networks import random_description, random_inputs
    from neurochip.sim.simulator import encode_images, simulate

    from bench.netspec import save_workload
    from bench.peers.brian2_peer import NEURON_MODELS

    python = _brian2_python()
    if python is None:
        if UNDER_CI:
            pytest.fail("CI must run the Brian2 peer check (bash bench/setup_brian2.sh)")
        pytest.skip("no brian2 (bash bench/setup_brian2.sh)")
    refs, files = {}, []
    # the neuron models the peer has update code for (it declines ttfs with a reason)
    models = tuple(m for m, entry in NEURON_MODELS.items() if not hasattr(entry, "reason"))
    assert "bistable" in models
    drawn: set[str] = set()
    for seed in BRIAN2_SEEDS:
        desc = random_description(seed, models=models)
        drawn |= {lay.neuron.model for lay in desc.layers}
        images = random_inputs(seed, 5, desc)
        refs[seed] = simulate(desc, images, record_spikes=True)
        path = tmp_path / f"w{seed}.npz"
        save_workload(path, from_description(desc), encode_images(desc, images),
                      images=images, indices=np.arange(5))
        files.append(str(path))
    proc = subprocess.run([python, "-m", "bench.peers.brian2_peer", str(tmp_path / "out")] + files,
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert drawn == set(models), drawn
    assert proc.returncode == 0, proc.stderr[-3000:]
    for seed in BRIAN2_SEEDS:
        got = Outputs.load(tmp_path / "out" / f"w{seed}.outputs.npz")
        match = compare(refs[seed], got)
        assert match.identical and "spikes" in match.compared, (seed, match.summary(), match.first)


@pytest.mark.slow
def test_make_bench_quick_end_to_end(tmp_path: Path):
    """`make bench QUICK=1` as a user runs it: every row in its own process, the Verilator
    row built and run, every peer that ran computes exactly neurochip's outputs."""
    from neurochip.verify.runner import missing_simulator

    why = missing_simulator("verilator")
    if why:
        if UNDER_CI:
            pytest.fail(f"CI must run the Verilator row: {why}")
        pytest.skip(why)
    env = dict(os.environ, PYTHON=sys.executable)
    proc = subprocess.run(["make", "-s", "bench", "QUICK=1", f"BENCH_ARGS=--out {tmp_path}"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads((tmp_path / "quick.json").read_text())
    assert data["mode"] == "quick"
    assert data["sops_per_s_per_core"] > 0
    assert data["verilator"]["identical"] is True
    assert data["speedup_vs_verilator"] > 0
    assert data["workers"]["identical"] is True
    assert data["verilator"]["neurochip_records_spikes"] is True
    rows = {r["name"]: r for r in data["rows"]}
    for name in ("NumPy reference (functional + cycle model)", "Verilator RTL (cocotb)"):
        assert rows[name]["status"] == "ok", rows[name]
    # CI makes Brian2's side environment (README test command), so its row must run there
    _check_peer_rows(data["rows"], brian2_required=UNDER_CI)
    assert any(r["kind"] == "brian2" for r in data["rows"])
    assert "| # | implementation" in proc.stdout
    cnn = data["cnn"]
    assert cnn["sops_per_s_per_core"] > 0 and cnn["all_ran_identical"]
    assert {r["kind"] for r in data["rows"] if r["model"] == cnn["model"]} >= {
        "neurochip", "numpy_ref", "snntorch", "brian2"}


def test_cli_check_runs_each_worker_count_several_times_and_compares_every_run():
    """The `neurochip simulate --workers W --json` check: W = 1 and 2, each called
    ``calls`` times in alternating order; every run's non-timing fields equal, images/s
    the median over a W's calls."""
    from bench.peers.neurochip_sim import cli_check

    out = cli_check(str(C.SMALL_MODEL), {"limit": 16, "data": None}, [1, 2], calls=2)
    assert out["ok"] and out["identical"] and out["calls"] == 2
    assert sorted(out["images_per_s"]) == ["1", "2"]
    assert all(v > 0 for v in out["images_per_s"].values())
