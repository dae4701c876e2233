"""The hardware table of models/README.md and the lanes plot, from `neurochip synth`.

    python models/synth_table.py run      # synthesise what is missing (hours; resumable)
    python models/synth_table.py table    # write the table and plot from models/synth/

`run` computes cycles/image and nJ/image of every shipped model (the simulator on 100
images of the shipped MNIST sample, 40 nm table), then its steps, each keeping one JSON
report per run in models/synth/ (a run that already has its report is skipped, so `run`
resumes; steps may run in parallel processes):
  chip       ste-bp-mnist-small, whole chip: ECP5 (LFE5U-85F) placed, and without block
             RAMs (Yosys only); iCE40 UP5K synthesis; Yosys generic gates
  window     ste-bp-mnist-cnn's conv1 and pool1 out of context, placed (the conv path)
  resources  every model, each core out of context on ECP5, Yosys only
  lanes      ste-bp-mnist-small's fc1 with 8, 16, 32, 64 lanes, out of context, placed
  placed     every model that fits, each core out of context, placed (its Fmax: the slowest
             core's; hours for all of them here, so it runs last and resumes)
Models whose shapes equal another shipped model's (only the weight values differ) come
last. `table` rewrites the block between the markers in models/README.md and
models/synth_lanes.png from what is there; a model without a report is listed as not run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "synth"
README = HERE / "README.md"
PLOT = HERE / "synth_lanes.png"
BEGIN, END = "<!-- synth-table:begin -->", "<!-- synth-table:end -->"
LANES_MODEL, LANES = "ste-bp-mnist-small", (8, 16, 32, 64)  # 64: as shipped
IMAGES = 100


def shape_key(desc) -> tuple:
    """What the hardware depends on besides weight values."""
    return tuple((lay.name, type(lay).__name__, lay.inputs, lay.neurons, lay.weight_bits,
                  lay.membrane_bits, lay.core.lanes, lay.core.fifo_depth)
                 for lay in desc.layers) + (desc.time_steps, desc.count_bits)


FIRST = ("ste-bp-mnist-small", "ste-bp-mnist-cnn")  # the lanes model, the conv path


def twins() -> dict[str, str]:
    """model -> the first shipped model with its shapes (only the weight values differ)."""
    from neurochip.description import load

    first: dict[tuple, str] = {}
    out = {}
    for p in models():
        key = shape_key(load(p))
        if key in first:
            out[p.stem] = first[key]
        first.setdefault(key, p.stem)
    return out


def models() -> list[Path]:
    """Shipped models: FIRST, then fewest cores (then neurons) first; a model with
    another's shapes after all."""
    from neurochip.description import description_files, load

    seen, first, twins = set(), [], []
    for p in sorted(description_files(HERE),
                    key=lambda p: (p.stem not in FIRST, FIRST.index(p.stem) if p.stem in FIRST
                                  else 0, len(load(p).layers),
                                  sum(lay.neurons for lay in load(p).layers), p.name)):
        key = shape_key(load(p))
        (twins if key in seen else first).append(p)
        seen.add(key)
    return first + twins


def synth(model: Path, step: str, extra: list[str], dest: Path) -> None:
    if dest.exists():
        return
    cmd = [sys.executable, "-m", "neurochip.cli.main", "synth", str(model), "--json",
           "--images", "0", *extra]
    print(f"[{time.strftime('%H:%M:%S')}] {model.stem} {step}: {' '.join(extra)}",
          file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stderr[-2000:], file=sys.stderr)
        dest.with_suffix(".failed").write_text(proc.stderr)
        return
    dest.write_text(proc.stdout)


def chip_figures(model: Path) -> None:
    """cycles/image and nJ/image of the shipped sample (the simulator, 40 nm table)."""
    dest = OUT / f"{model.stem}.sim.json"
    if dest.exists():
        return
    from neurochip.datasets import load_sample
    from neurochip.description import load
    from neurochip.energy import energy_report, load_tech
    from neurochip.sim import simulate

    desc = load(model)
    images, _ = load_sample()
    res = simulate(desc, images[:IMAGES])
    energy = energy_report(desc, res.core_counters, res.chip_counters, load_tech(None))
    dest.write_text(json.dumps({"images": IMAGES, "cycles_per_image": float(res.cycles.mean()),
                                "nj_per_image": float(energy.total_pj.mean() / 1e3),
                                "clock_hz": desc.clock_hz}, indent=1) + "\n")


def step_chip() -> None:
    """ste-bp-mnist-small, whole chip: ECP5 placed, the same without block RAMs (Yosys
    only), Yosys generic gates, iCE40 UP5K synthesis."""
    small = HERE / f"{LANES_MODEL}.npz"
    synth(small, "chip", [], OUT / f"{LANES_MODEL}.chip.json")
    synth(small, "chip-no-block-rams", ["--no-place", "--no-block-rams"],
          OUT / f"{LANES_MODEL}.chip-no-block-rams.json")
    synth(small, "chip-generic", ["--target", "generic"],
          OUT / f"{LANES_MODEL}.chip-generic.json")
    synth(small, "chip-ice40", ["--target", "ice40", "--no-place"],
          OUT / f"{LANES_MODEL}.chip-ice40.json")


def step_window() -> None:
    """The windowed cores of the CNN (conv, and pool with stride 2), placed: the conv
    pop-cycle path (FIFO head → (y, x, c) decode → stride division → memory address)."""
    synth(HERE / "ste-bp-mnist-cnn.npz", "window cores",
          ["--core", "conv1", "--core", "pool1"], OUT / "ste-bp-mnist-cnn.window.json")


def step_resources(only: list[str] | None = None) -> None:
    """Every model (or those named, in that order), each core out of context on ECP5,
    Yosys only."""
    paths = [HERE / f"{name}.npz" for name in only] if only else models()
    for model in paths:
        synth(model, "ecp5 resources", ["--per-core", "--no-place"],
              OUT / f"{model.stem}.ecp5.json")


def step_placed(only: list[str] | None = None) -> None:
    """Every model (or those named) whose cores fit the device: each core out of context,
    placed and routed, so the row has an Fmax (the slowest core's). Smallest first."""
    paths = [HERE / f"{name}.npz" for name in only] if only else models()
    fitting = [p for p in paths if (_load(f"{p.stem}.ecp5.json") or {}).get("fits")]
    for model in sorted(fitting, key=lambda p: _load(f"{p.stem}.ecp5.json")["luts"]):
        synth(model, "ecp5 placed", ["--per-core"], OUT / f"{model.stem}.placed.json")


def step_lanes() -> None:
    """fc1 of ste-bp-mnist-small with 8 … 64 lanes, out of context, placed."""
    for lanes in LANES:
        synth(HERE / f"{LANES_MODEL}.npz", f"lanes {lanes}",
              ["--core", "fc1", "--set", f"fc1.core.lanes={lanes}"],
              OUT / f"{LANES_MODEL}.fc1-lanes{lanes}.json")


STEPS = {"chip": step_chip, "window": step_window, "resources": step_resources,
         "lanes": step_lanes, "placed": step_placed}


def run(steps: list[str], only: list[str] | None = None) -> None:
    OUT.mkdir(exist_ok=True)
    for model in models():
        chip_figures(model)
    for name in steps:
        STEPS[name](only) if name in ("resources", "placed") else STEPS[name]()


def _load(name: str) -> dict | None:
    path = OUT / name
    return json.loads(path.read_text()) if path.exists() else None


def _fit(r: dict) -> str:
    return "yes" if r["fits"] else f"no: {r['overflow']}"


def _row(label: str, r: dict, sim: dict) -> str:
    fmax, cp = r.get("fmax_mhz"), r.get("critical_path")
    cyc = sim["cycles_per_image"]
    at_fmax = f"{cyc / fmax:,.1f}" if fmax else "–"
    where = ""
    if cp:
        where = f" ({cp['core'] + ': ' if 'core' in cp else ''}{_short(cp['from'])} → " \
                f"{_short(cp['to'])})"
    fmax_txt = f"{fmax:.1f}{where}" if fmax else "not placed"
    secs = r["seconds"]
    tools = f"{secs['yosys']:.0f} + {secs['nextpnr']:.0f}" if "nextpnr" in secs else \
        f"{secs['yosys']:.0f} + –"
    return (f"| {label} | {r['luts']:,} | {r['ffs']:,} | {r['brams']} | {r['dsps']} | "
            f"{_fit(r)} | {fmax_txt} | {cyc:,.0f} | {cyc / sim['clock_hz'] * 1e6:,.1f} / "
            f"{at_fmax} | {sim['nj_per_image']:.1f} | {tools} |")


def _short(cell: str) -> str:
    """dut.core0.mvalid_q_TRELLIS_FF_Q -> mvalid_q (the register's name); the harness's
    shift register (neurochip.synth.flow) is the unit's input."""
    if cell.startswith("sr_"):
        return "input (harness register)"
    name = cell.split(".", 2)[-1] if cell.startswith("dut.") else cell
    name = name.lstrip("\\")  # Yosys escapes names it made up: \$signal$123
    for cut in ("_TRELLIS", "_LUT4", "_CCU2C", "_DP16KD"):
        name = name.split(cut)[0]
    return name if name.startswith("$") else name.split("$")[0]


def table() -> str:
    head = ("| model (figures) | LUT4 | FF | EBR | DSP | fits LFE5U-85F | Fmax MHz (critical "
            "path) | cycles/image | µs/image at 100 MHz / at Fmax | nJ/image | tool s "
            "(yosys + nextpnr) |\n|---|---:|---:|---:|---:|---|---|---:|---|---:|---|")
    rows = [head]
    small = _load(f"{LANES_MODEL}.chip.json")
    same = twins()
    for model in models():
        sim = _load(f"{model.stem}.sim.json")
        if model.stem == LANES_MODEL and small:
            rows.append(_row(f"{model.stem} (whole chip)", small, sim))
        placed = _load(f"{model.stem}.placed.json")
        r = placed or _load(f"{model.stem}.ecp5.json")
        twin = f", shapes of {same[model.stem]}" if model.stem in same else ""
        how = ", each placed: Fmax of the slowest" if placed else ""
        if r is None:
            rows.append(f"| {model.stem}{twin} | not synthesised in the time | | | | | | "
                        f"{sim['cycles_per_image']:,.0f} | | {sim['nj_per_image']:.1f} | |")
        else:
            rows.append(_row(f"{model.stem} (sum of {len(r['cores'])} cores{how}{twin})", r,
                             sim))
        window = _load(f"{model.stem}.window.json")
        if window:  # some cores placed: the chip's Fmax is at most their slowest
            names = " + ".join(c["name"] for c in window["cores"])
            rows.append(_row(f"{model.stem}: {names} only, placed (chip Fmax ≤ this)",
                             window, sim))
    ice = _load(f"{LANES_MODEL}.chip-ice40.json")
    note = ""
    if ice:
        note = (f"\niCE40 UP5K, whole chip of {LANES_MODEL} (Yosys): {ice['luts']:,} LUT4, "
                f"{ice['ffs']:,} FF, {ice['brams']} EBR: "
                + ("fits" if ice["fits"] else f"does not fit ({ice['overflow']})")
                + "; every other shipped model is larger.\n")
    return "\n".join(rows) + "\n" + note + lanes_table()


def lanes_table() -> str:
    runs = [(n, _load(f"{LANES_MODEL}.fc1-lanes{n}.json")) for n in LANES]
    lines = [f"| fc1.core.lanes | {' | '.join(str(n) for n, _ in runs)} |",
             "|---|" + "---:|" * len(runs)]
    cells = {"LUT4": lambda r: f"{r['luts']:,}", "FF": lambda r: f"{r['ffs']:,}",
             "EBR": lambda r: str(r["brams"]),
             "Fmax MHz": lambda r: f"{r['fmax_mhz']:.1f}" if r["fmax_mhz"] else "–",
             "tool s (yosys + nextpnr)": lambda r: f"{r['seconds']['yosys']:.0f} + "
                                                 f"{r['seconds'].get('nextpnr', 0):.0f}"}
    for name, fmt in cells.items():
        lines.append(f"| {name} | " + " | ".join(fmt(r) if r else "not run in the time"
                                                 for _, r in runs) + " |")
    return (f"\nLUTs and Fmax against lanes: {LANES_MODEL}'s fc1 (784 → 64) out of context "
            f"on the LFE5U-85F, `--core fc1 --set fc1.core.lanes=N` "
            f"([synth_lanes.png](synth_lanes.png)):\n\n" + "\n".join(lines) + "\n\n"
            "![LUTs and Fmax against lanes](synth_lanes.png)\n")


def plot() -> bool:
    runs = [(lanes, _load(f"{LANES_MODEL}.fc1-lanes{lanes}.json")) for lanes in LANES]
    runs = sorted((lanes, r) for lanes, r in runs if r)
    if len(runs) < 2:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    lanes = [n for n, _ in runs]
    ax.plot(lanes, [r["luts"] for _, r in runs], "o-", color="C0")
    ax.set_xscale("log", base=2)
    ax.set_xticks(lanes, [str(n) for n in lanes])
    ax.set_xlabel(f"fc1.core.lanes ({LANES_MODEL}: core fc1 out of context, LFE5U-85F)")
    ax.set_ylabel("LUT4", color="C0")
    ax2 = ax.twinx()
    ax2.plot([n for n, r in runs if r["fmax_mhz"]],
             [r["fmax_mhz"] for _, r in runs if r["fmax_mhz"]], "s--", color="C3")
    ax2.set_ylabel("Fmax (MHz)", color="C3")
    ax.set_title("LUTs and Fmax against lanes")
    fig.tight_layout()
    fig.savefig(PLOT, dpi=110)
    return True


def write_table() -> None:
    text = README.read_text()
    block = f"{BEGIN}\n{table()}{END}"
    if BEGIN in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    README.write_text(text)
    plot()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=("run", "table"))
    p.add_argument("steps", nargs="*", default=list(STEPS), metavar="STEP",
                   help=f"with run: which steps ({', '.join(STEPS)}; default all, in order)")
    p.add_argument("--models", nargs="+", metavar="NAME",
                   help="with run resources: only these models, in this order")
    args = p.parse_args()
    unknown = [s for s in args.steps if s not in STEPS]
    if unknown:
        p.error(f"unknown step {unknown[0]}; choose from {', '.join(STEPS)}")
    if args.what == "run":
        run(args.steps, args.models)
    write_table()
    return 0


if __name__ == "__main__":
    sys.exit(main())
