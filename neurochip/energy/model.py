"""Energy model: every counted event of the simulator times its energy in a technology
table (JSON data file with units and sources), plus static power times run time. The
counter table of ``neurochip.counters`` says which entry each event costs."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Callable
from importlib import resources
from pathlib import Path

import numpy as np

from neurochip.counters import CHIP, CHIP_TABLE, CORE, CORE_TABLE
from neurochip.description import CoreDescription
from neurochip.neurons import MODELS

# the table's per-event entries: exactly the ones the counters name
ENERGY_KEYS = tuple(dict.fromkeys(c.energy for c in CORE_TABLE + CHIP_TABLE if c.energy))
STATIC_KEYS = ("per_kbit_sram", "per_core_logic")


@dataclass(frozen=True)
class KindEnergy:
    """How a layer kind costs energy: the counters its events bump (each must have an
    energy entry in the counter table, or be free) and the static entry of each memory
    its ``memory_bits`` declares."""

    counters: tuple[str, ...]
    memories: dict[str, str]  # memory name -> static_uw key


@dataclass(frozen=True)
class ModelEnergy:
    """The counters a neuron model's end-of-step token bumps, and the bits of the memories
    it adds to a core by static_uw key (leakage), both from its declaration (§6.3)."""

    counters: tuple[str, ...]
    memory_bits: Callable[..., dict[str, int]]
    memory_doc: str = ""  # what memory_bits counts, in words (docs/energy.md)


_UPDATE = ("membrane_word_reads", "membrane_word_writes", "param_word_reads", "neuron_updates",
           "spikes")


def _fired_bits(layer) -> dict[str, int]:
    """The fired bits of a model that emits once (one per neuron, in K words of L bits)
    unless the core already keeps a pool's sent bitmap, which then holds them (§6.3); like
    that bitmap, estimated as SRAM leakage. State words are register files like the
    membranes, and like them not in the static budget."""
    from neurochip.neurons.state import fired_bits

    bits = fired_bits(layer)
    return {"per_kbit_sram": bits} if bits else {}


def declared_energy(model) -> ModelEnergy:
    """A model's energy entry from its declaration (§6.3): an update cycle's reads and
    writes (its state words counted as membrane words), and the fired bitmap of a model
    that emits once."""
    if not model.emits_once:
        return ModelEnergy(_UPDATE, lambda layer: {})
    return ModelEnergy(_UPDATE + ("bitmap_reads", "bitmap_writes"), _fired_bits,
                       f"{model.name} fired bits (K·L per core; none in a pool, whose sent "
                       "bitmap holds them)")


_ACCUMULATE = ("weight_word_reads", "synaptic_ops", "membrane_word_reads", "membrane_word_writes")
KIND_ENERGY: dict[str, KindEnergy] = {
    "fc": KindEnergy(_ACCUMULATE, {"weight_memory": "per_kbit_sram"}),
    "conv2d": KindEnergy(_ACCUMULATE + ("address_steps",), {"weight_memory": "per_kbit_sram"}),
    # the sent bitmap is an SRAM-sized array of flip-flops: its leakage is estimated as SRAM's
    "pool": KindEnergy(("synaptic_ops", "membrane_word_reads", "membrane_word_writes",
                        "address_steps", "bitmap_reads", "bitmap_writes"),
                       {"bitmap_memory": "per_kbit_sram"}),
    "add": KindEnergy(_ACCUMULATE, {"weight_memory": "per_kbit_sram"}),
}
# every model's update cycle follows from its declaration (bistable's phase counter, §6.2,
# is one small register per core, inside per_core_logic)
MODEL_ENERGY: dict[str, ModelEnergy] = {name: declared_energy(model)
                                        for name, model in MODELS.items()}

# energy-report components, in report order
BUCKETS = ("weight_sram", "accumulate", "membrane", "neuron_update", "fifo", "clock_control",
           "address_generation", "static")


MAX_TECH_BYTES = 1 << 20  # a table is a few kB of JSON
# bounds of an entry: 1 µJ per event, 1 kW per kbit or core; far above any technology,
# low enough that no run's total can overflow a float (a 1e308 entry gave `inf` nJ)
MAX_ENTRY = {"energy_pj": 1e6, "static_uw": 1e9}


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
        text = _read_bounded(Path(path), origin)
    try:
        obj = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
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


def _read_bounded(path: Path, origin: str) -> str:
    """The text of a table of at most MAX_TECH_BYTES (a device or a huge file is refused
    after reading one byte more)."""
    try:
        with path.open("rb") as f:
            data = f.read(MAX_TECH_BYTES + 1)
    except OSError as exc:
        raise TechTableError(f"{origin}: cannot read technology table "
                             f"({exc.strerror or exc})") from exc
    if len(data) > MAX_TECH_BYTES:
        raise TechTableError(f"{origin}: more than {MAX_TECH_BYTES} bytes; a technology table "
                             "is a small JSON file (see neurochip/data/tech_40nm.json)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TechTableError(f"{origin}: not UTF-8 text ({exc})") from exc


def _numbers(obj: dict, section: str, keys: tuple[str, ...], origin: str) -> dict[str, float]:
    sub = obj.get(section)
    if not isinstance(sub, dict):
        raise TechTableError(f"{origin}: missing object '{section}'")
    out = {}
    hi = MAX_ENTRY[section]
    for key in keys:
        val = sub.get(key)
        if isinstance(val, bool) or not isinstance(val, (int, float)) or not 0 <= val <= hi:
            raise TechTableError(f"{origin}: field '{section}.{key}' must be a number in "
                                 f"0 … {hi:g}, got {val!r}")
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


def static_memory_kbit(desc: CoreDescription) -> dict[str, float]:
    """kbit of memory per static-power entry, from each kind's declared memories."""
    from neurochip.kinds import get_kind

    bits: dict[str, int] = {}
    for lay in desc.layers:
        entry = KIND_ENERGY[lay.kind]
        for memory, n in get_kind(lay.kind).memory_bits(lay).items():
            bits[entry.memories[memory]] = bits.get(entry.memories[memory], 0) + n
        for key, n in MODEL_ENERGY[lay.neuron.model].memory_bits(lay).items():
            bits[key] = bits.get(key, 0) + n
    return {key: n / 1e3 for key, n in bits.items()}


def energy_report(desc: CoreDescription, core_counters: np.ndarray, chip_counters: np.ndarray,
                  tech: TechTable) -> EnergyReport:
    """Energy per image from counters (n, layers, counters) and (n, chip counters): every
    counter of ``neurochip.counters`` times the bits one event moves times the table's
    energy per bit, summed into its bucket; plus static power times run time."""
    e = tech.energy_pj
    c = core_counters.astype(np.float64)
    n = c.shape[0]
    components = {bucket: np.zeros(n) for bucket in BUCKETS}
    for j, ctr in enumerate(CORE_TABLE):
        if ctr.energy is None:
            continue
        per_event = np.array([ctr.bits(lay) for lay in desc.layers], dtype=np.float64) * e[ctr.energy]
        components[ctr.bucket] = components[ctr.bucket] + (c[:, :, j] * per_event).sum(axis=1)
    for j, ctr in enumerate(CHIP_TABLE):
        if ctr.energy is not None:
            components[ctr.bucket] = components[ctr.bucket] + \
                chip_counters[:, j].astype(np.float64) * ctr.bits(None) * e[ctr.energy]
    seconds = chip_counters[:, CHIP["cycles"]] / desc.clock_hz
    static_uw = tech.static_uw["per_core_logic"] * len(desc.layers)
    for key, kbit in static_memory_kbit(desc).items():
        static_uw = tech.static_uw[key] * kbit + static_uw
    components["static"] = static_uw * 1e-6 * seconds * 1e12
    return EnergyReport(components, c[:, :, CORE["synaptic_ops"]].sum(axis=1))
