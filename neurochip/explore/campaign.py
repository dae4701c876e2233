"""The RTL campaign: seeded random networks of every kind and neuron model, each
co-simulated on the generated Verilog (Icarus or Verilator, cocotb) against the Numba
simulator and compared with :func:`neurochip.observe.compare`, no tolerance.

A network is a function of its seed alone (:func:`campaign_description`), so any row
reproduces with ``neurochip campaign --seed SEED --networks 1``; the neuron model listed
first rotates with the seed and every fourth seed also draws wide membranes and extreme
thresholds and biases, so that a slice of any length covers every model early."""

from __future__ import annotations

import os
import shutil
import tempfile
import time

from neurochip.description import CoreDescription
from neurochip.neurons import MODELS
from neurochip.random_networks import Knobs, random_description, random_inputs

CAMPAIGN_VERSION = 1  # bump when campaign_description changes what a seed means


def campaign_knobs(seed: int, kinds: tuple[str, ...] | None = None) -> Knobs:
    models = tuple(MODELS)
    r = seed % len(models)
    nasty = seed % 4 == 3
    base = Knobs()
    return Knobs(models=models[r:] + models[:r], kinds=kinds or base.kinds,
                 wide_membranes=nasty, extremes=nasty)


def campaign_description(seed: int, kinds: tuple[str, ...] | None = None) -> CoreDescription:
    return random_description(seed, campaign_knobs(seed, kinds))


def contents(desc: CoreDescription) -> dict:
    """What a network exercises: its kinds, neuron models, overflow modes and input."""
    return {"encoder": desc.encoder.kind,  # events: event input with bursts (§11.2)
            "kinds": sorted({lay.kind for lay in desc.layers}),
            "models": sorted({lay.neuron.model for lay in desc.layers}),
            "overflows": sorted({lay.overflow for lay in desc.layers}),
            "layers": len(desc.layers), "time_steps": desc.time_steps,
            "membrane_bits": [lay.membrane_bits for lay in desc.layers]}


def use_ccache() -> bool:
    """Verilator's generated makefile compiles through $OBJCACHE: with ccache, the
    Verilator runtime and any repeated C++ are compiled once per machine, not per network."""
    if shutil.which("ccache") is None:
        return False
    os.environ.setdefault("OBJCACHE", "ccache")
    return os.environ["OBJCACHE"] == "ccache"


def evaluate_network(seed: int, simulator: str, images: int,
                     kinds: tuple[str, ...] | None = None) -> dict:
    """Co-simulate network ``seed`` on ``simulator`` (run on a Dask worker): a row's
    status, figures and wall time. An HDL build or run failure is a row with status
    ``error`` (its reason kept), not an exception, so the campaign goes on."""
    from neurochip.verify.flow import verify
    from neurochip.verify.runner import RtlRunError

    t0 = time.perf_counter()
    desc = campaign_description(seed, kinds)
    pixels = random_inputs(seed, images, desc)
    result = contents(desc)
    result["ccache"] = use_ccache() if simulator == "verilator" else False
    with tempfile.TemporaryDirectory(prefix=f"neurochip-campaign-{seed}-") as work:
        try:
            report = verify(desc, pixels, simulator, work)
        except RtlRunError as exc:
            status = "error"
            result["error"] = str(exc).splitlines()[0]
        else:
            status = "ok" if report.ok else "mismatch"
            j = report.to_json(limit=5)
            result.update({k: j[k] for k in ("mismatches", "cycles_equal", "predictions_equal",
                                             "total_cycles", "rtl_build_seconds",
                                             "rtl_run_seconds", "first_mismatches")})
    return {"model_hash": desc.content_hash(), "status": status, "result": result,
            "seconds": time.perf_counter() - t0}
