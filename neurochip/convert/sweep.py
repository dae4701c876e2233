"""Accuracy, SIN, cycles and energy of a converted network against time steps, on the chip
(the Numba simulator): ``python -m neurochip.convert.sweep CKPT --data DIR ...``.

For every T: the ANN (float, and on the rate-decoded input the chip sees: the cost of the
input code alone), the plain IF conversion and the BSNN conversion for each phase length
N. SIN per layer (a unit whose ANN pre-activation is ≤ 0 yet fired at least once, the
MSAT definition) at the largest T on a smaller subset. Writes JSON and, with --plot, a PNG.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from neurochip.convert.ann import AnnCheckpoint, forward
from neurochip.convert.convert import ConvertOptions, convert, scales, sin_ratio


def decoded_input(pixels: np.ndarray, T: int) -> np.ndarray:
    """What the §11 deterministic rate code carries after T steps, as a pixel value: the
    spike count floor(T·x/256) rescaled to 0 … 255 (x·T/256 rounded down, times 256/T)."""
    counts = (T * pixels.astype(np.int64)) // 256
    return np.clip(np.rint(counts * 256 / T), 0, 255).astype(np.uint8)


def _layer_counts(res, desc, names) -> dict[str, np.ndarray]:
    spikes = res.spikes.sum(axis=1)  # (n, total neurons)
    off = res.neuron_offsets
    return {lay.name: spikes[:, off[j]:off[j + 1]] for j, lay in enumerate(desc.layers)
            if lay.name in names}


SIM_CHUNK = 1000  # images per simulate() call: results per image are not all held at once


def sweep(ckpt: AnnCheckpoint, cal: np.ndarray, images: np.ndarray, labels: np.ndarray,
          steps: list[int], phase_steps: list[int], percentile: float, sin_images: int,
          tech=None) -> dict:
    from tqdm import tqdm

    from neurochip.energy import energy_report, load_tech
    from neurochip.sim import simulate

    tech = tech or load_tech()
    lam = scales(ckpt, cal, percentile)
    acts = forward(ckpt, images)
    out_name = ckpt.arch[-1]["name"]
    result = {"images": int(len(images)), "percentile": percentile, "lambda": lam,
              "ann_accuracy": float((acts[out_name].argmax(1) == labels).mean()), "rows": []}
    configs = [("plain", 1)] + [("bsnn", n) for n in phase_steps]
    bar = tqdm(total=len(steps) * len(configs), desc="sweep", file=sys.stderr)
    for T in steps:
        dec = forward(ckpt, decoded_input(images, T))[out_name].argmax(1)
        row = {"T": T, "ann_decoded_input_accuracy": float((dec == labels).mean())}
        for variant, n in configs:
            desc = convert(ckpt, cal, ConvertOptions(variant=variant, time_steps=T, phase_steps=n),
                           lam=lam)
            t0 = time.perf_counter()
            totals = np.zeros(4)  # correct, cycles, pJ, spikes; chunks keep memory bounded
            for start in range(0, len(images), SIM_CHUNK):
                stop = min(len(images), start + SIM_CHUNK)
                res = simulate(desc, images[start:stop], keep_state=False)
                energy = energy_report(desc, res.core_counters, res.chip_counters, tech)
                totals += [(res.predictions == labels[start:stop]).sum(), res.cycles.sum(),
                           energy.total_pj.sum(), res.counter("spikes").sum()]
            key = variant if variant == "plain" else f"bsnn_N{n}"
            m = len(images)
            row[key] = {"accuracy": float(totals[0] / m),
                        "cycles_per_image": float(totals[1] / m),
                        "nj_per_image": float(totals[2] / m / 1e3),
                        "spikes_per_image": float(totals[3] / m),
                        "seconds": round(time.perf_counter() - t0, 1)}
            bar.update()
        result["rows"].append(row)
    bar.close()
    T = max(steps)
    n = min(sin_images, len(images))
    result["sin"] = {"T": T, "images": n}
    sub_acts = forward(ckpt, images[:n])
    for variant, ns in configs:
        desc = convert(ckpt, cal, ConvertOptions(variant=variant, time_steps=T, phase_steps=ns), lam=lam)
        names = {lay.name for lay in desc.layers}
        counts: dict[str, list] = {k: [] for k in names}
        for start in range(0, n, 10):  # recorded spikes are (n, T, neurons): small chunks
            res = simulate(desc, images[start:min(n, start + 10)], record_spikes=True)
            for k, v in _layer_counts(res, desc, names).items():
                counts[k].append(v)
        merged = {k: np.concatenate(v) for k, v in counts.items()}
        key = variant if variant == "plain" else f"bsnn_N{ns}"
        result["sin"][key] = sin_ratio(desc, sub_acts, merged)
    return result


def plot(result: dict, path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    Ts = [r["T"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.axhline(100 * result["ann_accuracy"], color="k", lw=1, label="ANN (float)")
    ax.plot(Ts, [100 * r["ann_decoded_input_accuracy"] for r in rows], "k:", label="ANN on rate-decoded input")
    for key in [k for k in rows[0] if k == "plain" or k.startswith("bsnn")]:
        ax.plot(Ts, [100 * r[key]["accuracy"] for r in rows], "o-" if key == "plain" else "s-",
                label="plain IF" if key == "plain" else f"BSNN, N = {key.split('N')[1]}")
    ax.set_xscale("log", base=2)
    ax.set_xticks(Ts, [str(t) for t in Ts])
    ax.set_xlabel("time steps T")
    ax.set_ylabel(f"accuracy (%), {result['images']} test images")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def table(result: dict) -> str:
    """The sweep as Markdown: accuracy, cycles and nJ per image against T, then SIN per layer."""
    keys = [k for k in result["rows"][0] if k == "plain" or k.startswith("bsnn")]
    names = {k: "plain IF" if k == "plain" else f"BSNN N={k.split('N')[1]}" for k in keys}
    head = ["T", "ANN on decoded input"] + [f"{names[k]} {q}" for k in keys
                                           for q in ("acc.", "cycles", "nJ")]
    lines = [f"ANN (float): {100 * result['ann_accuracy']:.1f} % on the first "
             f"{result['images']} test images; λ percentile {result['percentile']}.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in result["rows"]:
        cells = [str(r["T"]), f"{100 * r['ann_decoded_input_accuracy']:.1f}"]
        for k in keys:
            cells += [f"{100 * r[k]['accuracy']:.1f}", f"{r[k]['cycles_per_image']:,.0f}",
                      f"{r[k]['nj_per_image']:,.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    sin = result["sin"]
    layers = list(sin[keys[0]])
    lines += ["", f"SIN ratio (%) per layer at T = {sin['T']}, first {sin['images']} images "
              "(units with ANN pre-activation ≤ 0 that spiked at least once / units ≤ 0):", "",
              "| layer | " + " | ".join(names[k] for k in keys) + " |",
              "|" + "---|" * (len(keys) + 1)]
    for lay in layers:
        lines.append(f"| {lay} | " + " | ".join(f"{100 * sin[k][lay]['ratio']:.2f}" for k in keys) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from neurochip.datasets import load_split

    p = argparse.ArgumentParser(prog="python -m neurochip.convert.sweep", description=__doc__.splitlines()[0])
    p.add_argument("checkpoint")
    p.add_argument("--data", required=True, help="IDX folder (train: calibration, test: measured)")
    p.add_argument("--images", type=int, default=500, help="first N test images (default: %(default)s)")
    p.add_argument("--calibration-images", type=int, default=500)
    p.add_argument("--steps", default="4,8,16,32,64,128,256")
    p.add_argument("--phase-steps", default="1,2,4", help="N values of the BSNN (default: %(default)s)")
    p.add_argument("--percentile", type=float, default=99.99)
    p.add_argument("--sin-images", type=int, default=50)
    p.add_argument("--out", required=True, help="JSON")
    p.add_argument("--plot", default=None, help="PNG")
    p.add_argument("--table", action="store_true",
                   help="print the Markdown table of an existing --out JSON and exit")
    args = p.parse_args(argv)
    if args.table:
        print(table(json.loads(Path(args.out).read_text())))
        return 0
    ckpt = AnnCheckpoint.load(args.checkpoint)
    tx, _ = load_split(args.data, "train")
    x, y = load_split(args.data, "test")
    cal = tx[:args.calibration_images].reshape(-1, 784)
    n = min(args.images, len(x))
    t0 = time.perf_counter()
    result = sweep(ckpt, cal, x[:n].reshape(n, -1), y[:n], [int(t) for t in args.steps.split(",")],
                   [int(v) for v in args.phase_steps.split(",")], args.percentile, args.sin_images)
    result.update(checkpoint=args.checkpoint, data=args.data, command=" ".join(sys.argv),
                  wall_seconds=round(time.perf_counter() - t0, 1))
    Path(args.out).write_text(json.dumps(result, indent=1))
    if args.plot:
        plot(result, args.plot, f"{Path(args.checkpoint).stem} on {Path(args.data).name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
