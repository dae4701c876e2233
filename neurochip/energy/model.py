"""Energy model: every counted event of the simulator times its energy in a technology
table (JSON data file with units and sources), plus static power times run time."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from neurochip.counters import CHIP, CORE
from neurochip.description import CoreDescription

ENERGY_KEYS = ("weight_sram_read_per_bit", "param_read_per_bit", "membrane_read_per_bit",
               "membrane_write_per_bit", "add_per_bit", "neuron_update_per_bit",
               "fifo_access_per_bit", "core_busy_cycle", "core_waiting_cycle")
STATIC_KEYS = ("per_kbit_sram", "per_core_logic")
FIFO_ITEM_BITS = 16


class TechTableError(ValueError):
    """A technology table is malformed; the message names the field."""


@dataclass(frozen=True)
class TechTable:
    name: str
    node_nm: float
    energy_pj: dict[str, float]
    static_uw: dict[str, float]
    path: str


def load_tech(path: str | Path | None = None) -> TechTable:
    """Load a technology table (the shipped 40 nm one by default) and check every entry."""
    if path is None:
        text = resources.files("neurochip.data").joinpath("tech_40nm.json").read_text()
        origin = "neurochip/data/tech_40nm.json"
    else:
        origin = str(path)
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise TechTableError(f"{origin}: cannot read technology table ({exc.strerror})") from exc
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TechTableError(f"{origin}: not valid JSON ({exc})") from exc
    if not isinstance(obj, dict) or obj.get("format") != "neurochip-tech-table":
        raise TechTableError(f"{origin}: field 'format' must be 'neurochip-tech-table'")
    if obj.get("version") != 1:
        raise TechTableError(f"{origin}: field 'version' is {obj.get('version')!r}; "
                             "this neurochip reads version 1")
    energy = _numbers(obj, "energy_pj", ENERGY_KEYS, origin)
    static = _numbers(obj, "static_uw", STATIC_KEYS, origin)
    return TechTable(str(obj.get("name", origin)), float(obj.get("node_nm", math.nan)),
                     energy, static, origin)


def _numbers(obj: dict, section: str, keys: tuple[str, ...], origin: str) -> dict[str, float]:
    sub = obj.get(section)
    if not isinstance(sub, dict):
        raise TechTableError(f"{origin}: missing object '{section}'")
    out = {}
    for key in keys:
        val = sub.get(key)
        if isinstance(val, bool) or not isinstance(val, (int, float)) or not math.isfinite(val) or val < 0:
            raise TechTableError(f"{origin}: field '{section}.{key}' must be a non-negative "
                                 f"number, got {val!r}")
        out[key] = float(val)
    unknown = sorted(set(sub) - set(keys))
    if unknown:
        raise TechTableError(f"{origin}: unknown fields {unknown} in '{section}'; allowed: "
                             f"{list(keys)}")
    return out


@dataclass
class EnergyReport:
    """Per-image energy in pJ by component, shape (n,) each."""

    components: dict[str, np.ndarray]
    synaptic_ops: np.ndarray

    @property
    def total_pj(self) -> np.ndarray:
        return sum(self.components.values())

    def mean_nj(self) -> dict[str, float]:
        return {k: float(v.mean()) / 1e3 for k, v in self.components.items()}

    @property
    def pj_per_sop(self) -> float:
        sops = float(self.synaptic_ops.sum())
        return float(self.total_pj.sum()) / sops if sops else math.nan


def energy_report(desc: CoreDescription, core_counters: np.ndarray, chip_counters: np.ndarray,
                  tech: TechTable) -> EnergyReport:
    """Energy per image from counters (n, layers, counters) and (n, chip counters)."""
    e = tech.energy_pj
    c = core_counters.astype(np.float64)
    lanes = np.array([lay.core.lanes for lay in desc.layers], dtype=np.float64)
    wbits = np.array([lay.weight_bits for lay in desc.layers], dtype=np.float64)
    mbits = np.array([lay.membrane_bits for lay in desc.layers], dtype=np.float64)

    def per_core(counter: str, per_event: np.ndarray | float) -> np.ndarray:
        return (c[:, :, CORE[counter]] * per_event).sum(axis=1)

    seconds = chip_counters[:, CHIP["cycles"]] / desc.clock_hz
    sram_kbit = sum(lay.weight_memory_bits for lay in desc.layers) / 1e3
    static_uw = tech.static_uw["per_kbit_sram"] * sram_kbit + \
        tech.static_uw["per_core_logic"] * len(desc.layers)
    fifo_items = c[:, :, CORE["pops"]].sum(axis=1) + c[:, :, CORE["pushes"]].sum(axis=1) + \
        chip_counters[:, CHIP["host_pushes"]]
    components = {
        "weight_sram": per_core("weight_word_reads", lanes * wbits * e["weight_sram_read_per_bit"]),
        "accumulate": per_core("synaptic_ops", mbits * e["add_per_bit"]),
        "membrane": per_core("membrane_word_reads", lanes * mbits * e["membrane_read_per_bit"])
        + per_core("membrane_word_writes", lanes * mbits * e["membrane_write_per_bit"]),
        "neuron_update": per_core("neuron_updates", mbits * e["neuron_update_per_bit"])
        + per_core("param_word_reads", lanes * 2 * mbits * e["param_read_per_bit"]),
        "fifo": fifo_items * FIFO_ITEM_BITS * e["fifo_access_per_bit"],
        "clock_control": per_core("busy_cycles", e["core_busy_cycle"])
        + per_core("stall_cycles", e["core_busy_cycle"])
        + per_core("idle_cycles", e["core_waiting_cycle"]),
        "static": static_uw * 1e-6 * seconds * 1e12,
    }
    return EnergyReport(components, c[:, :, CORE["synaptic_ops"]].sum(axis=1))
