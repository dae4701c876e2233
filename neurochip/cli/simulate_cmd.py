"""`neurochip simulate`: accuracy, cycles, latency and nJ/image of a model on the chip."""

from __future__ import annotations

import argparse
import itertools
import os
import sys

import numpy as np

from neurochip.cli.main import BadInput, EXIT_OK, add_set_argument, emit_json, load_model
from neurochip.counters import CHIP, CORE

# summarize() fields that measure the host running the simulator, not the chip: a result
# that must not depend on where it ran (sweep rows, the bench's CLI check) leaves them out
HOST_FIELDS = ("sim_images_per_s", "sim_sops_per_s", "sim_time_per_chip_time",
               "compile_seconds", "workers")

# --per-image: file extension → format
PER_IMAGE_FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "simulate", help="run images through the cycle-accurate chip simulator",
        description="Run MNIST-format images through the cycle-accurate simulator and report "
                    "accuracy, cycles/image, latency, spikes, synaptic operations, nJ/image "
                    "with its breakdown, pJ/SOP and the simulator's throughput. "
                    "'stalls' (stall_cycles_per_image) are the cores' push stall cycles "
                    "(a core waiting on a full downstream FIFO, §7), summed over the cores; "
                    "the host's waits on a full FIFO0 are host_stall_cycles_per_image.")
    p.add_argument("model", help="core description (.npz), e.g. models/ste-bp-mnist-default.npz")
    add_data_arguments(p)
    p.add_argument("--limit", type=int, metavar="N", help="only the first N images")
    p.add_argument("--tech", metavar="FILE", help="technology table JSON (default: 40 nm)")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="simulate on N threads (results are identical; default 1)")
    p.add_argument("--plot", metavar="PNG", help="also write a picture: energy breakdown and "
                   "the first image's spike rasters (needs matplotlib)")
    add_set_argument(p)
    p.add_argument("--fmax-from", metavar="SYNTH.json",
                   help="also report the latency at the Fmax of this `neurochip synth --json` "
                        "report (cycles / Fmax); it must be of the same model and --set")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--per-image", metavar="FILE",
                   help="also write one record per image: dataset index, label, prediction, "
                        "correct, output counts, cycles, input spikes, spikes per layer, "
                        "synaptic ops, stall_cycles (cores waiting on a full downstream FIFO, "
                        "summed over cores), host_stall_cycles and energy_nj; FILE.jsonl or "
                        "FILE.json: JSON Lines (one object per line), FILE.csv: CSV with a "
                        "header row")
    p.set_defaults(func=run)


def add_data_arguments(p: argparse.ArgumentParser) -> None:
    """--data, --split, --time-window, --time-steps: where the inputs come from (images,
    or event recordings for a model with event input, §11.2; neurochip.inputs)."""
    p.add_argument("--data", metavar="DIR",
                   help="folder with IDX files (train-/t10k-images-idx3-ubyte[.gz] ...); for a "
                        "model with event input (§11.2): an N-MNIST folder (Train/, Test/, "
                        "<label>/<id>.bin) or a dense .npz of event counts. Default: the MNIST "
                        "test sample shipped with neurochip (for event input: moved along "
                        "saccades into generated N-MNIST-like events)")
    p.add_argument("--split", choices=("train", "test"), default=None,
                   help="which split of --data to run (default: test; needs --data)")
    p.add_argument("--time-window", type=int, metavar="US", default=None,
                   help="event recordings: µs per time step (default 1000, the NIR paper's 1 "
                        "ms frames); events at or past T steps are dropped and counted")
    p.add_argument("--time-steps", type=int, metavar="T", default=None,
                   help="run T time steps per image (the same as --set time_steps=T)")


def with_time_steps(sets: list[str], time_steps: int | None) -> list[str]:
    """--set plus --time-steps T as its time_steps=T (given twice is refused)."""
    sets = list(sets or [])
    if time_steps is None:
        return sets
    if any(s.split("=", 1)[0].strip() == "time_steps" for s in sets):
        raise BadInput("--time-steps and --set time_steps=... both given; pass one")
    return sets + [f"time_steps={time_steps}"]


def split_of(data: str | None, split: str | None) -> str:
    """The --split of --data (default test); refused without --data, which it applies to."""
    if data is None and split is not None:
        raise BadInput(f"--split {split} needs --data DIR; without it the shipped MNIST test "
                       "sample is used")
    return split or "test"


def run(args: argparse.Namespace) -> int:
    from neurochip.energy import energy_report, load_tech
    from neurochip.energy.model import TechTableError
    from neurochip.inputs import iter_inputs
    from neurochip.sim import simulate, warm_up

    args.set = with_time_steps(args.set, args.time_steps)
    desc = load_model(args.model, args.set)
    try:
        tech = load_tech(args.tech)
    except TechTableError as exc:
        raise BadInput(str(exc)) from exc
    if args.workers < 1:
        raise BadInput(f"--workers must be >= 1, got {args.workers}")
    if args.plot:
        from neurochip.cli.plot import check_output_path

        try:  # fail before simulating, not after
            check_output_path(args.plot, "--plot", inputs=(args.model, args.tech))
        except ValueError as exc:
            raise BadInput(str(exc)) from exc
    fmax = read_fmax(args.fmax_from, desc) if args.fmax_from else None
    per_image_format = (check_per_image_path(args.per_image, (args.model, args.tech))
                        if args.per_image is not None else None)
    if args.limit is not None and args.limit < 1:
        raise BadInput(f"--limit must be a positive number of images, got {args.limit}")
    chunks = iter_inputs(desc, args.data, split_of(args.data, args.split), args.limit,
                         args.time_window)
    first = next(chunks)
    if not desc.event_input and first.data.reshape(len(first), -1).shape[1] != desc.input_size:
        raise BadInput(f"the images have {first.data[0].size} pixels but model input.shape "
                       f"{list(desc.input_shape)} needs {desc.input_size}")
    compile_s = warm_up(desc)
    result, labels, dropped = simulate_chunks(desc, first, chunks, args.workers)
    energy = energy_report(desc, result.core_counters, result.chip_counters, tech)
    report = summarize(desc, result, energy, labels, first.source, compile_s, tech.name,
                       args.workers)
    if desc.event_input:
        report["input_events_dropped"] = dropped  # past the last step (neurochip.inputs)
    report["model"] = args.model
    report["overrides"] = list(args.set)
    if fmax is not None:
        report["fmax_mhz"] = fmax
        report["latency_us_at_fmax"] = report["cycles_per_image"] / fmax
    if args.plot:
        from neurochip.cli.plot import plot_simulation

        first = simulate(desc, first.data[:1], record_spikes=True)
        plot_simulation(args.plot, desc, report,
                        [first.layer_spikes(0, i) for i in range(len(desc.layers))])
    if per_image_format:
        write_per_image(args.per_image, per_image_format,
                        per_image_records(desc, result, energy, labels))
    if args.json:
        emit_json(report)
    else:
        print_report(report)
    return EXIT_OK


def simulate_chunks(desc, first, rest, workers: int):
    """Simulate the input chunks of :func:`neurochip.inputs.iter_inputs` in order, keeping
    the per-image results ``summarize`` and ``--per-image`` read (predictions, counts,
    cycles, counters; not membranes, so memory stays bounded): (result, labels, events
    dropped past the last step)."""
    from neurochip.sim import simulate
    from neurochip.sim.simulator import SimulationResult

    parts, labels, dropped = [], [], 0
    bar = None
    for chunk in itertools.chain([first], rest):
        if bar is None and chunk is not first:  # a folder read in chunks: one bar over them
            bar = _bar()
            if bar is not None:
                bar.update(len(first))
        # one batch (images, dense events): the simulator's own bar, as for any batch
        res = simulate(desc, chunk.data, workers=workers, keep_state=False,
                       progress=chunk is first and len(chunk) >= 200
                       and sys.stderr.isatty())
        parts.append(res)
        labels.append(chunk.labels)
        dropped += chunk.dropped_events
        if bar is not None:
            bar.update(len(chunk))
    if bar is not None:
        bar.close()
    keep = ("predictions", "counts", "cycles", "core_counters", "chip_counters", "done")
    merged = SimulationResult(**{k: np.concatenate([getattr(p, k) for p in parts])
                                 for k in keep},
                              neuron_offsets=parts[0].neuron_offsets,
                              layer_names=parts[0].layer_names,
                              seconds=sum(p.seconds for p in parts))
    return merged, np.concatenate(labels), dropped


def _bar():
    """A progress bar on a terminal (images done; the total of a folder is not read ahead)."""
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(unit="img", desc="simulate", leave=False)


def read_fmax(path: str, desc) -> float:
    """The Fmax (MHz) of a `neurochip synth --json` report of exactly this description."""
    import json

    try:
        rep = json.loads(open(path, encoding="utf-8").read())
        fmax, made_for = rep["fmax_mhz"], rep["hash"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BadInput(f"--fmax-from {path}: not a `neurochip synth --json` report "
                       f"({exc})") from exc
    if made_for != desc.content_hash():
        raise BadInput(f"--fmax-from {path}: made for model hash {str(made_for)[:12]}, this "
                       f"model (with its --set) is {desc.content_hash()[:12]}; synthesise it")
    if not fmax:
        raise BadInput(f"--fmax-from {path}: has no Fmax (generic target or not placed)")
    return float(fmax)


def summarize(desc, result, energy, labels, source: str, compile_s: float, tech: str,
              workers: int = 1) -> dict:
    n = len(labels)
    core, chip = result.core_counters, result.chip_counters
    cycles = result.cycles.astype(np.float64)
    spikes = core[:, :, CORE["spikes"]]
    sops = core[:, :, CORE["synaptic_ops"]].sum(axis=1)
    return {
        "model_name": desc.name,
        "model_hash": desc.content_hash(),
        "data": source,
        "images": n,
        "accuracy": float(np.mean(result.predictions == labels)),
        "cycles_per_image": float(cycles.mean()),
        "cycles_min": int(cycles.min()),
        "cycles_max": int(cycles.max()),
        "clock_hz": desc.clock_hz,
        "latency_us_per_image": float(cycles.mean() / desc.clock_hz * 1e6),
        "input_spikes_per_image": float(chip[:, CHIP["host_pushes"]].mean() - desc.time_steps),
        "spikes_per_image": float(spikes.sum(axis=1).mean()),
        "spikes_per_layer": {lay.name: float(spikes[:, i].mean()) for i, lay in enumerate(desc.layers)},
        "sops_per_image": float(sops.mean()),
        # the cores' push stalls (waiting on a full downstream FIFO), summed over cores
        "stall_cycles_per_image": float(core[:, :, CORE["stall_cycles"]].sum(axis=1).mean()),
        # the host's refused pushes into a full FIFO0 (not included above)
        "host_stall_cycles_per_image": float(chip[:, CHIP["host_stall_cycles"]].mean()),
        "energy_nj_per_image": float(energy.total_pj.mean() / 1e3),
        "energy_breakdown_nj": energy.mean_nj(),
        "pj_per_sop": energy.pj_per_sop,
        "tech": tech,
        "sim_images_per_s": n / result.seconds if result.seconds > 0 else float("inf"),
        "sim_sops_per_s": float(sops.sum()) / result.seconds if result.seconds > 0 else float("inf"),
        "compile_seconds": compile_s,
        "workers": workers,
        # wall time per image over the chip's own time per image (cycles / clock): < 1 is
        # faster than the silicon (issue 22)
        "sim_time_per_chip_time": (result.seconds / n) / (float(cycles.mean()) / desc.clock_hz)
        if n and cycles.mean() > 0 else float("nan"),
    }


def check_per_image_path(path: str, inputs: tuple = ()) -> str:
    """The format of a ``--per-image`` path ("jsonl" or "csv"), or BadInput before any
    simulation: an unknown extension, a directory, a missing or unwritable folder."""
    from pathlib import Path

    from neurochip.cli.plot import check_output_path

    try:
        check_output_path(path, "--per-image", inputs)
    except ValueError as exc:
        raise BadInput(str(exc)) from exc
    p = Path(path)
    fmt = PER_IMAGE_FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise BadInput(f"--per-image {path}: unknown extension {p.suffix or '(none)'!r}; use "
                       ".jsonl or .json (JSON Lines, one object per image) or .csv")
    target = p if p.exists() else p.parent
    if not os.access(target, os.W_OK):
        raise BadInput(f"--per-image {path}: {str(target)!r} is not writable; pass a "
                       "writable file path")
    return fmt


def per_image_records(desc, result, energy, labels) -> list[dict]:
    """One dict per image (in run order): the per-image values behind the totals of
    :func:`summarize` (their means over the images are its ``*_per_image`` values)."""
    core, chip = result.core_counters, result.chip_counters
    spikes = core[:, :, CORE["spikes"]]
    sops = core[:, :, CORE["synaptic_ops"]].sum(axis=1)
    stalls = core[:, :, CORE["stall_cycles"]].sum(axis=1)
    input_spikes = chip[:, CHIP["host_pushes"]] - desc.time_steps
    host_stalls = chip[:, CHIP["host_stall_cycles"]]
    energy_nj = energy.total_pj / 1e3
    records = []
    for i in range(len(labels)):
        records.append({
            "image": i,  # the image's index in its split (the LFSR seed of §11)
            "label": int(labels[i]),
            "prediction": int(result.predictions[i]),
            "correct": bool(result.predictions[i] == labels[i]),
            "counts": [int(c) for c in result.counts[i]],
            "cycles": int(result.cycles[i]),
            "input_spikes": int(input_spikes[i]),
            "spikes_per_layer": {lay.name: int(spikes[i, j]) for j, lay in enumerate(desc.layers)},
            "synaptic_ops": int(sops[i]),
            "stall_cycles": int(stalls[i]),
            "host_stall_cycles": int(host_stalls[i]),
            "energy_nj": float(energy_nj[i]),
        })
    return records


def write_per_image(path: str, fmt: str, records: list[dict]) -> None:
    """JSON Lines (one object per line) or CSV (a header row; ``counts`` and
    ``spikes_per_layer`` flattened into ``count_<class>`` and ``spikes_<layer>`` columns)."""
    import csv
    import json

    try:
        with open(path, "w", newline="", encoding="utf-8") as f:
            if fmt == "jsonl":
                for rec in records:
                    f.write(json.dumps(rec) + "\n")
                return
            rows = []
            for rec in records:
                row = {k: v for k, v in rec.items() if k not in ("counts", "spikes_per_layer")}
                row["correct"] = int(rec["correct"])
                row.update({f"spikes_{k}": v for k, v in rec["spikes_per_layer"].items()})
                row.update({f"count_{c}": v for c, v in enumerate(rec["counts"])})
                rows.append(row)
            writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["image"])
            writer.writeheader()
            writer.writerows(rows)
    except OSError as exc:
        raise BadInput(f"--per-image {path}: cannot write ({exc.strerror or exc}); pass a "
                       "writable file path") from exc


def print_report(r: dict) -> None:
    out = sys.stdout
    print(f"model        {r['model']}  ({r['model_name']}, sha256 {r['model_hash'][:12]})", file=out)
    if r.get("overrides"):
        print(f"overrides    {' '.join(r['overrides'])}", file=out)
    print(f"data         {r['data']}: {r['images']} images", file=out)
    print(f"accuracy     {100 * r['accuracy']:.2f} %", file=out)
    print(f"cycles/image {r['cycles_per_image']:.1f} (min {r['cycles_min']}, max {r['cycles_max']}), "
          f"stalls {r['stall_cycles_per_image']:.1f}", file=out)
    print(f"latency      {r['latency_us_per_image']:.2f} us/image at {r['clock_hz'] / 1e6:g} MHz"
          + (f"; {r['latency_us_at_fmax']:.2f} us at the synthesised Fmax "
             f"{r['fmax_mhz']:.2f} MHz" if "fmax_mhz" in r else ""), file=out)
    print(f"spikes       {r['spikes_per_image']:.1f}/image (input {r['input_spikes_per_image']:.1f}; "
          + ", ".join(f"{k} {v:.1f}" for k, v in r["spikes_per_layer"].items()) + ")", file=out)
    print(f"synaptic ops {r['sops_per_image']:.0f}/image", file=out)
    print(f"energy       {r['energy_nj_per_image']:.2f} nJ/image, {r['pj_per_sop']:.3f} pJ/SOP "
          f"({r['tech']})", file=out)
    total = r["energy_nj_per_image"] or 1.0
    for k, v in sorted(r["energy_breakdown_nj"].items(), key=lambda kv: -kv[1]):
        print(f"  {k:<14}{v:10.2f} nJ  {100 * v / total:5.1f} %", file=out)
    print(f"simulator    {r['sim_images_per_s']:.1f} images/s, {r['sim_sops_per_s'] / 1e6:.1f} M SOP/s "
          f"(compile/cache load {r['compile_seconds']:.2f} s, excluded)", file=out)
    print(f"sim ÷ chip   {r['sim_time_per_chip_time']:.2f}x the chip's time per image "
          f"(wall time ÷ latency, {r['workers']} worker{'s' if r['workers'] > 1 else ''})", file=out)
