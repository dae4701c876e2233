"""The open flow behind ``neurochip synth``: the chip's own Verilog (``neurochip rtl``) →
Yosys (``synth_ecp5`` / ``synth_ice40`` / generic ``synth``) → nextpnr place and route
with timing, for the whole chip or for every core out of context.

Every synthesised top is wrapped in a pin harness (:func:`harness_verilog`): its inputs
come from a shift register fed by one pin, its outputs are XOR-reduced into one
registered pin. So any core fits any package's I/O, no logic is trimmed for want of a
load, and every path starts and ends at a flip-flop. The harness is a module of its own:
the figures below count the design under it only (nextpnr's placed counts include it).

Work folder layout (``out_dir``): ``rtl/`` (the Verilog), one folder per synthesised unit
(``chip/`` or ``core0/``, ``core1/`` …) with ``harness.v``, ``synth.ys``, ``yosys.log``
(``yosys.out``: its console), ``stat.json``, ``netlist.json``, ``nextpnr.log`` and
``report.json``.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from neurochip.synth.devices import Device, device_for
from neurochip.synth.errors import SynthError, ToolFailure
from neurochip.synth.report import (chip_report, nextpnr_figures, unit_figures)
from neurochip.synth.tools import require, run_tool

HARNESS = "neurochip_synth_harness"
CHIP_TOP = "neurochip_top"
YOSYS_TIMEOUT_S = 3600.0
NEXTPNR_TIMEOUT_S = 3600.0
# the size-named memory wrappers of neurochip.hw.memory (with INIT_FILE: $paramod names)
MACRO_SELECTION = ("sram_*", "rom_*", "regfile_*", "$paramod*\\sram_*", "$paramod*\\rom_*")
_SYNTH_PASS = {"ecp5": "synth_ecp5 -noflatten", "ice40": "synth_ice40 -noflatten -dsp",
               "generic": "synth"}


@dataclass(frozen=True)
class Unit:
    """One synthesised top: the chip (``module`` = neurochip_top) or one core."""

    label: str  # "chip" or the layer name
    module: str  # Verilog module name (unescaped)
    folder: str


def run_synth(desc, target: str = "ecp5", device: str | None = None, per_core: bool = False,
              jobs: int = 1, out_dir=None, *, cores: list[str] | None = None,
              place: bool = True,
              block_rams: bool = True, yosys_timeout: float = YOSYS_TIMEOUT_S,
              nextpnr_timeout: float = NEXTPNR_TIMEOUT_S, progress=None) -> dict:
    """Synthesise (and, for an FPGA target, place and route) the chip of ``desc``; the
    report dict of ``neurochip synth --json`` (see neurochip.synth). ``cores`` (layer
    names) synthesises only those cores, out of context (implies ``per_core``);
    ``place=False`` stops after Yosys (no Fmax; ``fits`` from the synthesised counts);
    ``block_rams=False`` maps every memory to logic and flip-flops (Yosys -nobram
    -nolutram), for comparison."""
    from neurochip.hw.config import ChipConfig
    from neurochip.hw.emit import generate

    dev = device_for(target, device)
    if jobs < 1:
        raise SynthError(f"--jobs {jobs}: must be at least 1")
    names = [c.name for c in ChipConfig.from_description(desc).cores]
    unknown = [n for n in cores or [] if n not in names]
    if unknown:
        raise SynthError(f"--core {unknown[0]}: no such layer; the layers are "
                         f"{', '.join(names)}")
    require("yosys")
    if dev is not None and place:
        require(f"nextpnr-{target}")
    say = progress or (lambda text: None)
    keep = out_dir is not None
    if keep and Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise SynthError(f"-o {out_dir}: is a file; pass a folder for the synthesis work")
    out = Path(out_dir) if keep else Path(tempfile.mkdtemp(prefix="neurochip-synth-"))
    start = time.perf_counter()
    try:
        out.mkdir(parents=True, exist_ok=True)
        bundle = generate(desc, out / "rtl")
    except OSError as exc:
        raise SynthError(f"-o {out}: cannot write there ({exc.strerror or exc})") from exc
    per_core = per_core or bool(cores)
    units = ([Unit(n, f"{CHIP_TOP}.core{j}", f"core{j}") for j, n in enumerate(names)
              if not cores or n in cores]
             if per_core else [Unit("chip", CHIP_TOP, "chip")])
    sources = [p.name for p in bundle.verilog]

    def one(unit: Unit) -> dict:
        say(f"synth: {unit.label}: yosys {target} …")
        return synth_unit(unit, out, sources, target, dev, names, desc.clock_hz / 1e6,
                          place, block_rams, yosys_timeout,
                          nextpnr_timeout, say)

    try:
        with ThreadPoolExecutor(max_workers=max(1, min(jobs, len(units)))) as pool:
            results = list(pool.map(one, units))
    except ToolFailure:
        raise  # the work folder stays for its log, even a temporary one
    report = chip_report(desc, [u.label for u in units], target, dev, per_core, results)
    report["seconds"]["total"] = round(time.perf_counter() - start, 2)
    report["out_dir"] = str(out) if keep else None
    if not keep:
        shutil.rmtree(out, ignore_errors=True)
    return report


def synth_unit(unit: Unit, out: Path, sources: list[str], target: str, dev: Device | None,
               core_names: list[str], freq_mhz: float, place: bool, block_rams: bool,
               yosys_timeout: float, nextpnr_timeout: float,
               say) -> dict:
    """Yosys (+ nextpnr) of one unit; its figures (neurochip.synth.report.unit_figures)."""
    work = out / unit.folder
    work.mkdir(parents=True, exist_ok=True)
    rtl = out / "rtl"
    top_text = (rtl / f"{CHIP_TOP}.v").read_text()
    (work / "harness.v").write_text(harness_verilog(unit.module, module_ports(top_text,
                                                                              unit.module)))
    script = yosys_script(unit, sources, target, block_rams)
    (work / "synth.ys").write_text(script)
    rel = Path("..") / unit.folder
    seconds = {"yosys": round(run_tool(
        "yosys", ["-q", "-l", str(rel / "yosys.log"), "-s", str(rel / "synth.ys")], rtl,
        work / "yosys.log", yosys_timeout, console=work / "yosys.out"), 2)}
    figures = unit_figures(work / "stat.json", target, unit.module, core_names)
    figures["seconds"] = seconds
    if dev is None:
        return figures
    overflow = first_overflow(figures, dev)
    figures["fits"], figures["overflow"] = overflow is None, overflow
    if overflow or not place:
        if overflow:
            say(f"synth: {unit.label}: does not fit {dev.name} ({overflow}); not placed")
        figures["fmax_mhz"], figures["critical_path"] = None, None
        return figures
    say(f"synth: {unit.label}: nextpnr {dev.name} …")
    try:
        seconds["nextpnr"] = round(run_tool(
            f"nextpnr-{target}",
            [*dev.nextpnr_args, "--json", "netlist.json", "--report", "report.json",
             "--detailed-timing-report", "--timing-allow-fail",
             "--freq", f"{freq_mhz:g}", "--seed", "1"],
            work, work / "nextpnr.log", nextpnr_timeout), 2)
    except ToolFailure as exc:
        if "Unable to place" not in exc.tail and "more than available" not in exc.tail:
            raise
        figures.update(fits=False, overflow="placement (nextpnr could not place it)",
                       fmax_mhz=None, critical_path=None)
        return figures
    figures.update(nextpnr_figures(work / "report.json", dev))
    return figures


def first_overflow(figures: dict, dev: Device) -> str | None:
    """The first resource the synthesised unit uses more of than ``dev`` has, as
    'luts 90000 > 83640', or None."""
    for name, have in dev.capacity.items():
        if figures[name] > have:
            return f"{name} {figures[name]} > {have}"
    return None


def yosys_script(unit: Unit, sources: list[str], target: str, block_rams: bool = True) -> str:
    """Read the chip's Verilog (run in rtl/, so $readmemh finds the images), keep ``unit``,
    wrap it in the harness, synthesise, write the statistics (and a netlist for nextpnr)."""
    rel = f"../{unit.folder}"
    lines = [f"read_verilog -defer {' '.join(sources)} {rel}/harness.v",
             f"hierarchy -top {HARNESS}"]
    if target == "generic":  # memories stay macros (black boxes), the logic becomes gates
        lines.append(f"blackbox {' '.join(MACRO_SELECTION)}")
    no_rams = "" if block_rams or target == "generic" else " -nobram -nolutram"
    lines.append(f"{_SYNTH_PASS[target]}{no_rams} -top {HARNESS}")
    if target != "generic":
        lines.append(f"write_json {rel}/netlist.json")
    lines.append(f"tee -q -o {rel}/stat.json stat -json"
                 + (" -tech cmos" if target == "generic" else ""))
    return "\n".join(lines) + "\n"


_PORT = re.compile(r"^\s*(input|output)\s+(?:\[(\d+):0\]\s+)?(\\?\S+?)\s*;", re.M)


def module_ports(verilog: str, module: str) -> list[tuple[str, str, int]]:
    """(direction, name, width) of every port of ``module`` in Amaranth's Verilog."""
    head = f"module {_verilog_name(module)}"
    start = verilog.find(head + "(")
    if start < 0:
        start = verilog.find(head + " (")
    if start < 0:
        raise SynthError(f"module {module} is not in the generated Verilog")
    end = verilog.find("\nendmodule", start)
    return [(d, n, int(w) + 1 if w else 1) for d, w, n in _PORT.findall(verilog[start:end])]


def _verilog_name(module: str) -> str:
    return module if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*", module) else f"\\{module} "


def harness_verilog(module: str, ports: list[tuple[str, str, int]]) -> str:
    """The pin harness around ``module``: clk is the clock pin, every other input bit
    comes from a shift register on pin ``si``, all outputs XOR into the register of
    pin ``so``."""
    ins = [(n, w) for d, n, w in ports if d == "input" and n != "clk"]
    outs = [(n, w) for d, n, w in ports if d == "output"]
    n_in, n_out = max(1, sum(w for _, w in ins)), max(1, sum(w for _, w in outs))
    conns, lo = [".clk(clk)"], 0
    for n, w in ins:
        conns.append(f".{n.lstrip(chr(92))}(sr[{lo + w - 1}:{lo}])")
        lo += w
    lo = 0
    for n, w in outs:
        conns.append(f".{n.lstrip(chr(92))}(y[{lo + w - 1}:{lo}])")
        lo += w
    shift = "{sr[%d:0], si}" % (n_in - 2) if n_in > 1 else "si"
    return (f"// neurochip synth: pin harness around {module} (not part of the chip)\n"
            f"module {HARNESS} (input wire clk, input wire si, output reg so);\n"
            f"    reg [{n_in - 1}:0] sr = 0;\n"
            f"    wire [{n_out - 1}:0] y;\n"
            f"    always @(posedge clk) begin\n"
            f"        sr <= {shift};\n"
            f"        so <= ^y;\n"
            f"    end\n"
            f"    {_verilog_name(module)} dut (\n        " + ",\n        ".join(conns)
            + "\n    );\nendmodule\n")


def progress_to_stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
