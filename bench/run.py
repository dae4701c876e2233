"""``make bench``: neurochip's cycle-accurate simulator against the NumPy reference,
snnTorch, Brian2 and the Verilator RTL, on the same network and the same images, for the
default fc model and for a convolutional network (the CNN rows).

Writes ``bench/results/<stem>.json`` and ``<stem>.md`` (stem ``latest``; ``quick`` with
--quick) and prints the table. Every implementation runs in its own process; a peer that
is not installed or fails becomes a row saying so. See bench/README.md."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from neurochip.observe import Observation

from bench import config as C
from bench.machine import load_average, machine_info, one_line
from bench.outputs import Match, compare
from bench.protocol import Job, TaskResult
from bench.report import TableRow, measured_row, missing_row, notes_list, table
from bench.tasks import run_task
from bench.workload import Workload, load_images, make_workload


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- CLI

def parse_args(argv: list[str] | None = None) -> C.BenchConfig:
    p = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__.split("\n\n")[0],
        epilog="presets (the options above override them):\n" + "\n".join(
            f"  {c.mode:5s}  {_preset(c)}" for c in (C.full(), C.quick())),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="CI-sized run (~1 min): shipped sample, few images, small model for "
                        "the Verilator row, Brian2 numpy target, a slice of the CNN rows, no "
                        "scaling sweep")
    p.add_argument("--images", type=int, help="neurochip's images (peers run a prefix of them); "
                   "default all of the data")
    p.add_argument("--reps", type=int, help="repetitions of neurochip (peers: --peer-reps)")
    p.add_argument("--peer-reps", type=int, help="repetitions of the slower peers")
    p.add_argument("--out", type=Path, help=f"output folder (default {C.RESULTS})")
    p.add_argument("--stem", help="output file names <out>/<stem>.json|.md "
                   "(default latest; quick with --quick)")
    p.add_argument("--model", type=Path, help=f"core description (default {C.DEFAULT_MODEL.name})")
    p.add_argument("--data", help="IDX folder (test split) or 'sample' for the shipped sample "
                   f"(default {C.MNIST_DIR} if present)")
    p.add_argument("--peers", help=f"comma list of peers to run, of {','.join(C.PEERS)}; "
                   "'none' for neurochip only")
    p.add_argument("--workers", type=int, help="workers of the multi-worker neurochip row")
    p.add_argument("--numpy-images", type=int)
    p.add_argument("--snntorch-images", type=int, help="images of the snnTorch batch-1 row")
    p.add_argument("--torch-threads", type=int, help="torch.set_num_threads for snnTorch")
    p.add_argument("--brian2-images", type=int)
    p.add_argument("--brian2-target", choices=("cython", "numpy"))
    p.add_argument("--brian2-python", help="Python interpreter with a working brian2 "
                   f"(default: this one, else {C.BRIAN2_VENV_PYTHON} if it exists)")
    p.add_argument("--verilator-images", type=int)
    p.add_argument("--verilator-model", type=Path)
    p.add_argument("--verilator-reps", type=int)
    p.add_argument("--cnn-model", help="the CNN rows' model: 'auto' (default: "
                   f"{C.CNN_MODEL.relative_to(C.ROOT)} if it exists, else the synthetic stand-in), "
                   "'synthetic', 'none' (no CNN rows) or a core description's path")
    p.add_argument("--cnn-images", type=int, help="neurochip's CNN images (0: all; default 256, quick 32)")
    p.add_argument("--cnn-numpy-images", type=int)
    p.add_argument("--cnn-snntorch-images", type=int, help="images of the CNN's snnTorch batch-1 row")
    p.add_argument("--cnn-brian2-images", type=int)
    p.add_argument("--cnn-brian2-target", choices=("cython", "numpy"))
    p.add_argument("--cnn-verilator-images", type=int, help="0: no Verilator row on the CNN")
    p.add_argument("--no-scaling", action="store_true", help="skip the scaling sweep")
    p.add_argument("--per-model", action=argparse.BooleanOptionalAction, default=None,
                   help="the every-shipped-model table (sim ÷ chip, functional ceiling, snnTorch "
                        "batch B); default: on in full mode, off in quick mode")
    p.add_argument("--per-model-models", help="comma list of shipped model names for that table")
    p.add_argument("--in-process", action="store_true",
                   help="run every task in this process (tests; no per-row memory)")
    a = p.parse_args(argv)
    cfg = C.quick() if a.quick else C.full()
    pick = {"images": a.images, "reps": a.reps, "peer_reps": a.peer_reps, "out": a.out,
            "stem": a.stem, "model": a.model, "workers": a.workers,
            "numpy_images": a.numpy_images, "snntorch_b1_images": a.snntorch_images,
            "torch_threads": a.torch_threads, "brian2_images": a.brian2_images,
            "brian2_target": a.brian2_target, "brian2_python": a.brian2_python,
            "verilator_images": a.verilator_images, "verilator_model": a.verilator_model,
            "verilator_reps": a.verilator_reps, "cnn_model": a.cnn_model,
            "cnn_images": a.cnn_images, "cnn_numpy_images": a.cnn_numpy_images,
            "cnn_snntorch_b1_images": a.cnn_snntorch_images,
            "cnn_brian2_images": a.cnn_brian2_images, "cnn_brian2_target": a.cnn_brian2_target,
            "cnn_verilator_images": a.cnn_verilator_images}
    cfg = replace(cfg, **{k: v for k, v in pick.items() if v is not None})
    if a.data is not None:
        cfg.data = None if a.data == "sample" else Path(a.data)
    if a.peers is not None:
        cfg.peers = () if a.peers == "none" else tuple(x.strip() for x in a.peers.split(","))
        unknown = set(cfg.peers) - set(C.PEERS)
        if unknown:
            p.error(f"unknown peers {sorted(unknown)}; choose from {list(C.PEERS)}")
    cfg.scaling = cfg.scaling and not a.no_scaling
    if a.per_model is not None:
        cfg.per_model = a.per_model
    if a.per_model_models:
        cfg.per_model_models = tuple(x.strip() for x in a.per_model_models.split(",") if x.strip())
        cfg.per_model = True
    cfg.in_process = a.in_process
    return cfg


def _preset(c: C.BenchConfig) -> str:
    v = c.verilator_model.stem.replace("ste-bp-mnist-", "")
    return (f"data {'MNIST test split' if c.data else 'shipped sample'}, images "
            f"{c.images or 'all'}, reps {c.reps}/{c.peer_reps}; NumPy ref {c.numpy_images}, "
            f"snnTorch {c.snntorch_b1_images} (batch 1) / {c.snntorch_batch_images or 'all'} "
            f"(batch {c.snntorch_batch}), Brian2 {c.brian2_images} ({c.brian2_target}), "
            f"Verilator {c.verilator_images} ({v} model, {c.verilator_reps} reps); CNN "
            f"({c.cnn_model}): {c.cnn_images or 'all'} images, NumPy ref {c.cnn_numpy_images}, "
            f"snnTorch {c.cnn_snntorch_b1_images}"
            + ("" if c.cnn_snntorch_batch_images < 0 else
               f" / {c.cnn_snntorch_batch_images or 'all'}")
            + f", Brian2 {c.cnn_brian2_images} ({c.cnn_brian2_target}), Verilator "
            f"{c.cnn_verilator_images or 'no'}; "
            f"scaling {'yes' if c.scaling else 'no'}; writes {c.stem}.json/.md")


# ----------------------------------------------------------------------------- tasks

class Harness:
    """Runs the tasks of one benchmark and keeps neurochip's reference per model."""

    def __init__(self, cfg: C.BenchConfig):
        self.cfg = cfg
        self.run_dir = cfg.cache / f"run-{cfg.stem}"
        self.out_dir = self.run_dir / "outputs"
        self.reference: dict[str, Observation] = {}  # model stem -> neurochip, 1 worker
        self.reference_path: dict[str, Path] = {}
        self.baseline: dict[tuple[str, int], float] = {}  # (model, images) -> images/s
        # (model, images) -> images/s with every spike train and membrane recorded
        self.recording_baseline: dict[tuple[str, int], float] = {}

    def task(self, kind: str, name: str, wl: Workload, images: int, reps: int,
             options: dict | None = None, python: str | None = None) -> TaskResult:
        job = Job(kind=kind, workload=str(wl.path), out_dir=str(self.out_dir / wl.model.stem), reps=reps,
                  images=images, model_path=str(wl.model), options=options or {})
        t0 = time.perf_counter()
        log(f"{name}: {images} images, {reps} reps ...")
        res = run_task(job, name, self.run_dir, python=python, in_process=self.cfg.in_process,
                       timeout=self.cfg.task_timeout)
        log(f"{name}: {res.status}{' (' + res.reason + ')' if res.reason else ''} "
            f"[{time.perf_counter() - t0:.1f} s]")
        return res

    def sops(self, model: str, n: int) -> int:
        from neurochip.counters import CORE

        return int(self.reference[model].core_counters[:n, :, CORE["synaptic_ops"]].sum())

    def rows_of(self, res: TaskResult, wl: Workload, name: str, kind: str) -> list[TableRow]:
        """Table rows of a finished task: stats, SOPs, ratio and exact comparison."""
        model = wl.model.stem
        if res.status != "ok":
            return [missing_row(name, kind, res.status, res.reason, model)]
        rows = []
        for m in res.rows:
            row = measured_row(m, model, self.sops(model, m.images))
            row.memory, row.versions = dict(res.memory), dict(res.versions)
            base = self.baseline.get((model, m.images))
            if base is not None and row.images_per_s:
                row.neurochip_images_per_s = base
                row.neurochip_speedup = base / row.images_per_s
            _use_pairing(row)
            if m.outputs and Path(m.outputs) == self.reference_path.get(model):
                pass  # the reference itself
            elif m.outputs:
                row.match = compare(self.reference[model],
                                    Observation.load(Path(m.outputs), like=self.reference[model]),
                                    timed_images=m.images).to_json()
            else:  # a peer that returned nothing to check is listed so, never as matching
                row.match = Match(m.images, [], 0).to_json()
            rows.append(row)
        return rows

    def neurochip(self, wl: Workload, workers: list[int], baselines: list[int],
                  cli: dict | None, recording_baselines: list[int] = (), reps: int = 0
                  ) -> tuple[list[TableRow], list[dict]]:
        res = self.task("neurochip", f"neurochip-{wl.model.stem}", wl, wl.images,
                        reps or self.cfg.reps,
                        {"workers": workers, "baselines": baselines, "cli_check": cli,
                         "workers_rounds": self.cfg.workers_rounds,
                         "recording_baselines": list(recording_baselines)})
        if res.status != "ok":
            raise SystemExit(f"neurochip itself failed: {res.reason}")
        model = wl.model.stem
        main = [m for m in res.rows if m.kind == "neurochip"]
        functional = [m for m in res.rows if m.kind == "neurochip-functional"]
        self.reference_path[model] = Path(main[0].outputs)
        self.reference[model] = Observation.load(self.reference_path[model])
        extra_baselines = []
        for m in res.rows:
            rate = m.images / float(np.median(m.seconds))
            if m.kind == "neurochip-baseline" or m.extra.get("workers") == 1:
                self.baseline[(model, m.images)] = rate
            if m.kind == "neurochip-baseline-recording":
                self.recording_baseline[(model, m.images)] = rate
            if m.kind.startswith("neurochip-baseline"):
                extra_baselines.append({"model": model, "images": m.images, "kind": m.kind,
                                        "seconds": m.seconds, "images_per_s": rate})
        rows = self.rows_of(TaskResult("ok", rows=main + functional, memory=res.memory,
                                       versions=res.versions), wl, "neurochip", "neurochip")
        # simulated time ÷ the chip's own time (cycles / clock) per image, every row
        chip_s = float(np.mean(self.reference[model].cycles)) / wl.desc.clock_hz
        for row in rows:
            if row.images_per_s and chip_s > 0:
                row.extra["sim_time_per_chip_time"] = (1.0 / row.images_per_s) / chip_s
                if row.kind == "neurochip":
                    row.notes.append(f"simulated time ÷ chip time "
                                     f"{row.extra['sim_time_per_chip_time']:.2f} "
                                     f"({chip_s * 1e6:.1f} µs/image at "
                                     f"{wl.desc.clock_hz / 1e6:g} MHz)")
        return rows, extra_baselines


def _use_pairing(row: TableRow) -> None:
    """A peer that timed neurochip beside itself in alternating rounds (``pair_neurochip``):
    its 'neurochip ÷ this' is the median of the per-round ratios, the ratio from
    neurochip's own task (another process, another moment) kept beside it."""
    paired = row.extra.get("paired_neurochip")
    if not paired or not row.images_per_s:
        return
    ratio = paired["speedup"]
    row.extra["unpaired_neurochip_speedup"] = row.neurochip_speedup
    row.neurochip_images_per_s = paired["neurochip_images_per_s"]
    row.neurochip_speedup = ratio["median"]
    unpaired = ("" if row.extra["unpaired_neurochip_speedup"] is None else
                f"; from neurochip's own task {row.extra['unpaired_neurochip_speedup']:.2f}×")
    row.notes.append(f"neurochip ÷ this paired: neurochip (1 worker) timed in this task's "
                     f"process in alternating rounds, median of {ratio['rounds']} per-round "
                     f"ratios {ratio['median']:.2f}× (range {ratio['min']:.2f}–"
                     f"{ratio['max']:.2f}×){unpaired}")


def brian2_python(cfg: C.BenchConfig) -> list[tuple[str | None, str]]:
    """Interpreters to try for Brian2, in order, with how they were chosen."""
    if cfg.brian2_python:
        return [(cfg.brian2_python, "--brian2-python")]
    if os.environ.get("BENCH_BRIAN2_PYTHON"):
        return [(os.environ["BENCH_BRIAN2_PYTHON"], "BENCH_BRIAN2_PYTHON")]
    out: list[tuple[str | None, str]] = [(None, "this interpreter")]
    if C.BRIAN2_VENV_PYTHON.is_file() and not cfg.in_process:
        out.append((str(C.BRIAN2_VENV_PYTHON), "side environment bench/.cache/brian2-venv"))
    return out


def run_bench(cfg: C.BenchConfig) -> dict:
    t_start = time.perf_counter()
    if cfg.cnn_model not in ("auto", "synthetic", "none") and not Path(cfg.cnn_model).is_file():
        raise SystemExit(f"--cnn-model {cfg.cnn_model}: no such file; use auto, synthetic, "
                         "none or the path of a core description")
    machine = machine_info(C.ROOT)
    h = Harness(cfg)
    imgs = load_images(cfg.data, cfg.images)
    n = len(imgs.pixels)
    clamp = lambda k: max(1, min(k or n, n))  # noqa: E731
    sizes = {"numpy": clamp(cfg.numpy_images), "snn1": clamp(cfg.snntorch_b1_images),
             "snnB": clamp(cfg.snntorch_batch_images), "brian2": clamp(cfg.brian2_images),
             "verilator": clamp(cfg.verilator_images)}
    main_model, v_model = cfg.model.resolve(), cfg.verilator_model.resolve()
    use = set(cfg.peers)
    log(f"{cfg.mode} run: {n} images from {imgs.source}; peers {sorted(use) or 'none'}")
    wl = make_workload(main_model, imgs, n, h.run_dir)
    peer_sizes = {sizes[k] for k, p in (("numpy", "numpy"), ("snn1", "snntorch"),
                                        ("snnB", "snntorch"), ("brian2", "brian2")) if p in use}
    if "verilator" in use and v_model == main_model:
        peer_sizes.add(sizes["verilator"])
    cli = ({"limit": n, "data": str(cfg.data) if cfg.data else None, "split": "test"}
           if cfg.cli_check else None)
    v_same = "verilator" in use and v_model == main_model
    rows, baselines = h.neurochip(wl, [1, cfg.workers] if cfg.workers > 1 else [1],
                                  sorted(peer_sizes - {n}), cli,
                                  [sizes["verilator"]] if v_same else [])
    v_wl = wl
    if "verilator" in use and not v_same:
        v_wl = make_workload(v_model, imgs, sizes["verilator"], h.run_dir)
        v_rows, more = h.neurochip(v_wl, [1], [], None, [sizes["verilator"]])
        baselines += more
        v_rows[0].notes.append("baseline for the Verilator row (same model and images)")
        rows += v_rows
    if "numpy" in use:
        res = h.task("numpy_ref", "numpy_ref", wl, sizes["numpy"], cfg.peer_reps)
        rows += h.rows_of(res, wl, "NumPy reference", "numpy_ref")
    if "snntorch" in use:
        for key, batch in (("snn1", 1), ("snnB", cfg.snntorch_batch)):
            res = h.task("snntorch", f"snntorch_b{batch}", wl, sizes[key], cfg.peer_reps,
                         {"batch": batch, "threads": cfg.torch_threads,
                          "pair_neurochip": True})
            rows += h.rows_of(res, wl, f"snnTorch CPU, batch {batch}", "snntorch")
    if "brian2" in use:
        rows += run_brian2(h, wl, sizes["brian2"])
    if "verilator" in use:
        note = (f"model {v_wl.model.stem}, not the default: quick mode keeps the first "
                "Verilator build within the time budget" if v_wl is not wl else None)
        rows += run_verilator(h, v_wl, sizes["verilator"], note=note)
    cnn_rows, cnn_wl, cnn_info, more = run_cnn(h, imgs, use)
    baselines += more
    machine["load_average_end"] = load_average()
    report = assemble(cfg, machine, imgs.source, n, wl, rows, baselines)
    if cnn_wl is not None:
        report["cnn"] = cnn_section(cnn_rows, cnn_wl, cnn_info)
        report["rows"] += [r.to_json() for r in cnn_rows]
    else:
        report["cnn"] = None
    if cfg.per_model:
        from bench.per_model import run_per_model

        log("every shipped model ...")
        report["per_model"], _ = run_per_model(cfg, "snntorch" in use)
    if cfg.scaling:
        from bench.scaling import run_scaling

        log("scaling sweep ...")
        scaling = run_scaling(cfg.out)
        coef = scaling["fit"]["coefficients"]
        scaling["default_model"] = fit_check(h, wl, report["images_per_s"], coef)
        if cnn_wl is not None:
            scaling["cnn"] = fit_check(h, cnn_wl, report["cnn"]["images_per_s"], coef)
        report["scaling"] = scaling
        report["ns_per_sop"] = scaling["fit"]["ns_per_sop"]
        report["ns_per_neuron_update"] = scaling["fit"]["ns_per_neuron_update"]
        report["ns_per_address_step"] = scaling["fit"]["coefficients_ns"]["address_steps"]
    else:
        report["scaling"] = {"skipped": "quick mode or --no-scaling; run `make bench`"}
    report["wall_seconds"] = round(time.perf_counter() - t_start, 1)
    report["markdown"] = markdown(report, rows + cnn_rows)
    return report


# ----------------------------------------------------------------------------- the CNN

def resolve_cnn(cfg: C.BenchConfig, imgs) -> tuple[Path, dict] | None:
    """The CNN rows' model (see ``BenchConfig.cnn_model``) and what it is."""
    choice = cfg.cnn_model
    if choice == "none":
        return None
    why = ""
    if choice == "auto":
        if C.CNN_MODEL.is_file():
            return C.CNN_MODEL.resolve(), {"synthetic": False}
        choice, why = "synthetic", f"{C.CNN_MODEL.relative_to(C.ROOT)} does not exist yet"
    if choice == "synthetic":
        from bench.cnn import write_synthetic_cnn

        t0 = time.perf_counter()
        path, firing = write_synthetic_cnn(cfg.cache / f"run-{cfg.stem}" / "synthetic-cnn.npz",
                                           imgs.pixels, imgs.indices)
        log(f"synthetic CNN built and calibrated in {time.perf_counter() - t0:.1f} s "
            f"({why or 'asked for'})")
        return path.resolve(), {
            "synthetic": True, "why": why or "--cnn-model synthetic",
            "calibration_firing": firing,
            "what": "stand-in of the same topology: random ±1 weights, per-channel "
                    "thresholds calibrated on the run's first images for ~15 % firing"}
    path = Path(choice)
    if not path.is_file():
        raise SystemExit(f"--cnn-model {choice}: no such file; use auto, synthetic, none or "
                         "the path of a core description")
    return path.resolve(), {"synthetic": False}


def run_cnn(h: Harness, imgs, use: set[str]) -> tuple[list[TableRow], Workload | None, dict, list[dict]]:
    """The CNN rows: neurochip (1 and N workers), the NumPy reference, snnTorch (batch 1
    and B), Brian2 and the Verilator RTL, on the same integer network and images."""
    cfg = h.cfg
    resolved = resolve_cnn(cfg, imgs)
    if resolved is None:
        return [], None, {}, []
    path, info = resolved
    total = len(imgs.pixels)
    n = max(1, min(cfg.cnn_images or total, total))
    clamp = lambda k: max(1, min(k or n, n))  # noqa: E731
    sizes = {"numpy": clamp(cfg.cnn_numpy_images), "snn1": clamp(cfg.cnn_snntorch_b1_images),
             "snnB": clamp(cfg.cnn_snntorch_batch_images), "brian2": clamp(cfg.cnn_brian2_images),
             "verilator": clamp(cfg.cnn_verilator_images)}
    batch_row = cfg.cnn_snntorch_batch_images >= 0
    verilator = "verilator" in use and cfg.cnn_verilator_images > 0
    log(f"CNN rows: {path.name}{' (synthetic stand-in)' if info['synthetic'] else ''}, "
        f"{n} images")
    wl = make_workload(path, imgs, n, h.run_dir)
    peer = [("numpy", "numpy")] + [("snn1", "snntorch")] + ([("snnB", "snntorch")] if batch_row
                                                              else []) + [("brian2", "brian2")]
    peer_sizes = {sizes[k] for k, p in peer if p in use}
    if verilator:
        peer_sizes.add(sizes["verilator"])
    workers = [1, cfg.workers] if cfg.cnn_workers and cfg.workers > 1 else [1]
    rows, baselines = h.neurochip(wl, workers, sorted(peer_sizes - {n}), None,
                                  [sizes["verilator"]] if verilator else [])
    if info["synthetic"]:
        rows[0].notes.append(f"synthetic CNN ({info['why']}): {info['what']}; calibration "
                             "firing per layer " + ", ".join(f"{f:.0%}" for f in
                                                             info["calibration_firing"]))
    if "numpy" in use:
        res = h.task("numpy_ref", "cnn-numpy_ref", wl, sizes["numpy"],
                     cfg.cnn_numpy_reps or cfg.peer_reps)
        rows += h.rows_of(res, wl, "NumPy reference", "numpy_ref")
    if "snntorch" in use:
        for key, batch in (("snn1", 1),) + ((("snnB", cfg.snntorch_batch),) if batch_row else ()):
            res = h.task("snntorch", f"cnn-snntorch_b{batch}", wl, sizes[key], cfg.peer_reps,
                         {"batch": batch, "threads": cfg.torch_threads,
                          "pair_neurochip": True})
            rows += h.rows_of(res, wl, f"snnTorch CPU, batch {batch}", "snntorch")
    if "brian2" in use:
        rows += run_brian2(h, wl, sizes["brian2"], target=cfg.cnn_brian2_target, name="cnn-brian2")
    if verilator:
        rows += run_verilator(h, wl, sizes["verilator"], name="cnn-verilator")
    return rows, wl, info, baselines


def cnn_section(rows: list[TableRow], wl: Workload, info: dict) -> dict:
    """The CNN's headline numbers: SOP/s per core and the ratios, each claimed only for
    identical outputs."""
    def identical(r):
        return bool(r is not None and r.status == "ok" and r.match and r.match["identical"])

    def ratio(r):
        return r.neurochip_speedup if identical(r) else None

    w1 = next(r for r in rows if r.kind == "neurochip" and r.threads == 1)
    wN = next((r for r in rows if r.kind == "neurochip" and r.threads > 1), None)
    ver = next((r for r in rows if r.kind == "verilator"), None)
    snn = [r for r in rows if r.kind == "snntorch"]
    snn1 = next((r for r in snn if r.name.endswith("batch 1")), None)
    snnB = next((r for r in snn if not r.name.endswith("batch 1")), None)
    b2 = next((r for r in rows if r.kind == "brian2"), None)
    ref = next((r for r in rows if r.kind == "numpy_ref"), None)
    out = {
        "model": wl.model.stem,
        "path": (str(wl.model.relative_to(C.ROOT)) if wl.model.is_relative_to(C.ROOT)
                 else str(wl.model)),
        "synthetic": info["synthetic"], "synthetic_why": info.get("why"),
        "calibration_firing": info.get("calibration_firing"),
        "name": wl.desc.name, "hash": wl.desc.content_hash()[:12],
        "network": wl.spec.shape_text(), "kinds": [lay.kind for lay in wl.desc.layers],
        "time_steps": wl.spec.time_steps, "images": w1.images,
        "images_per_s": w1.images_per_s, "sops_per_image": (w1.sops or 0) / max(1, w1.images),
        "sops_per_s_per_core": w1.sops_per_s_per_core, "compile_seconds": w1.compile_seconds,
        "sim_time_per_chip_time": w1.extra.get("sim_time_per_chip_time"),
        "functional_ceiling": _ceiling(rows, wl.model.stem),
        "workers": None if wN is None else _workers(wN, w1) | {"identical": identical(wN)},
        "speedup_vs_verilator": ratio(ver),
        "verilator": None if ver is None else {
            "status": ver.status, "reason": ver.reason, "identical": identical(ver),
            "images": ver.images, "images_per_s": ver.images_per_s,
            "match": (ver.match or {}).get("summary"),
            "ratio_unclaimed": None if identical(ver) else ver.neurochip_speedup,
            "neurochip_records_spikes": bool(ver.extra.get("neurochip_records_spikes"))},
        "vs_snntorch_batch1": ratio(snn1),
        "vs_snntorch_batch": ratio(snnB),
        "snntorch_batch": snnB.extra.get("batch") if snnB is not None else None,
        "vs_brian2": ratio(b2), "vs_numpy_reference": ratio(ref),
        # every row that ran, against neurochip 1 worker
        "all_ran_identical": all(identical(r) for r in rows if r.status == "ok"
                                 and (r.kind != "neurochip" or r.threads > 1)),
    }
    if wN is not None:
        wN.notes.append(f"speed-up over 1 worker ×{out['workers']['speedup']:.2f}"
                        f"{_ceiling_note(out['workers'])}; outputs compared with 1 worker")
    out["targets"] = {
        "sops_per_s_per_core >= 1e8": bool((w1.sops_per_s_per_core or 0) >= 1e8),
        "verilator >= 100x with identical outputs": (None if ver is None or ver.status != "ok"
                                                     else bool(identical(ver) and
                                                               ver.neurochip_speedup >= 100)),
        "faster than snnTorch batch 1": (None if out["vs_snntorch_batch1"] is None
                                         else out["vs_snntorch_batch1"] > 1),
    }
    return out


def fit_check(h: Harness, wl: Workload, images_per_s: float, coef: dict[str, float]) -> dict:
    """The scaling fit applied to a benchmarked model's own counters: predicted vs
    measured µs/image and where the time goes."""
    from neurochip.counters import CORE

    from bench.scaling import TERMS

    ref = h.reference[wl.model.stem]
    core = ref.core_counters.sum(axis=1).mean(axis=0)
    feats = {"sops": core[CORE["synaptic_ops"]], "neuron_updates": core[CORE["neuron_updates"]],
             "fifo_items": core[CORE["pops"]], "address_steps": core[CORE["address_steps"]],
             "pixel_steps": wl.desc.input_size * wl.desc.time_steps, "constant": 1.0}
    parts = {k: float(coef[k] * feats[k]) for k in TERMS}
    total = sum(parts.values())
    return {"model": wl.model.stem, "measured_us": 1e6 / images_per_s,
            "fitted_us": total * 1e6, "counts_per_image": {k: float(v) for k, v in feats.items()},
            "shares": {k: v / total for k, v in parts.items()}}


def run_brian2(h: Harness, wl: Workload, n: int, target: str | None = None,
               name: str = "brian2") -> list[TableRow]:
    options = {"target": target or h.cfg.brian2_target,
               "cython_cache": str(h.cfg.cache / "brian2-cython")}
    reasons = []
    for python, how in brian2_python(h.cfg):
        res = h.task("brian2", name, wl, n, h.cfg.peer_reps, options, python=python)
        if res.status == "ok":
            rows = h.rows_of(res, wl, "Brian2", "brian2")
            rows[0].notes.insert(0, f"interpreter: {how}" + (f" ({python})" if python else "")
                                 + "".join(f" (skipped {r})" for r in reasons))
            return rows
        reasons.append(f"{how}: {res.reason}")
    return [missing_row("Brian2", "brian2", res.status, "; ".join(reasons), wl.model.stem)]


def run_verilator(h: Harness, wl: Workload, n: int, name: str = "verilator",
                  note: str | None = None) -> list[TableRow]:
    from neurochip.verify.runner import cycle_budget

    model = wl.model.stem
    options = {"work_dir": str(h.cfg.cache / f"verilator-{model}"), "jobs": h.cfg.verilator_jobs,
               "budget_cycles": cycle_budget(h.reference[model].cycles[:n])}
    build = h.task("verilator_build", f"{name}_build", wl, n, 1, options)
    if build.status != "ok":
        return [missing_row("Verilator RTL (cocotb)", "verilator", build.status,
                            f"the RTL build/verify of {model} failed, so no ratio is claimed: "
                            f"{build.reason}" if build.status == "failed" else build.reason, model)]
    res = h.task("verilator", name, wl, n, h.cfg.verilator_reps, options)
    rows = h.rows_of(res, wl, "Verilator RTL (cocotb)", "verilator")
    if rows[0].status == "failed":
        rows[0].reason = f"the RTL run of {model} failed, so no ratio is claimed: {rows[0].reason}"
    b = build.rows[0]
    rec = h.recording_baseline.get((model, n))
    if rows[0].status == "ok" and rec is not None and rows[0].images_per_s:
        plain = rows[0].neurochip_speedup
        rows[0].neurochip_images_per_s = rec
        rows[0].neurochip_speedup = rec / rows[0].images_per_s
        rows[0].extra["neurochip_records_spikes"] = True
        rows[0].notes.append(
            "ratio against neurochip recording every spike train and membrane, as the RTL "
            "testbench reads them back" + (f" (without recording: ×{plain:,.0f})" if plain else ""))
    if rows[0].status == "ok":
        rows[0].compile_seconds = b.compile_seconds
        rows[0].notes.append("HDL build cached from an earlier run (0 s here)" if b.extra["cached"]
                             else f"HDL build {b.compile_seconds:.1f} s (jobs "
                                  f"{h.cfg.verilator_jobs}), excluded")
        if note:
            rows[0].notes.append(note)
    return rows


# ----------------------------------------------------------------------------- report

def assemble(cfg: C.BenchConfig, machine: dict, source: str, n: int, wl: Workload,
             rows: list[TableRow], baselines: list[dict]) -> dict:
    main_model = wl.model.stem
    w1 = next(r for r in rows if r.kind == "neurochip" and r.model == main_model and r.threads == 1)
    wN = next((r for r in rows if r.kind == "neurochip" and r.model == main_model
               and r.threads > 1), None)
    ver = next((r for r in rows if r.kind == "verilator" and r.status == "ok"), None)
    report: dict = {
        "schema": 1, "mode": cfg.mode, "machine": machine,
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()},
        "data": {"source": source, "images": n},
        "model": {"path": str(wl.model.relative_to(C.ROOT)) if wl.model.is_relative_to(C.ROOT)
                  else str(wl.model), "name": wl.desc.name, "hash": wl.desc.content_hash()[:12],
                  "network": wl.spec.shape_text(), "time_steps": wl.spec.time_steps},
        "images_per_s": w1.images_per_s,
        "sops_per_s": w1.sops_per_s,
        "sops_per_s_per_core": w1.sops_per_s_per_core,
        "compile_seconds": w1.compile_seconds,
        "sim_time_per_chip_time": w1.extra.get("sim_time_per_chip_time"),
        # cycle-accurate ÷ functional-only images/s (1 worker, same run; 1 = at the ceiling)
        "functional_ceiling": _ceiling(rows, main_model),
        # a ratio is only a speed-up if both computed the same thing
        "speedup_vs_verilator": (ver.neurochip_speedup
                                 if ver and ver.match and ver.match["identical"] else None),
        "verilator": None if ver is None else {
            "model": ver.model, "images": ver.images, "images_per_s": ver.images_per_s,
            "neurochip_images_per_s": ver.neurochip_images_per_s,
            "identical": bool(ver.match and ver.match["identical"]),
            "speedup": ver.neurochip_speedup,
            "neurochip_records_spikes": bool(ver.extra.get("neurochip_records_spikes")),
            "build_seconds": ver.compile_seconds},
        "workers": None if wN is None else _workers(wN, w1) | {
            "identical": bool(wN.match and wN.match["identical"]), "cli": w1.extra.get("cli")},
        "rows": [r.to_json() for r in rows],
        "neurochip_baselines": baselines,
        "reps": {"neurochip": cfg.reps, "peers": cfg.peer_reps, "verilator": cfg.verilator_reps},
    }
    if wN is not None:
        wN.notes.append(f"speed-up over 1 worker ×{report['workers']['speedup']:.2f} on "
                        f"{machine['usable_cpus']} CPUs{_ceiling_note(report['workers'])}; "
                        "outputs compared with 1 worker")
    return report


def _ceiling(rows: list[TableRow], model: str) -> dict | None:
    f = next((r for r in rows if r.kind == "neurochip-functional" and r.model == model), None)
    if f is None or not f.images_per_s:
        return None
    paired = f.extra.get("paired_cycle_accurate_per_functional")
    return {"images_per_s": f.images_per_s,
            # functional time ÷ cycle-accurate time: the median over alternating rounds
            "fraction": 1.0 / paired["median"] if paired else f.neurochip_speedup,
            "paired_cycle_accurate_per_functional": paired,
            "identical": bool(f.match and f.match["identical"])}


def _workers(wN: TableRow, w1: TableRow) -> dict:
    """N workers against 1: the median over alternating rounds of the time ratio (the
    ratio of the two rows' median rates where the rounds were not paired)."""
    paired = wN.extra.get("paired_speedup_over_1_worker")
    speedup = paired["median"] if paired else wN.images_per_s / w1.images_per_s
    ceiling = wN.extra.get("process_ceiling")
    return {"workers": wN.threads, "images_per_s": wN.images_per_s, "speedup": speedup,
            "paired_speedup": paired, "process_ceiling": ceiling,
            # the workers row's speed-up as a fraction of N processes' on this machine
            "fraction_of_process_ceiling": (speedup / ceiling["speedup"]["median"]
                                            if ceiling else None)}


def _ceiling_note(w: dict) -> str:
    c = w.get("process_ceiling")
    return (f" (as many processes at once ×{c['speedup']['median']:.2f}: "
            f"{w['fraction_of_process_ceiling']:.2f} of it)" if c else "")


def _process_ceiling_text(w: dict) -> str:
    """The workers line's comparison with as many processes at once (or nothing)."""
    c = w.get("process_ceiling")
    if not c:
        return ""
    s = c["speedup"]
    return (f"{c['processes']} processes running the 1-worker call at once, the machine's "
            f"own ceiling for {c['processes']} workers (`bench/process_ceiling.py`): "
            f"×{s['median']:.2f} (median of {s['rounds']} alternating rounds, "
            f"×{s['min']:.2f}–×{s['max']:.2f}); the threads reach "
            f"{w['fraction_of_process_ceiling']:.2f} of it. ")


def markdown(report: dict, rows: list[TableRow]) -> str:
    m = report["machine"]
    lines = [f"# neurochip benchmark ({report['mode']})", "",
             f"Machine: {one_line(m)}.", "",
             f"Model: `{report['model']['path']}` ({report['model']['network']}, "
             f"T = {report['model']['time_steps']}, hash {report['model']['hash']}); images: "
             f"{report['data']['source']}, the first N of the same images for every row. "
             f"Medians of repetitions; 'neurochip ÷ this' = neurochip's images/s (1 worker, "
             f"same model, same images, same run) divided by the row's. SOPs are neurochip's "
             f"counted synaptic operations on those images (peers doing dense work are "
             f"credited the same useful SOPs). Peak RSS: getrusage ru_maxrss of the row's "
             f"own process (interpreter and imports included).", "",
             *([f"CNN rows: model `{report['cnn']['model']}` ({report['cnn']['network']}, "
                f"T = {report['cnn']['time_steps']}){' — synthetic stand-in' if report['cnn']['synthetic'] else ''}; "
                "their ratios are against neurochip on the CNN.", ""] if report.get("cnn") else []),
             table(rows, report["reps"]), "", notes_list(rows), ""]
    w = report.get("workers")
    if w:
        cli = w.get("cli") or {}
        lines += [f"**Workers.** `simulate(..., workers={w['workers']})`: "
                  f"{w['images_per_s']:,.0f} images/s, ×{w['speedup']:.2f} over 1 worker"
                  + (f" (median of {w['paired_speedup']['rounds']} alternating rounds, "
                     f"×{w['paired_speedup']['min']:.2f}–×{w['paired_speedup']['max']:.2f})"
                     if w.get("paired_speedup") else "")
                  + f", results {'identical' if w['identical'] else 'DIFFERENT'}. "
                  + _process_ceiling_text(w)
                  + (f"`neurochip simulate --workers W --json`: every non-timing field of "
                     f"its summary (accuracy, cycles, spikes, SOPs, energy) "
                     f"{'identical' if cli.get('identical') else 'DIFFERENT'} for W in "
                     f"{sorted(cli.get('images_per_s', {}))} (its own images/s, the median "
                     f"of {cli.get('calls', 1)} calls each: "
                     + ", ".join(f"W = {k}: {v:,.0f}" for k, v in cli.get("images_per_s", {}).items())
                     + ")." if cli.get("ok") else ""), ""]
    v = report.get("verilator")
    if v and v.get("speedup"):
        rec = (" (recording every spike train and membrane, as the RTL testbench reads "
               "them back)" if v["neurochip_records_spikes"] else "")
        lines += [f"**Against the RTL.** {v['images']} images of `{v['model']}`: neurochip "
                  f"{v['neurochip_images_per_s']:,.0f} images/s{rec}, Verilator "
                  f"{v['images_per_s']:.3g} images/s: "
                  + (f"**×{v['speedup']:,.0f}**, outputs identical." if v["identical"] else
                     f"×{v['speedup']:,.0f} but outputs DIFFERENT, so no speed-up is claimed "
                     "(`speedup_vs_verilator` is null)."), ""]
    lines += [f"**neurochip, cycle-accurate, 1 core:** "
              f"{report['sops_per_s_per_core'] / 1e6:,.0f} M SOP/s per core, "
              f"{report['images_per_s']:,.0f} images/s (compile/cache load "
              f"{report['compile_seconds']:.2f} s, excluded)"
              + (f"; simulated time ÷ chip time {report['sim_time_per_chip_time']:.2f}"
                 if report.get("sim_time_per_chip_time") else "")
              + (f"; {report['functional_ceiling']['fraction']:.2f} of the functional-only "
                 f"ceiling ({report['functional_ceiling']['images_per_s']:,.0f} images/s, "
                 f"outputs {'identical' if report['functional_ceiling']['identical'] else 'DIFFERENT'})"
                 if (report.get("functional_ceiling") or {}).get("fraction") else "") + ".", ""]
    if report.get("cnn"):
        lines += [cnn_markdown(report["cnn"]), ""]
    if report.get("per_model"):
        from bench.per_model import markdown as per_model_markdown

        lines += [per_model_markdown(report["per_model"]), ""]
    sc = report.get("scaling", {})
    if "fit" in sc:
        from bench.scaling import markdown_section

        lines += [markdown_section(sc), ""]
    lines.append(f"Total wall time of this run: {report['wall_seconds']} s.")
    return "\n".join(lines) + "\n"


def cnn_markdown(c: dict) -> str:
    """The CNN's paragraph: what the model is, SOP/s per core, each ratio (claimed only
    for identical outputs) and the targets."""
    what = (f"`{c['path']}`" if not c["synthetic"] else
            f"`{c['model']}`, a synthetic stand-in ({c['synthetic_why']}; random ±1 weights, "
            "thresholds calibrated for ~15 % firing)")

    def x(v, label):
        return f"×{v:,.3g} vs {label}" if v is not None else f"{label}: no ratio (not run or outputs not identical)"

    parts = [x(c["vs_snntorch_batch1"], "snnTorch batch 1")]
    if c.get("snntorch_batch"):
        v = c["vs_snntorch_batch"]
        parts.append(x(v, f"snnTorch batch {c['snntorch_batch']}")
                     + (" (below 1: batched snnTorch is faster)" if v is not None and v < 1 else ""))
    parts.append(x(c["vs_brian2"], "Brian2"))
    parts.append(x(c["vs_numpy_reference"], "the NumPy reference"))
    v = c.get("verilator")
    if v is None:
        ver = "Verilator: not run in this mode"
    elif v["status"] != "ok":
        ver = f"Verilator: **{v['status']}** ({v['reason']}), so no ratio is claimed"
    elif not v["identical"]:
        ver = (f"Verilator: outputs **differ** ({v['match']}), so no ratio is claimed "
               f"(raw ×{v['ratio_unclaimed']:,.0f})")
    else:
        ver = f"**×{c['speedup_vs_verilator']:,.0f} vs Verilator**, outputs identical"
    w = c.get("workers")
    workers = (f"; {w['workers']} workers ×{w['speedup']:.2f}"
               + (f" (as many processes ×{w['process_ceiling']['speedup']['median']:.2f})"
                  if w.get("process_ceiling") else "")
               + f", {'identical' if w['identical'] else 'DIFFERENT'}" if w else "")
    met = ", ".join(f"{k}: {'yes' if ok else 'NO' if ok is not None else 'not measured'}"
                    for k, ok in c["targets"].items())
    return (f"**CNN** ({what}; {c['network']}, kinds {', '.join(dict.fromkeys(c['kinds']))}, "
            f"T = {c['time_steps']}, hash {c['hash']}): neurochip {c['images_per_s']:,.0f} "
            f"images/s, **{c['sops_per_s_per_core'] / 1e6:,.0f} M SOP/s per core** "
            f"({c['sops_per_image']:,.0f} SOPs/image, 1 worker{workers}); "
            + (f"simulated time ÷ chip time {c['sim_time_per_chip_time']:.2f}; "
               if c.get("sim_time_per_chip_time") else "")
            + (f"{c['functional_ceiling']['fraction']:.2f} of the functional-only ceiling; "
               if (c.get("functional_ceiling") or {}).get("fraction") else "")
            + "; ".join(parts) + f"; {ver}. Targets: {met}.")


def write(report: dict, cfg: C.BenchConfig) -> tuple[Path, Path]:
    cfg.out.mkdir(parents=True, exist_ok=True)
    js, md = cfg.out / f"{cfg.stem}.json", cfg.out / f"{cfg.stem}.md"
    js.write_text(json.dumps(report, indent=1, default=_json_default) + "\n")
    md.write_text(report["markdown"])
    return js, md


def _json_default(obj):
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj)}")


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    report = run_bench(cfg)
    js, md = write(report, cfg)
    print(report["markdown"])
    log(f"wrote {js} and {md} in {report['wall_seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
