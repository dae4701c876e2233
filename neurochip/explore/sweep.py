"""One sweep point, evaluated on a Dask worker: the overrides applied to the model, the
images simulated, and the figures of ``neurochip simulate --json`` (its ``summarize``,
under the same names) without the figures that measure the host (simulator speed,
compile time), so that a point's row does not depend on where it ran. With a synthesis
target, also the resources and Fmax of ``neurochip synth``."""

from __future__ import annotations

import time

import numpy as np

# simulate --json fields that describe the host running the simulator, not the chip
HOST_FIELDS = ("sim_images_per_s", "sim_sops_per_s", "compile_seconds", "workers")
SYNTH_FIELDS = ("luts", "ffs", "brams", "dsps", "fmax_mhz", "fits")


def evaluate_point(sets: tuple[str, ...], desc, images: np.ndarray, labels: np.ndarray,
                   source: str, synth: str | None = None) -> dict:
    from neurochip.cli.simulate_cmd import summarize
    from neurochip.description.overrides import apply_overrides
    from neurochip.energy import energy_report, load_tech
    from neurochip.sim import simulate, warm_up

    t0 = time.perf_counter()
    point = apply_overrides(desc, list(sets))
    tech = load_tech(None)
    compile_s = warm_up(point)
    result = simulate(point, images)
    energy = energy_report(point, result.core_counters, result.chip_counters, tech)
    report = summarize(point, result, energy, labels, source, compile_s, tech.name)
    for key in HOST_FIELDS:
        report.pop(key, None)
    if synth:
        report.update(synthesize(point, synth, report))
    return {"model_hash": point.content_hash(), "status": "ok", "result": report,
            "seconds": time.perf_counter() - t0}


def synthesize(desc, target: str, report: dict) -> dict:
    """``neurochip synth``'s figures for one point (a tool failure raises, so the point is
    not stored and a rerun retries it)."""
    from neurochip.synth import run_synth

    s = run_synth(desc, target=target)
    out = {k: s.get(k) for k in SYNTH_FIELDS}
    out.update(synth_target=s.get("target"), synth_device=s.get("device"),
               synth_seconds=s.get("seconds"))
    if s.get("fmax_mhz"):
        out["latency_us_at_fmax"] = report["cycles_per_image"] / float(s["fmax_mhz"])
    return out
