"""Energy accounting: linear in the exact counters, table validated, calibrated range."""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pytest

from neurochip.counters import CORE
from neurochip.energy import energy_report, load_tech
from neurochip.energy.model import ENERGY_KEYS, TechTableError
from neurochip.random_networks import random_description, random_inputs
from neurochip.sim import simulate

PUBLISHED_NJ = (48.4, 773.0)  # Yin et al., BioCAS 2017, 40 nm chip, MNIST MLPs


def _table(tmp_path, **energy):
    t = json.loads(resources.files("neurochip.data").joinpath("tech_40nm.json").read_text())
    t["energy_pj"] = {k: 0.0 for k in ENERGY_KEYS} | energy
    t["static_uw"] = {"per_kbit_sram": 0.0, "per_core_logic": 0.0}
    path = tmp_path / "t.json"
    path.write_text(json.dumps(t))
    return load_tech(path)


def test_each_component_is_its_counter_times_its_energy(tmp_path):
    desc = random_description(5)
    res = simulate(desc, random_inputs(5, 3, desc))
    tech = _table(tmp_path, weight_sram_read_per_bit=1.0, add_per_bit=1.0)
    rep = energy_report(desc, res.core_counters, res.chip_counters, tech)
    lanes_w = np.array([lay.core.lanes * lay.weight_bits for lay in desc.layers])
    bits = np.array([lay.membrane_bits for lay in desc.layers])
    np.testing.assert_array_equal(rep.components["weight_sram"],
                                  (res.core_counters[:, :, CORE["weight_word_reads"]] * lanes_w).sum(1))
    np.testing.assert_array_equal(rep.components["accumulate"],
                                  (res.core_counters[:, :, CORE["synaptic_ops"]] * bits).sum(1))
    assert rep.components["static"].sum() == 0 and rep.components["fifo"].sum() == 0


def test_static_energy_is_power_times_time(tmp_path):
    desc = random_description(6)
    res = simulate(desc, random_inputs(6, 2, desc))
    tech = _table(tmp_path)
    tech.static_uw["per_core_logic"] = 10.0
    rep = energy_report(desc, res.core_counters, res.chip_counters, tech)
    expected_pj = 10.0 * len(desc.layers) * 1e-6 * res.cycles / desc.clock_hz * 1e12
    np.testing.assert_allclose(rep.components["static"], expected_pj, rtol=1e-12)


@pytest.mark.parametrize("bad", [{"format": "x"}, {"version": 3}, {"energy_pj": {"add_per_bit": "1"}},
                                 {"static_uw": None}])
def test_bad_tables_are_refused(tmp_path, bad):
    t = json.loads(resources.files("neurochip.data").joinpath("tech_40nm.json").read_text())
    t.update(bad)
    path = tmp_path / "t.json"
    path.write_text(json.dumps(t))
    with pytest.raises(TechTableError):
        load_tech(path)


def test_default_table_lists_sources_for_every_entry():
    t = json.loads(resources.files("neurochip.data").joinpath("tech_40nm.json").read_text())
    assert t["units"] == {"energy": "pJ", "power": "uW"}
    for key in list(t["energy_pj"]) + list(t["static_uw"]):
        assert key in t["notes"], f"{key} has no note saying where it comes from"
    assert any("Horowitz" in s for s in t["sources"])


def test_default_model_lands_in_the_published_range(default_model_path):
    from neurochip.datasets import load_sample
    from neurochip.description import load

    desc = load(default_model_path)
    images, _ = load_sample()
    res = simulate(desc, images[:64])
    nj = energy_report(desc, res.core_counters, res.chip_counters, load_tech()).total_pj.mean() / 1e3
    assert PUBLISHED_NJ[0] <= nj <= PUBLISHED_NJ[1], nj
