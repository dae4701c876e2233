"""One sweep point, evaluated on a Dask worker: its description (the overrides applied to
the model; with a float checkpoint, a ``weight_bits`` value re-quantizes it), the images
simulated, and the figures of ``neurochip simulate --json`` (its ``summarize``,
under the same names) without the figures that measure the host (simulator speed,
compile time), so that a point's row does not depend on where it ran. With a synthesis
target, also the resources and Fmax of ``neurochip synth``."""

from __future__ import annotations

import time

import numpy as np

from neurochip.cli.simulate_cmd import HOST_FIELDS  # left out: a row must not depend on the host

# ecp5/ice40 give LUTs, block RAMs, DSPs, Fmax and fits; generic gives cells and transistors
SYNTH_FIELDS = ("luts", "ffs", "brams", "dsps", "fmax_mhz", "fits", "cells", "transistors")


def point_description(desc, sets, checkpoint=None, origin: str = "<description>"):
    """The description of one grid point. Without a checkpoint every assignment is a
    ``--set`` override. With one (a :class:`neurochip.train.quantize.FloatModel`), a chip-wide
    ``weight_bits=W`` first re-quantizes the float weights at W bits (:func:`requantize`)
    and the other assignments apply on top. DescriptionError when the point is invalid."""
    from neurochip.description.overrides import apply_overrides, parse_value, split_assignment

    rest = list(sets)
    if checkpoint is not None:
        widths = [s for s in sets if split_assignment(s)[0] == "weight_bits"]
        if widths:
            rest = [s for s in sets if s not in widths]
            desc = requantize(desc, checkpoint, parse_value(split_assignment(widths[-1])[1]))
    return apply_overrides(desc, rest, origin=origin)


def requantize(desc, checkpoint, bits):
    """``desc`` with the weights, thresholds, biases and membrane widths of
    ``checkpoint`` quantized at ``bits``-bit weights (the trainer's own integer split at
    that width, no retraining); its cores, FIFOs, encoder and clock are kept."""
    from dataclasses import replace

    from neurochip.description import DescriptionError, validate
    from neurochip.train.quantize import FloatModel, quantize

    if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 8:
        raise DescriptionError(f"weight_bits={bits!r}: re-quantize at 1 … 8 bits")
    model = FloatModel({**checkpoint.meta, "weight_bits": bits}, checkpoint.weights,
                       checkpoint.biases)
    q = quantize(model, desc.name, clock_hz=desc.clock_hz, seed=desc.encoder.seed)
    if [(a.name, a.weight.shape) for a in q.layers] != [(b.name, b.weight.shape)
                                                         for b in desc.layers]:
        raise DescriptionError("the checkpoint's layers (" + ", ".join(
            f"{a.name} {a.weight.shape}" for a in q.layers) + ") are not the model's; pass the "
            "checkpoint the model was quantized from")
    layers = [replace(lay, weight=ql.weight, threshold=ql.threshold, bias=ql.bias,
                      weight_bits=ql.weight_bits, membrane_bits=ql.membrane_bits)
              for lay, ql in zip(desc.layers, q.layers)]
    out = replace(desc, layers=layers)
    validate(out)
    return out


def evaluate_point(sets: tuple[str, ...], desc, images: np.ndarray, labels: np.ndarray,
                   source: str, synth: str | None = None, checkpoint=None) -> dict:
    from neurochip.cli.simulate_cmd import summarize
    from neurochip.energy import energy_report, load_tech
    from neurochip.sim import simulate, warm_up

    t0 = time.perf_counter()
    point = point_description(desc, sets, checkpoint)
    tech = load_tech(None)
    compile_s = warm_up(point)
    result = simulate(point, images, keep_state=False)
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
