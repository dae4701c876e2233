"""Figures of a synthesis run: cell counts from Yosys' ``stat -json`` (per core, by
walking the kept hierarchy), placed utilisation, Fmax and the critical path from
nextpnr's ``--report`` JSON, and the chip report ``neurochip synth`` prints.

Per unit and per core: ``luts`` (LUT4 positions: logic LUTs, plus the two of every ECP5
carry cell CCU2C and distributed-RAM cell TRELLIS_DPR16X4), ``lut4``, ``carry`` (CCU2C /
SB_CARRY), ``ffs``, ``brams`` (DP16KD / SB_RAM40_4K), ``dsps`` (MULT18X18D / SB_MAC16),
``lutram`` (TRELLIS_DPR16X4), and for the generic target ``cells`` and ``transistors``
(Yosys' CMOS estimate). All are Yosys' counts after synthesis, before packing; nextpnr's
placed counts (with route-through LUTs and the pin harness) are under ``placed``."""

from __future__ import annotations

import json
import re
from pathlib import Path

from neurochip.synth.devices import RESOURCES, Device

# Yosys cell type -> figure, per target
_CELLS = {
    "ecp5": {"LUT4": "lut4", "CCU2C": "carry", "TRELLIS_FF": "ffs", "DP16KD": "brams",
             "MULT18X18D": "dsps", "TRELLIS_DPR16X4": "lutram"},
    "ice40": {"SB_LUT4": "lut4", "SB_CARRY": "carry", "SB_RAM40_4K": "brams",
              "SB_RAM40_4KNR": "brams", "SB_RAM40_4KNW": "brams",
              "SB_RAM40_4KNRNW": "brams", "SB_MAC16": "dsps", "SB_SPRAM256KA": "spram"},
    "generic": {},
}
_FIGURES = ("luts", "lut4", "carry", "ffs", "brams", "dsps", "lutram")
_GENERIC = ("ffs", "cells", "transistors", "memory_macros", "memory_bits")
# nextpnr BEL type -> resource, for `placed` and `fits`
_BELS = {
    "ecp5": {"TRELLIS_COMB": "luts", "TRELLIS_FF": "ffs", "DP16KD": "brams",
             "MULT18X18D": "dsps"},
    "ice40": {"ICESTORM_LC": "luts", "ICESTORM_RAM": "brams", "ICESTORM_DSP": "dsps"},
}


def module_totals(stat: dict, module: str) -> dict[str, int]:
    """Cell counts by type of ``module`` with everything instantiated under it, and
    ``transistors`` where Yosys estimated them."""
    mods = stat["modules"]
    memo: dict[str, dict[str, int]] = {}

    def walk(name: str) -> dict[str, int]:
        if name in memo:
            return memo[name]
        entry = mods[name]
        total: dict[str, int] = {}
        for typ, n in entry.get("num_cells_by_type", {}).items():
            key = typ if typ in mods else f"\\{typ}" if f"\\{typ}" in mods else None
            sub = walk(key) if key else {typ: 1}
            for k, v in sub.items():
                total[k] = total.get(k, 0) + n * v
        memo[name] = total
        return total

    key = module if module in mods else f"\\{module}"
    if key not in mods:
        raise KeyError(f"module {module} not in the Yosys statistics")
    total = dict(walk(key))
    est = mods[key].get("estimated_num_transistors")  # Yosys' figure includes submodules
    if est is not None:
        total["transistors"] = int(str(est).rstrip("+"))
    return total


_MACRO = re.compile(r"(?:^|\\)(sram|rom|regfile)_(\d+)x(\d+)(?:x(\d+))?$")


def macro_bits(cell_type: str) -> int | None:
    """Bits of a size-named memory wrapper (neurochip.hw.memory), None for another cell."""
    m = _MACRO.search(cell_type)
    if not m:
        return None
    dims = [int(d) for d in m.groups()[1:] if d]
    return dims[0] * dims[1] * (dims[2] if len(dims) == 3 else 1)


def figures_of(cells: dict[str, int], target: str) -> dict:
    """The report figures of one hierarchy's cell counts."""
    fig = dict.fromkeys(_FIGURES, 0)
    names = _CELLS[target]
    for typ, n in cells.items():
        if typ in names:
            fig[names[typ]] = fig.get(names[typ], 0) + n
        elif target == "ice40" and typ.startswith("SB_DFF"):
            fig["ffs"] += n
        elif target == "generic" and typ.startswith("$_") and "DFF" in typ:
            fig["ffs"] += n
    if target == "ecp5":
        fig["luts"] = fig["lut4"] + 2 * fig["carry"] + 2 * fig["lutram"]
    else:
        fig["luts"] = fig["lut4"]
    if target == "generic":  # memories stay macros: counted, not turned into gates
        macros = {t: n for t, n in cells.items() if macro_bits(t) is not None}
        fig.update(luts=None, lut4=None, carry=None, brams=None, dsps=None, lutram=None)
        fig["memory_macros"] = sum(macros.values())
        fig["memory_bits"] = sum(n * macro_bits(t) for t, n in macros.items())
        fig["cells"] = sum(n for t, n in cells.items()
                           if t != "transistors" and t not in macros)
        fig["transistors"] = cells.get("transistors", 0)
    return fig


def unit_figures(stat_path: Path, target: str, module: str, core_names: list[str]) -> dict:
    """Figures of a synthesised unit (``module`` under the harness) and, for the whole
    chip, of each of its cores (modules ``neurochip_top.core{j}``), each core with what
    its memories became (:func:`memory_map`)."""
    stat = json.loads(Path(stat_path).read_text())
    fig = figures_of(module_totals(stat, module), target)
    if module == "neurochip_top":
        fig["cores"] = [{"name": name, **figures_of(module_totals(stat, core), target),
                         "memories": memory_map(stat, core, target)}
                        for core, name in ((f"neurochip_top.core{j}", name)
                                           for j, name in enumerate(core_names))]
    else:
        fig["memories"] = memory_map(stat, module, target)
    return fig


# what a memory wrapper's cells say it became, per target: (cell type, wording)
_MAPPED = {
    "ecp5": (("DP16KD", "block RAM"), ("TRELLIS_DPR16X4", "distributed RAM"),
             ("TRELLIS_FF", "flip-flops"), ("LUT4", "logic")),
    "ice40": (("SB_RAM40_4K", "block RAM"), ("SB_DFF", "flip-flops"), ("SB_LUT4", "logic")),
}


def memory_map(stat: dict, module: str, target: str) -> list[dict]:
    """Every memory wrapper under ``module`` (neurochip.hw.memory): its name, bits and what
    Yosys made of it (block RAM, distributed RAM, flip-flops, logic, constants or, for the
    generic target, a macro), with the reason where it is not a RAM."""
    mods = stat["modules"]
    out: list[dict] = []

    def key_of(typ: str) -> str | None:
        return typ if typ in mods else f"\\{typ}" if f"\\{typ}" in mods else None

    def visit(name: str) -> None:
        for typ, n in mods[name].get("num_cells_by_type", {}).items():
            bits = macro_bits(typ)
            key = key_of(typ)
            if bits is not None:
                cells = module_totals(stat, key) if key else {}
                out.extend([_mapped(typ, bits, cells, target)] * n)
            elif key:
                visit(key)

    visit(key_of(module) or module)
    return out


def _mapped(typ: str, bits: int, cells: dict[str, int], target: str) -> dict:
    m = _MACRO.search(typ)
    kind, dims = m.group(1), [int(d) for d in m.groups()[1:] if d]
    depth = dims[0] * dims[1] if len(dims) == 3 else dims[0]
    entry = {"memory": m.group(0).lstrip("\\"), "bits": bits}
    if target == "generic":
        return {**entry, "as": "macro"}
    order = _MAPPED[target] if kind == "regfile" else sorted(  # a ROM: logic before FFs
        _MAPPED[target], key=lambda cw: cw[1] == "flip-flops")
    for cell, wording in order:
        used = sum(n for t, n in cells.items() if t.startswith(cell))
        if used:
            entry["as"] = f"{wording} ({used} {cell})"
            if wording == "flip-flops" and depth == 1:
                entry["why"] = "one word: a register (and its read register), no address"
            elif wording == "logic" and kind != "regfile":
                entry["why"] = "read-only and small: cheaper as LUTs than a block"
            elif wording in ("flip-flops", "logic"):
                entry["why"] = "Yosys judged it cheaper than a RAM at this size"
            return entry
    return {**entry, "as": "constants", "why": "folded away by synthesis (fixed contents)"}


def nextpnr_figures(report_path: Path, dev: Device) -> dict:
    """Placed utilisation (used/available by resource), ``fits``, Fmax and the critical
    path from nextpnr's JSON report."""
    rep = json.loads(Path(report_path).read_text())
    util = rep.get("utilization", {})
    placed = {res: {"used": util[bel]["used"], "available": util[bel]["available"],
                    "bel": bel}
              for bel, res in _BELS[dev.target].items() if bel in util}
    overflow = next((f"{res} {p['used']} > {p['available']}" for res, p in placed.items()
                     if p["used"] > p["available"]), None)
    fmax = [v.get("achieved") for v in rep.get("fmax", {}).values() if "achieved" in v]
    out = {"placed": placed, "fits": overflow is None,
           "fmax_mhz": round(min(fmax), 2) if fmax else None,
           "critical_path": critical_path(rep)}
    if overflow:
        out["overflow"] = overflow
    return out


def critical_path(rep: dict) -> dict | None:
    """Start and end cell of nextpnr's slowest clock-to-clock path, its delay and how
    much of it is logic."""
    paths = [p for p in rep.get("critical_paths", []) if p.get("path")]
    if not paths:
        return None
    worst = max(paths, key=lambda p: sum(s.get("delay", 0.0) for s in p["path"]))
    steps = worst["path"]
    delay = sum(s.get("delay", 0.0) for s in steps)
    logic = sum(s.get("delay", 0.0) for s in steps if s.get("type") != "routing")
    return {"from": steps[0].get("from", {}).get("cell"),
            "to": steps[-1].get("to", {}).get("cell"),
            "delay_ns": round(delay, 3), "logic_ns": round(logic, 3),
            "logic_levels": sum(1 for s in steps if s.get("type") == "logic")}


def chip_report(desc, names: list[str], target: str, dev: Device | None, per_core: bool,
                units: list[dict]) -> dict:
    """The report of ``neurochip synth``: chip figures (for ``per_core``, the sums of the
    cores ``names`` synthesised out of context, which leave out the FIFOs and top-level
    logic), the device, and every core."""
    if per_core:
        cores = [{"name": n, **u} for n, u in zip(names, units)]
        keys = _GENERIC if target == "generic" else _FIGURES
        chip = {k: sum(c[k] for c in cores) for k in keys}
    else:
        chip = {k: v for k, v in units[0].items() if k != "cores"}
        cores = units[0]["cores"]
    report = {"model": desc.name, "hash": desc.content_hash(), "target": target,
              "device": dev.name if dev else None, "per_core": per_core,
              "figures": f"sum of {len(cores)} cores ({', '.join(c['name'] for c in cores)}) "
                         "synthesised out of context (FIFOs and top level left out)"
                         if per_core else "whole chip",
              **{k: chip.get(k) for k in _FIGURES}}
    if target == "generic":
        report.update({k: chip[k] for k in _GENERIC}, fits=None, fmax_mhz=None)
    else:
        report["capacity"] = dev.capacity
        if per_core:
            over = [c for c in cores if c.get("fits") is False]
            report["fits"] = not over and not any(
                report[r] > dev.capacity[r] for r in RESOURCES)
            report["overflow"] = (over[0]["overflow"] if over else next(
                (f"{r} {report[r]} > {dev.capacity[r]} (sum of the cores)"
                 for r in RESOURCES if report[r] > dev.capacity[r]), None))
            fmaxes = [c["fmax_mhz"] for c in cores if c.get("fmax_mhz")]
            report["fmax_mhz"] = min(fmaxes) if fmaxes and len(fmaxes) == len(cores) else None
            slow = min((c for c in cores if c.get("fmax_mhz")),
                       key=lambda c: c["fmax_mhz"], default=None)
            report["critical_path"] = ({"core": slow["name"], **slow["critical_path"]}
                                       if slow and slow.get("critical_path") else None)
        else:
            for key in ("fits", "overflow", "fmax_mhz", "critical_path", "placed"):
                report[key] = chip.get(key)
    report["clock_hz"] = desc.clock_hz
    report["cores"] = cores
    report["seconds"] = seconds_of(units, per_core)
    return report


def seconds_of(units: list[dict], per_core: bool) -> dict:
    """Tool wall times: yosys and nextpnr summed over the units (they may overlap with
    --jobs); ``total`` is filled in by the caller."""
    out = {"yosys": round(sum(u["seconds"].get("yosys", 0.0) for u in units), 2)}
    if any("nextpnr" in u["seconds"] for u in units):
        out["nextpnr"] = round(sum(u["seconds"].get("nextpnr", 0.0) for u in units), 2)
    return out
