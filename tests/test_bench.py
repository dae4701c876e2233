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
    rows = {r["name"]: r for r in data["rows"]}
    assert rows["NumPy reference (functional + cycle model)"]["match"]["identical"]
    _check_peer_rows(data["rows"])
    assert "| # | implementation" in md.read_text()


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
    truth = np.array([0.1e-9, 5e-9, 1e-9, 6e-9, 15e-6])
    ms = []
    for i in range(12):
        f = np.array([rng.uniform(0, 5e6), rng.uniform(1e3, 5e4), rng.uniform(1e2, 1e4),
                      784 * rng.integers(1, 33), 1.0])
        ms.append(Measurement(SweepPoint("rate", 0.1, 64, 8), 16, float(f @ truth), [0.0, 0.0],
                              *f[:4], input_rate=0.1, spikes=0.0, cycles=0.0))
    got = fit(ms)
    assert got.r2 > 0.999
    assert got.ns_per_sop == pytest.approx(0.1, rel=1e-6)
    assert got.ns_per_neuron_update == pytest.approx(5.0, rel=1e-6)


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
    base = random_description(3).layers[0]
    for leak, amount in (("none", 0), ("subtract", 3), ("shift", 2)):
        for integration in ("continuous", "discontinuous"):
            lay = replace(base, membrane_bits=8, overflow=overflow,
                          neuron=LifNeuron(reset=reset, leak=leak, leak_amount=amount,
                                              integration=integration))
            lay.threshold = rng.integers(-100, 101, size=lay.neurons)
            lay.bias = rng.integers(-60, 61, size=lay.neurons)
            spec_lay = from_description(replace(random_description(3), layers=[lay])).layers[0]
            code = update_code(spec_lay, stage=0, time_steps=4, period=8)
            for _ in range(8):
                m = rng.integers(-128, 128, size=lay.neurons)
                fire, v = neuron_update(m.astype(np.int64), lay)
                for n in range(lay.neurons):
                    got = _eval_brian2_update(code, float(m[n]), float(lay.bias[n]),
                                              float(lay.threshold[n]))
                    assert got == (int(fire[n]), float(v[n])), (lay.neuron, overflow, code)


@pytest.mark.parametrize("seed", range(8))
def test_snntorch_peer_matches_on_expressible_networks(seed: int):
    """snn.Leaky as the peer builds it computes the chip's spikes exactly whenever
    inexpressible() lets it run (leak none; membranes wide enough never to overflow)."""
    need_snntorch()
    import torch
    from neurochip.random_networks import random_description, random_images
    from neurochip.sim.simulator import encode_images, simulate

    from bench.peers.snntorch_peer import SnnTorchNet, inexpressible

    desc = random_description(seed)
    desc.layers = [replace(lay, membrane_bits=30, threshold=np.abs(lay.threshold),
                           neuron=replace(lay.neuron, leak="none", leak_amount=0))
                   for lay in desc.layers]
    spec = from_description(desc)
    assert inexpressible(spec) is None
    images = random_images(seed, 6, desc.input_size)
    ref = simulate(desc, images, record_spikes=True)
    counts, trace = SnnTorchNet(spec)(torch.from_numpy(encode_images(desc, images).astype(np.float32)),
                                      record=True)
    assert np.array_equal(trace.numpy().astype(np.uint8), ref.spikes)
    assert np.array_equal(counts.numpy().astype(np.int64), ref.counts)


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
