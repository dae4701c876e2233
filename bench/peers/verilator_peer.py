"""The generated Verilog of the same model on Verilator under cocotb
(``neurochip.verify.runner.run_rtl``): the cycle-exact peer. The build is cached in a
persistent work folder; a separate ``verilator_build`` task makes it so that the timed
task's peak memory is the simulation's, not the C++ compiler's."""

from __future__ import annotations

import numpy as np

from bench.measure import memory_report, peak_rss_mib
from bench.peers.common import load_batch, out_path
from bench.protocol import Job, RowMeasurement, TaskResult


def _why_not(simulator: str) -> str | None:
    try:
        from neurochip.verify.runner import missing_simulator
    except ImportError as exc:
        return f"{exc.name or exc} (pip install -e '.[verify]')"
    try:
        import cocotb  # noqa: F401
    except ImportError:
        return "cocotb (pip install -e '.[verify]')"
    return missing_simulator(simulator)


def _run_rtl(job: Job, first: int | None = None):
    """One run_rtl call on the job's model and its first ``first`` images (all: None)."""
    from neurochip.description import load
    from neurochip.verify.runner import run_rtl

    batch = load_batch(job)
    return run_rtl(load(job.model_path), batch.images[:first],
                   job.options.get("simulator", "verilator"), job.options["work_dir"],
                   int(job.options["budget_cycles"]), indices=batch.indices[:first],
                   jobs=int(job.options.get("jobs", 2)))


def build(job: Job) -> TaskResult:
    """Generate and compile (or find cached) the model's Verilator build."""
    why = _why_not(job.options.get("simulator", "verilator"))
    if why:
        return TaskResult("not installed", why)
    # one image: the build folder depends only on the stimulus memory depth, which is
    # the same for every batch below 2^20 stimulus words (checked in run())
    rtl = _run_rtl(job, first=1)
    row = RowMeasurement(row="verilator build", kind="verilator_build", images=1,
                         seconds=[rtl.run_seconds], compile_seconds=rtl.build_seconds,
                         extra={"cached": rtl.build_seconds == 0.0})
    return TaskResult("ok", rows=[row], memory=memory_report(peak_rss_mib(), children=True))


def run(job: Job) -> TaskResult:
    simulator = job.options.get("simulator", "verilator")
    why = _why_not(simulator)
    if why:
        return TaskResult("not installed", why)
    import time

    batch = load_batch(job)
    rss_before = peak_rss_mib()
    seconds, builds, generate = [], [], []
    rtl = None
    for _ in range(max(1, job.reps)):
        t0 = time.perf_counter()
        rtl = _run_rtl(job)
        seconds.append(rtl.run_seconds)
        builds.append(rtl.build_seconds)
        generate.append(time.perf_counter() - t0 - rtl.run_seconds - rtl.build_seconds)
    path = out_path(job, simulator)
    rtl.observation.save(path)
    notes = [f"cocotb + {simulator} (single-threaded model, -O3); time = the runner's "
             "simulation call: process start, cocotb, stimulus load, the images and the "
             "per-image debug readback of all membranes and spike trains",
             f"Verilog generation ({np.median(generate):.1f} s) and HDL build excluded"]
    if any(builds):
        notes.append(f"WARNING: {sum(1 for b in builds if b)} timed runs rebuilt the HDL "
                     "(build time excluded, but the compiler's memory is in the peak)")
    row = RowMeasurement(row=f"{simulator.capitalize()} RTL (cocotb)", kind="verilator",
                         images=batch.n, seconds=seconds, compile_seconds=None,
                         outputs=str(path), notes=notes,
                         extra={"generate_seconds": generate, "rebuilt": builds,
                                "work_dir": str(rtl.work_dir)})
    return TaskResult("ok", rows=[row], memory=memory_report(rss_before, children=True))
