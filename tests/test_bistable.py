"""The hand-worked cases of docs/architecture.md §6.2 (bistable and synchronous neurons),
checked number by number on the reference, the Numba simulator and the Amaranth chip, and
the model's validation."""

from __future__ import annotations

import numpy as np
import pytest

from neurochip.counters import CORE
from neurochip.description import (CoreDescription, CoreMapping, DescriptionError, Encoder,
                                   Layer, validate)
from neurochip.golden.reference import run_batch
from neurochip.neurons.bistable import BistableNeuron, fires_in
from neurochip.neurons.lif import LifNeuron
from neurochip.observe import compare
from neurochip.sim import simulate
from neurochip.sim.simulator import encode_images

LIF = LifNeuron(reset="subtract", leak="none", leak_amount=0, integration="continuous")


def _one_neuron(neuron, weight, theta, bias, bits, encoder, T) -> CoreDescription:
    layer = Layer(name="out", inputs=len(weight), neurons=1, weight_bits=8,
                  membrane_bits=bits, overflow="saturate", neuron=neuron,
                  core=CoreMapping(index=0, lanes=1, fifo_depth=4),
                  weight=np.array(weight).reshape(-1, 1), threshold=np.array([theta]),
                  bias=np.array([bias]), source="input")
    desc = CoreDescription(name="hand", input_shape=(len(weight),),
                           encoder=Encoder(encoder, 0), time_steps=T, clock_hz=1e8,
                           count_bits=4, layers=[layer])
    validate(desc)
    return desc


def _all_backends(desc, images):
    from neurochip.verify.amaranth_run import run_amaranth

    sim = simulate(desc, images, record_spikes=True)
    for label, other in (("reference", run_batch(desc, encode_images(desc, images))),
                         ("amaranth", run_amaranth(desc, images))):
        result = compare(sim, other, labels=("simulator", label))
        assert result.identical, "\n".join(map(str, result.mismatches[:20]))
    return sim


@pytest.mark.parametrize("model", ["lif", "bistable"])
def test_phase_lead_case(model):
    """§6.2 case 1: a +3 then −3 packet; lif fires one SIN, bistable none; 13 cycles."""
    neuron = LIF if model == "lif" else BistableNeuron(phase_steps=2, phase=0)
    desc = _one_neuron(neuron, [3, -3], 2, 0, 8, "latency", 4)
    sim = _all_backends(desc, np.array([[255, 191]], dtype=np.uint8))
    spikes = sim.spikes[0, :, 0].tolist()
    assert spikes == ([1, 0, 0, 0] if model == "lif" else [0, 0, 0, 0])
    assert sim.membranes[0, 0] == (-2 if model == "lif" else 0)
    assert sim.cycles[0] == 13
    c = sim.core_counters[0, 0]
    expect = {"pops": 6, "busy_cycles": 12, "idle_cycles": 1, "weight_word_reads": 2,
              "synaptic_ops": 2, "membrane_word_reads": 6, "membrane_word_writes": 6,
              "param_word_reads": 4, "neuron_updates": 4, "spikes": sum(spikes)}
    assert {k: int(c[CORE[k]]) for k in expect} == expect


def test_saturation_and_spike_cap_case():
    """§6.2 case 2: at most one spike per fire step, bias only in integrate steps, every
    add saturating in B = 4 bits."""
    desc = _one_neuron(BistableNeuron(phase_steps=2, phase=0), [3], 3, 1, 4,
                       "rate_deterministic", 6)
    sim = _all_backends(desc, np.array([[255]], dtype=np.uint8))
    assert sim.spikes[0, :, 0].tolist() == [0, 0, 1, 1, 0, 0]
    assert sim.membranes[0, 0] == 7


def test_phase_schedule():
    """u = (t + phase) mod 2N; u >= N fires."""
    s = BistableNeuron(phase_steps=3, phase=4)
    assert [fires_in(s, t) for t in range(7)] == [True, True, False, False, False, True, True]
    assert [fires_in(BistableNeuron(phase_steps=1, phase=1), t) for t in range(3)] == \
        [True, False, True]


def test_phase_out_of_range_is_refused():
    desc = _one_neuron(BistableNeuron(phase_steps=2, phase=0), [3], 3, 1, 4,
                       "rate_deterministic", 6)
    desc.layers[0].neuron = BistableNeuron(phase_steps=2, phase=4)
    with pytest.raises(DescriptionError, match=r"neuron\.phase.*0 … 3"):
        validate(desc)


def test_file_round_trip_and_cli_refusal(tmp_path):
    """Settings survive save/load; a phase outside 0 … 2N − 1 in a file is a one-line
    error naming the field, exit code 2."""
    import json
    import subprocess
    import sys

    from neurochip.description import load, save

    desc = _one_neuron(BistableNeuron(phase_steps=5, phase=7), [3], 3, 1, 8,
                       "rate_deterministic", 6)
    save(desc, tmp_path / "b.npz")
    assert load(tmp_path / "b.npz").layers[0].neuron == BistableNeuron(phase_steps=5, phase=7)
    with np.load(tmp_path / "b.npz") as z:
        raw = dict(z)
    manifest = json.loads(bytes(raw["manifest"]).decode())
    manifest["layers"][0]["neuron"]["phase"] = 10
    raw["manifest"] = np.frombuffer(json.dumps(manifest).encode(), np.uint8)
    np.savez(tmp_path / "bad.npz", **raw)
    run = subprocess.run([sys.executable, "-m", "neurochip", "inspect", str(tmp_path / "bad.npz")],
                         capture_output=True, text=True)
    assert run.returncode == 2
    assert "neuron.phase" in run.stderr and "Traceback" not in run.stderr
