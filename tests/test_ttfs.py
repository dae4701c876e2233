"""The ttfs neuron (architecture.md §6.1): the hand-worked case of the spec on every
software backend, the decision rule's corners, and the description's refusals."""

from __future__ import annotations

import numpy as np
import pytest

from neurochip.counters import CHIP, CORE
from neurochip.description import CoreDescription, CoreMapping, DescriptionError, Encoder, Layer
from neurochip.description import validate
from neurochip.golden.reference import predict_first_spike, run_batch
from neurochip.neurons.ttfs import TtfsNeuron
from neurochip.sim import simulate
from neurochip.sim.simulator import encode_images

W = [[3, 2, -2], [1, 2, 2]]  # rows = inputs 0, 1; columns = classes 0, 1, 2
THETA = [8, 5, 1]
PIXELS = np.array([[255, 200]], dtype=np.uint8)  # latency, T = 5: input 0 at step 0, 1 at 1


def _chip(psp: str, weight=W, threshold=THETA, bits: int = 5) -> CoreDescription:
    w = np.asarray(weight, dtype=np.int64)
    lay = Layer(name="out", inputs=2, neurons=3, weight_bits=4, membrane_bits=bits,
                overflow="saturate", neuron=TtfsNeuron(psp=psp),
                core=CoreMapping(index=0, lanes=2, fifo_depth=4), weight=w,
                threshold=np.asarray(threshold, dtype=np.int64), bias=np.zeros(0, np.int64),
                source="input")
    desc = CoreDescription(name="ttfs-hand", input_shape=(2,), encoder=Encoder("latency", 0),
                           time_steps=5, clock_hz=1e8, count_bits=2, layers=[lay])
    validate(desc)
    return desc


def _both(desc: CoreDescription):
    sim = simulate(desc, PIXELS, record_spikes=True)
    ref = run_batch(desc, encode_images(desc, PIXELS))
    return sim, ref


def test_hand_worked_ramp():
    """§6.1 example, psp = ramp: I = [3, 2, −2] after step 0 and [4, 4, 0] from step 1 on;
    V = [3, 2, −2], [7, 6, −2], [11, 10, −2], [15, 14, −2], [15, 15, −2] (19 and 18
    saturate at 15, B = 5). Class 1 goes out in step 1 (6 > 5), class 0 in step 2
    (11 > 8); the fired bits keep both silent afterwards. Prediction: class 1, the first
    to fire, although the final V of class 0 is as large."""
    for res in _both(_chip("ramp")):
        assert res.spikes[0, :, :].tolist() == [[0, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 0],
                                                [0, 0, 0]]
        assert res.membranes[0].tolist() == [4, 4, 0]
        assert res.states["potentials"][0].tolist() == [15, 15, -2]
        assert res.counts[0].tolist() == [1, 1, 0]
        assert res.predictions[0] == 1


def test_hand_worked_step():
    """§6.1 example, psp = step: I is cleared after every update, so V = [3, 2, −2] after
    step 0 and [4, 4, 0] from step 1 on; nothing fires (4 ≤ 8, 4 ≤ 5, 0 ≤ 1). Fallback:
    the largest final V, a tie of classes 0 and 1 → class 0."""
    for res in _both(_chip("step")):
        assert res.spikes[0].sum() == 0
        assert res.membranes[0].tolist() == [0, 0, 0]
        assert res.states["potentials"][0].tolist() == [4, 4, 0]
        assert res.predictions[0] == 0


@pytest.mark.parametrize("psp", ["ramp", "step"])
def test_hand_worked_cycles(psp):
    """§8 for the example (the cost does not depend on the values): K = 2 groups, FIFO
    depth 4, items a0 EOS a1 EOS EOS EOS EOS. 0 host a0, core idle; 1 pop a0; 2-3 acc;
    4 pop EOS0; 5-6 update; 6 and 7 host stalls (full; not accepted in the cycle a0... a1
    is popped); 7 pop a1; 8-9 acc; 10, 13, 16, 19 pop EOS1..4, each followed by 2 update
    cycles; done in cycle 22. An update cycle reads and writes the I word and the V word
    (2 membrane words), one param word and one fired-bit word."""
    for res in _both(_chip(psp)):
        assert res.cycles[0] == 22
        assert res.chip_counters[0, CHIP["host_pushes"]] == 7
        assert res.chip_counters[0, CHIP["host_stall_cycles"]] == 2
        c = res.core_counters[0, 0]
        assert (c[CORE["pops"]], c[CORE["busy_cycles"]], c[CORE["idle_cycles"]]) == (7, 21, 1)
        assert c[CORE["membrane_word_reads"]] == c[CORE["membrane_word_writes"]] == 4 + 5 * 4
        assert c[CORE["param_word_reads"]] == 10 and c[CORE["neuron_updates"]] == 15
        assert c[CORE["bitmap_reads"]] == c[CORE["bitmap_writes"]] == 10
        assert c[CORE["synaptic_ops"]] == 6 and c[CORE["weight_word_reads"]] == 4


def test_wrap_overflow_of_v():
    """With wrap, V = 15 + 4 in step 4 keeps the low 5 bits: −13."""
    desc = _chip("ramp")
    desc.layers[0].overflow = "wrap"
    for res in _both(desc):
        assert res.states["potentials"][0].tolist() == [-13, -14, -2]


def test_decision_rule_corners():
    """First step with a spike wins, lowest index within it; else argmax V, lowest index."""
    spikes = np.zeros((4, 3), dtype=np.uint8)
    assert predict_first_spike(spikes, np.array([1, 5, 5])) == 1
    assert predict_first_spike(spikes, np.array([-3, -3, -4])) == 0
    spikes[2, 2] = spikes[2, 1] = 1
    spikes[3, 0] = 1
    assert predict_first_spike(spikes, np.array([9, 0, 0])) == 1


def _saved_with(tmp_path, desc: CoreDescription, mutate) -> str:
    """``desc`` saved with its manifest changed by ``mutate`` (as tests/test_description)."""
    import json

    man = desc.manifest()
    mutate(man)
    raw = {"manifest": np.frombuffer(json.dumps(man).encode(), np.uint8)}
    for lay in desc.layers:
        raw[f"{lay.name}.weight"] = lay.weight
        raw[f"{lay.name}.threshold"] = lay.threshold
    path = tmp_path / "m.npz"
    np.savez(path, **raw)
    return str(path)


def test_description_round_trip_and_refusals(tmp_path):
    from neurochip.description import load

    desc = _chip("step")
    back = load(_saved_with(tmp_path, desc, lambda m: None))
    assert back.layers[0].neuron == TtfsNeuron(psp="step") and back.layers[0].bias.size == 0
    with pytest.raises(DescriptionError, match="psp"):
        load(_saved_with(tmp_path, desc,
                         lambda m: m["layers"][0]["neuron"].update(psp="sigmoid")))
    with pytest.raises(DescriptionError, match="out.threshold"):
        desc.layers[0].threshold = np.array([8, 5, 16])  # outside B = 5
        load(_saved_with(tmp_path, desc, lambda m: None))


def test_energy_counts_the_second_register_and_the_fired_bits():
    """§6.1/§10: the V word doubles the update's membrane traffic, and the fired bits are a
    K × L bitmap (here 2 × 2 bits) in the static budget, like a pool's sent bitmap."""
    from neurochip.energy.model import energy_report, load_tech, static_memory_kbit

    desc = _chip("ramp")
    res = simulate(desc, PIXELS)
    tech = load_tech()
    kbit = static_memory_kbit(desc)
    weight_bits = 2 * 2 * 2 * 4  # R = 2 rows × K = 2 words × L = 2 lanes × w = 4 bits
    assert kbit["per_kbit_sram"] == pytest.approx((weight_bits + 2 * 2) / 1e3)
    rep = energy_report(desc, res.core_counters, res.chip_counters, tech)
    L, B = 2, 5
    e = tech.energy_pj
    membrane = 24 * L * B * (e["membrane_read_per_bit"] + e["membrane_write_per_bit"])
    assert rep.components["membrane"][0] == pytest.approx(membrane)
    update = (10 * L * B * e["param_read_per_bit"] + 15 * B * e["neuron_update_per_bit"]
              + 10 * L * (e["bitmap_read_per_bit"] + e["bitmap_write_per_bit"]))
    assert rep.components["neuron_update"][0] == pytest.approx(update)
