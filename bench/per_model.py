"""Every shipped model in one table (issue 22): simulated time against the chip's own
time, the functional-only ceiling and snnTorch batch B, 1 core, held-out test images.

Per model (``models/*.npz``): neurochip's cycle-accurate simulator (1 worker), the same
kernel with ``timing=False`` (the functional-only ceiling, outputs compared) and, where
snnTorch can express the network, snnTorch CPU at batch B on the same images (outputs
compared; a ratio is claimed only for identical outputs). The chip's time per image is
its mean cycles ÷ its clock; ``sim ÷ chip`` below 1 means faster than the silicon."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from bench import config as C
from bench.report import TableRow
from bench.workload import Images, load_images, make_workload

SIM_TARGET = 2.0  # simulated time ≤ 2× the chip's own (issue 22)
CEILING_TARGET = 1.1  # within 1.1× of the functional-only ceiling


def shipped_models(names: tuple[str, ...] = ()) -> list[Path]:
    """The shipped core descriptions (checkpoints excluded), or those named."""
    from neurochip.description import description_files

    paths = description_files(C.MODELS)
    if names:
        known = {p.stem: p for p in paths}
        missing = [n for n in names if n not in known]
        if missing:
            raise SystemExit(f"--per-model-models: no shipped model {missing}; "
                             f"choose from {sorted(known)}")
        paths = [known[n] for n in names]
    return paths


def dataset_of(model: Path) -> str:
    """The split a shipped model was trained for: its name says so (``fmnist``)."""
    return "fashion-mnist" if "fmnist" in model.stem else "mnist"


def images_for(data_root: Path | None, dataset: str, cache: dict) -> Images:
    """The test split of ``data_root/dataset``, or the shipped sample when there is none."""
    folder = None if data_root is None else data_root / dataset
    key = str(folder) if folder is not None and folder.is_dir() else "sample"
    if key not in cache:
        cache[key] = load_images(None if key == "sample" else Path(key))
    return cache[key]


def pick_images(desc, imgs: Images, budget_s: float, low: int, high: int) -> int:
    """Images per repetition: about ``budget_s`` of simulation, within [low, high] and the
    data (a fast chip gets many images, so fixed per-call costs do not dominate)."""
    from neurochip.sim.simulator import simulate

    probe = imgs.pixels[:8]
    simulate(desc, probe, imgs.indices[:8], keep_state=False)
    t0 = time.perf_counter()
    simulate(desc, probe, imgs.indices[:8], keep_state=False)
    per_image = (time.perf_counter() - t0) / len(probe)
    n = int(budget_s / max(per_image, 1e-7))
    return max(1, min(max(low, min(high, n)), len(imgs.pixels)))


def run_per_model(cfg: C.BenchConfig, use_snntorch: bool) -> tuple[dict, list[TableRow]]:
    """Measure every shipped model; returns the section and its table rows. Its own
    harness and folder, so the main rows' references and outputs are left alone."""
    from bench.run import Harness
    from neurochip.description import load

    h = Harness(cfg)
    h.run_dir = h.run_dir / "per-model"
    h.out_dir = h.run_dir / "outputs"
    data_root = None if cfg.data is None else Path(cfg.data).parent
    cache: dict = {}
    entries, all_rows = [], []
    for path in shipped_models(cfg.per_model_models):
        desc = load(path)
        imgs = images_for(data_root, dataset_of(path), cache)
        n = pick_images(desc, imgs, cfg.per_model_seconds, cfg.per_model_min_images,
                        cfg.per_model_max_images)
        wl = make_workload(path, imgs, n, h.run_dir)
        rows, _ = h.neurochip(wl, [1], [], None, reps=cfg.per_model_reps)
        if use_snntorch:
            # as many rounds as neurochip's own repetitions: each pairs snnTorch with it
            res = h.task("snntorch", f"per-model-{path.stem}-snntorch", wl, n, cfg.per_model_reps,
                         {"batch": cfg.snntorch_batch, "threads": cfg.torch_threads,
                          "pair_neurochip": True})
            rows += h.rows_of(res, wl, f"snnTorch CPU, batch {cfg.snntorch_batch}", "snntorch")
        entries.append(entry(wl, imgs.source, rows, h))
        all_rows += rows
    return {"models": entries, "seconds_budget": cfg.per_model_seconds,
            "snntorch_batch": cfg.snntorch_batch if use_snntorch else None,
            "targets": {"sim_time_per_chip_time <=": SIM_TARGET,
                        "cycle_accurate_per_functional <=": CEILING_TARGET}}, all_rows


def entry(wl, source: str, rows: list[TableRow], h) -> dict:
    w1 = next(r for r in rows if r.kind == "neurochip")
    fn = next((r for r in rows if r.kind == "neurochip-functional"), None)
    snn = next((r for r in rows if r.kind == "snntorch"), None)
    ref = h.reference[wl.model.stem]
    chip_s = float(np.mean(ref.cycles)) / wl.desc.clock_hz
    fn_ok = bool(fn is not None and fn.match and fn.match["identical"])
    # cycle-accurate time ÷ functional-only time (1 = at the ceiling), the median over
    # rounds that alternate the two runs; claimed only when the functional run's outputs
    # equal the cycle-accurate run's
    cpf = _paired_or(fn, w1) if fn_ok else None
    snn_ok = bool(snn is not None and snn.status == "ok" and snn.match and snn.match["identical"])
    kinds = list(dict.fromkeys(lay.kind for lay in wl.desc.layers))
    neurons = list(dict.fromkeys(lay.model for lay in wl.spec.layers))
    return {
        "model": wl.model.stem, "source": source, "images": w1.images,
        "kinds": kinds, "neurons": neurons, "time_steps": wl.spec.time_steps,
        "clock_hz": wl.desc.clock_hz, "chip_us_per_image": chip_s * 1e6,
        "cycles_per_image": float(np.mean(ref.cycles)),
        "sim_us_per_image": 1e6 / w1.images_per_s,
        "sim_us_range": [1e6 / w1.images_per_s_range[1], 1e6 / w1.images_per_s_range[0]],
        "sim_time_per_chip_time": (1.0 / w1.images_per_s) / chip_s,
        "functional_us_per_image": None if fn is None else 1e6 / fn.images_per_s,
        "cycle_accurate_per_functional": cpf["median"] if cpf else None,
        "cycle_accurate_per_functional_range": [cpf["min"], cpf["max"]] if cpf else None,
        "functional_identical": fn_ok,
        "compile_seconds": w1.compile_seconds,
        "snntorch": None if snn is None else {
            "status": snn.status, "reason": snn.reason, "identical": snn_ok,
            "images_per_s": snn.images_per_s,
            "neurochip_speedup": snn.neurochip_speedup if snn_ok else None,
            # paired: neurochip timed beside snnTorch in its task, alternating rounds
            "neurochip_speedup_range": _paired_range(snn) if snn_ok else None,
            "unpaired_neurochip_speedup": snn.extra.get("unpaired_neurochip_speedup")},
    }


def _paired_or(fn: TableRow, w1: TableRow) -> dict:
    """Cycle-accurate ÷ functional time: paired per alternating round where measured so,
    else the ratio of the two rows' median rates (min = max = it)."""
    paired = fn.extra.get("paired_cycle_accurate_per_functional")
    if paired:
        return paired
    r = fn.images_per_s / w1.images_per_s
    return {"median": r, "min": r, "max": r}


def _paired_range(snn: TableRow) -> list[float] | None:
    """[min, max] of the per-round neurochip ÷ snnTorch ratios, where the task paired them."""
    paired = snn.extra.get("paired_neurochip")
    return [paired["speedup"]["min"], paired["speedup"]["max"]] if paired else None


def markdown(section: dict) -> str:
    b = section.get("snntorch_batch")
    head = ("| model | kinds · neurons | T | images | chip µs/image (cycles @ clock) | "
            "sim µs/image (range) | **sim ÷ chip** | functional-only µs/image | "
            "cycle-accurate ÷ functional | " + (f"neurochip ÷ snnTorch b{b} |" if b else "|"))
    lines = ["## Every shipped model (1 worker, held-out test images)", "",
             "Simulated time per image against the chip's own (mean cycles ÷ clock; below 1 "
             "the simulator is faster than the silicon), and against the same kernel without "
             f"its cycle model (`timing=False`, outputs compared). Targets (issue 22): sim ÷ "
             f"chip ≤ {SIM_TARGET:g}, cycle-accurate ÷ functional ≤ {CEILING_TARGET:g} (the "
             "two runs alternate round by round; the median of the per-round time ratios, "
             "its range in brackets; snnTorch's ratio likewise, neurochip timed beside it "
             "in the snnTorch task's process). Each "
             f"model runs about {section['seconds_budget']:g} s of images per repetition; "
             "Fashion-MNIST models on its test split, the others on MNIST's.", "",
             head, "|" + "---|" * (head.count("|") - 1)]
    for e in section["models"]:
        s = e.get("snntorch")
        if s is None:
            snn = ""
        elif s["status"] != "ok":
            snn = f"— ({s['status']}) |"
        elif not s["identical"]:
            snn = "outputs differ: no ratio |"
        else:
            rng = s.get("neurochip_speedup_range")
            snn = f"{s['neurochip_speedup']:.2f}×" + (
                f" ({rng[0]:.2f}–{rng[1]:.2f}) |" if rng else " |")
        cpf = e["cycle_accurate_per_functional"]
        mark = lambda v, t: f"**{v:.2f}**" if v <= t else f"{v:.2f} (over {t:g})"  # noqa: E731
        lines.append(
            f"| {e['model']} | {', '.join(e['kinds'])} · {', '.join(e['neurons'])} | "
            f"{e['time_steps']} | {e['images']} | {e['chip_us_per_image']:,.1f} "
            f"({e['cycles_per_image']:,.0f} @ {e['clock_hz'] / 1e6:g} MHz) | "
            f"{e['sim_us_per_image']:,.1f} ({e['sim_us_range'][0]:,.1f}–"
            f"{e['sim_us_range'][1]:,.1f}) | {mark(e['sim_time_per_chip_time'], SIM_TARGET)} | "
            f"{e['functional_us_per_image'] or float('nan'):,.1f} | "
            + (f"{mark(cpf, CEILING_TARGET)} ({e['cycle_accurate_per_functional_range'][0]:.2f}–"
               f"{e['cycle_accurate_per_functional_range'][1]:.2f})" if cpf is not None
               else "outputs differ") + " | " + snn)
    met = [e for e in section["models"] if e["sim_time_per_chip_time"] <= SIM_TARGET]
    lines += ["", f"sim ÷ chip ≤ {SIM_TARGET:g}: {len(met)} of {len(section['models'])} models"
              + (f" (not: {', '.join(e['model'] for e in section['models'] if e not in met)})"
                 if len(met) < len(section["models"]) else "") + "."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.per_model [--models a,b] [--no-snntorch] [--out DIR]``: this table
    alone, written to DIR/per-model.json and .md."""
    import argparse
    import json
    from dataclasses import replace

    from bench.machine import load_average, machine_info, one_line

    p = argparse.ArgumentParser(prog="python -m bench.per_model", description=__doc__.splitlines()[0])
    p.add_argument("--models", help="comma list of shipped model names (default: all)")
    p.add_argument("--data", help="IDX folder of MNIST's test split (Fashion-MNIST beside it), "
                   "or 'sample' (default: ../shared/datasets/mnist)")
    p.add_argument("--seconds", type=float, help="simulation per repetition (default 2)")
    p.add_argument("--reps", type=int, help="repetitions (default 5)")
    p.add_argument("--no-snntorch", action="store_true", help="skip the snnTorch rows")
    p.add_argument("--out", type=Path, default=C.RESULTS, help="folder (default %(default)s)")
    a = p.parse_args(argv)
    cfg = replace(C.full(), stem="per-model", out=a.out)
    if a.models:
        cfg.per_model_models = tuple(x.strip() for x in a.models.split(",") if x.strip())
    if a.data:
        cfg.data = None if a.data == "sample" else Path(a.data)
    cfg.per_model_seconds = a.seconds or cfg.per_model_seconds
    cfg.per_model_reps = a.reps or cfg.per_model_reps
    t0 = time.perf_counter()
    machine = machine_info(C.ROOT)
    section, _ = run_per_model(cfg, not a.no_snntorch)
    machine["load_average_end"] = load_average()
    section["machine"] = machine
    section["wall_seconds"] = round(time.perf_counter() - t0, 1)
    md = f"Machine: {one_line(machine)}.\n\n{markdown(section)}\n\nWall time: {section['wall_seconds']} s.\n"
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "per-model.json").write_text(json.dumps(section, indent=1) + "\n")
    (a.out / "per-model.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())

