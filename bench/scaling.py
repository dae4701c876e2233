"""How the simulator's cost grows with the work: sweeps over input spike rate, network
width and time steps on synthetic fc networks, and over channels, kernel size and input
rate on synthetic convolutional networks, a least-squares cost model fitted to the
measured seconds/image, and a PNG of both.

    python -m bench.scaling [--quick] [--out bench/results]

Cost model (per image): t = a·SOPs + b·neuron_updates + c·FIFO_items + g·address_steps +
d·P·T + e, where SOPs, neuron updates, FIFO items (every item popped by a core: address
events and end-of-step tokens) and address steps (output positions a conv2d or pool
address generator visits, one per touched position, §5.2-§5.3) are neurochip's own
counters (§10), P·T is the encoder's pixel-steps (§11, one LFSR draw per pixel and step)
and e a per-image constant."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

INPUTS = 784
TERMS = ("sops", "neuron_updates", "fifo_items", "address_steps", "pixel_steps", "constant")
TERM_WORDS = {"sops": "synaptic ops", "neuron_updates": "neuron updates",
              "fifo_items": "FIFO items (events + tokens)",
              "address_steps": "address steps (touched positions)",
              "pixel_steps": "encoder pixel-steps", "constant": "per image"}
CONV_SWEEPS = ("conv_channels", "conv_kernel", "conv_rate")


@dataclass(frozen=True)
class SweepPoint:
    sweep: str  # rate | rate_narrow | width | time_steps | conv_channels | conv_kernel | conv_rate
    rate: float  # Bernoulli probability per pixel and step (pixel value / 256)
    width: int  # neurons of each of the two hidden layers (fc); conv: the channels
    time_steps: int
    channels: int = 0  # conv networks: channels C of both convolutions (0: fc network)
    kernel: int = 0  # conv networks: k of the k × k kernels ("same" padding (k − 1) / 2)

    @property
    def conv(self) -> bool:
        return self.channels > 0

    @property
    def key(self) -> tuple:
        """What the network and images depend on (points of several sweeps share it)."""
        return (self.rate, self.width, self.time_steps, self.channels, self.kernel)


@dataclass
class Measurement:
    point: SweepPoint
    images: int
    seconds_per_image: float  # median over repetitions
    seconds_spread: list[float]  # [min, max] per image
    sops: float  # per image, from the simulator's counters
    neuron_updates: float
    fifo_items: float
    pixel_steps: float
    input_rate: float  # measured input spikes / (P·T)
    spikes: float  # all neurons' spikes per image
    cycles: float
    weight_bytes_max: int = 0  # largest layer's weight matrix as the kernel stores it (int8)
    address_steps: float = 0.0  # conv2d / pool positions visited per image (0 for fc)

    def features(self) -> np.ndarray:
        return np.array([self.sops, self.neuron_updates, self.fifo_items, self.address_steps,
                         self.pixel_steps, 1.0])


def sweep_points(quick: bool = False) -> list[SweepPoint]:
    """Input rate at width 1024 / T 8, width at rate 10 % / T 8, T at width 1024 / rate 10 %,
    and input rate again at width 64 ("rate_narrow"): there an input event costs 64 SOPs
    instead of 1024, which separates the per-event cost from the per-SOP cost (in the
    other sweeps events and SOPs grow together)."""
    if quick:
        rates, widths, steps, narrow = [0.0, 0.05, 0.2], [64, 256, 1024], [1, 4, 16], [0.05, 0.5]
    else:
        rates = [0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5]
        widths = [64, 128, 256, 512, 1024, 2048]
        steps = [1, 2, 4, 8, 16, 32]
        narrow = [0.0, 0.02, 0.05, 0.2, 0.5]
    pts = [SweepPoint("rate", r, 1024, 8) for r in rates]
    pts += [SweepPoint("rate_narrow", r, 64, 8) for r in narrow]
    pts += [SweepPoint("width", 0.1, w, 8) for w in widths]
    pts += [SweepPoint("time_steps", 0.1, 1024, t) for t in steps]
    pts += conv_points(quick)
    return pts


def conv_points(quick: bool = False) -> list[SweepPoint]:
    """Synthetic 28×28 → conv(C, k) → pool 2 → conv(C, k) → pool 2 → 10 networks (T 8):
    channels C at k 5 and rate 10 % (SOPs per address step grow with C), kernel k at C 8
    (touched positions per event grow with k²), and the input rate at C 8, k 5 (events,
    address steps and SOPs grow together from a dense floor)."""
    if quick:
        channels, kernels, rates = [2, 8, 32], [1, 5], [0.02, 0.3]
    else:
        channels, kernels, rates = [2, 4, 8, 16, 32], [1, 3, 5, 7, 9], [0.0, 0.02, 0.05, 0.2, 0.5]
    pts = [SweepPoint("conv_channels", 0.1, c, 8, c, 5) for c in channels]
    pts += [SweepPoint("conv_kernel", 0.1, 8, 8, 8, k) for k in kernels]
    pts += [SweepPoint("conv_rate", r, 8, 8, 8, 5) for r in rates]
    return pts


def synthetic_conv_description(channels: int, kernel: int, time_steps: int, rate: float,
                               seed: int = 0):
    """28×28 → conv(C, k×k, same padding) → OR-pool 2 → conv(C, k) → OR-pool 2 → fc 10,
    binary ±1 weights, per-channel thresholds calibrated on the point's own input (a
    constant image of spike probability ``rate``) so that ~16 % of each layer fires."""
    from neurochip.sim.simulator import encode_images

    from bench.cnn import conv_chain, finish

    pad = (kernel - 1) // 2
    desc = conv_chain([(channels, kernel, pad), (channels, kernel, pad)], [],
                      time_steps=time_steps, seed=seed,
                      name=f"synthetic-conv-C{channels}-k{kernel}-T{time_steps}")
    desc.provenance["generator"] = "bench.scaling"
    value = max(1, min(255, int(round(rate * 256))))  # rate 0: calibrate as if 1/256
    pixels = np.full((8, INPUTS), value, dtype=np.uint8)
    finish(desc, encode_images(desc, pixels), target=0.16)
    return desc


def _description(p: SweepPoint):
    if p.conv:
        return synthetic_conv_description(p.channels, p.kernel, p.time_steps, p.rate)
    return synthetic_description(p.width, p.time_steps, p.rate)


def synthetic_description(width: int, time_steps: int, rate: float, seed: int = 0):
    """784-width-width-10, binary ±1 weights, discontinuous (like the default model), with
    thresholds ≈ one standard deviation of the expected input so ~16 % of neurons fire."""
    from neurochip.description import CoreDescription, CoreMapping, Encoder, Layer, validate
    from neurochip.neurons.lif import LifNeuron

    rng = np.random.default_rng(seed)
    sizes = [INPUTS, width, width, 10]
    active = max(1.0, INPUTS * rate)
    layers = []
    for i in range(3):
        n_in, n = sizes[i], sizes[i + 1]
        theta = max(1, int(round(np.sqrt(active))))
        layers.append(Layer(
            name=f"l{i}", inputs=n_in, neurons=n, weight_bits=1, membrane_bits=14,
            overflow="saturate",
            neuron=LifNeuron(reset="subtract", leak="none", integration="discontinuous"),
            core=CoreMapping(index=i, lanes=min(64, n), fifo_depth=64),
            weight=rng.choice([-1, 1], size=(n_in, n)).astype(np.int64),
            threshold=np.full(n, theta, dtype=np.int64), bias=np.zeros(n, dtype=np.int64),
            source="input" if i == 0 else f"l{i - 1}"))
        active = max(1.0, 0.16 * n)
    desc = CoreDescription(name=f"synthetic-{width}-T{time_steps}", input_shape=(INPUTS,),
                           encoder=Encoder("bernoulli_lfsr", seed=1), time_steps=time_steps,
                           clock_hz=100e6, count_bits=8, layers=layers,
                           provenance={"generator": "bench.scaling"})
    validate(desc)
    return desc


def _run(desc, pixels: np.ndarray) -> tuple[float, object]:
    """Seconds of the kernel calls alone: packing the model and assembling the result are
    per call, not per image, and would bias points measured on fewer images."""
    from neurochip.sim.simulator import simulate

    res = simulate(desc, pixels, keep_state=False)
    return res.seconds, res


@dataclass
class _Config:
    desc: object
    pixels: np.ndarray
    seconds: list
    result: object = None


def measure_all(points: list[SweepPoint], reps: int, target_s: float,
                log=lambda s: None) -> list[Measurement]:
    """Seconds/image of every point: median of ``reps`` runs of ~``target_s`` each. The
    repetitions are interleaved (every configuration once per round) so that a burst of
    load from elsewhere on the machine spreads over all points instead of bending one
    sweep; a configuration shared by several sweeps is measured once."""
    from neurochip.sim.simulator import warm_up

    configs: dict[tuple, _Config] = {}
    for p in points:
        key = p.key
        if key in configs:
            continue
        desc = _description(p)
        warm_up(desc)
        value = min(255, int(round(p.rate * 256)))
        pilot_s, _ = _run(desc, np.full((16, INPUTS), value, dtype=np.uint8))
        n = int(np.clip(target_s / max(pilot_s / 16, 1e-7), 16, 8192))
        configs[key] = _Config(desc, np.full((n, INPUTS), value, dtype=np.uint8), [])
    for r in range(reps):
        for c in configs.values():
            s, c.result = _run(c.desc, c.pixels)
            c.seconds.append(s / len(c.pixels))
        log(f"round {r + 1}/{reps} done")
    return [_measurement(p, configs[p.key]) for p in points]


def _measurement(point: SweepPoint, c: _Config) -> Measurement:
    from neurochip.counters import CHIP, CORE

    res = c.result
    core = res.core_counters.sum(axis=1).mean(axis=0)
    T = point.time_steps
    host = res.chip_counters[:, CHIP["host_pushes"]].mean()
    return Measurement(
        point=point, images=len(c.pixels), seconds_per_image=float(np.median(c.seconds)),
        seconds_spread=[float(min(c.seconds)), float(max(c.seconds))],
        sops=float(core[CORE["synaptic_ops"]]), neuron_updates=float(core[CORE["neuron_updates"]]),
        fifo_items=float(core[CORE["pops"]]), pixel_steps=float(INPUTS * T),
        input_rate=float((host - T) / (INPUTS * T)), spikes=float(core[CORE["spikes"]]),
        cycles=float(res.cycles.mean()),
        weight_bytes_max=max(int(lay.weight.size) for lay in c.desc.layers),
        address_steps=float(core[CORE["address_steps"]]))


@dataclass
class Fit:
    coefficients: dict[str, float]  # seconds per unit of each term
    r2: float
    max_relative_error: float
    ns_per_sop: float
    ns_per_neuron_update: float

    def predict(self, m: Measurement) -> float:
        return float(m.features() @ np.array([self.coefficients[k] for k in TERMS]))

    def parts(self, m: Measurement) -> dict[str, float]:
        return {k: self.coefficients[k] * f for k, f in zip(TERMS, m.features())}


def fit(ms: list[Measurement]) -> Fit:
    """Non-negative least squares on relative error (each row divided by its measured
    time, so cheap configurations count as much as expensive ones). With six terms the
    exact NNLS is found by trying every subset of terms and keeping the best solution
    whose coefficients are all >= 0 (a cost cannot be negative)."""
    X = np.stack([m.features() for m in ms])
    y = np.array([m.seconds_per_image for m in ms])
    A, b = X / y[:, None], np.ones_like(y)
    best, best_err = np.zeros(len(TERMS)), np.inf
    for mask in range(1, 1 << len(TERMS)):
        cols = [i for i in range(len(TERMS)) if mask >> i & 1]
        sol, *_ = np.linalg.lstsq(A[:, cols], b, rcond=None)
        if (sol < 0).any():
            continue
        err = float(np.sum((A[:, cols] @ sol - b) ** 2))
        if err < best_err:
            best_err, best = err, np.zeros(len(TERMS))
            best[cols] = sol
    pred = X @ best
    r2 = 1 - np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2)
    c = dict(zip(TERMS, map(float, best)))
    return Fit(c, float(r2), float(np.max(np.abs(pred / y - 1))), c["sops"] * 1e9,
               c["neuron_updates"] * 1e9)


def bootstrap(ms: list[Measurement], rounds: int = 300, seed: int = 0) -> dict[str, list[float]]:
    """5 %-95 % intervals of each coefficient (ns) over fits to resampled point sets: how
    well the sweeps pin each cost down."""
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(rounds):
        pick = rng.integers(0, len(ms), size=len(ms))
        f = fit([ms[i] for i in pick])
        draws.append([f.coefficients[k] * 1e9 for k in TERMS])
    lo, hi = np.percentile(np.array(draws), [5, 95], axis=0)
    return {k: [float(a), float(b)] for k, a, b in zip(TERMS, lo, hi)}


def robust_fit(ms: list[Measurement], tolerance: float = 0.3) -> tuple[Fit, list[int]]:
    """Fit, drop the points the fit misses by more than ``tolerance`` (relative), refit
    once. Returns the fit and the indices of the dropped points, which the report names:
    they are where the linear cost model (and so "cost follows events") breaks down."""
    f = fit(ms)
    miss = [i for i, m in enumerate(ms) if abs(f.predict(m) / m.seconds_per_image - 1) > tolerance]
    if not miss or len(ms) - len(miss) < 2 * len(TERMS):
        return f, []
    return fit([m for i, m in enumerate(ms) if i not in miss]), miss


def cache_sizes() -> dict[str, str]:
    """CPU cache sizes as the OS reports them (Linux sysfs), e.g. {'L2': '512K'}."""
    out = {}
    base = Path("/sys/devices/system/cpu/cpu0/cache")
    for idx in sorted(base.glob("index*")) if base.is_dir() else []:
        try:
            kind = (idx / "type").read_text().strip()
            if kind in ("Data", "Unified"):
                out[f"L{(idx / 'level').read_text().strip()}"] = (idx / "size").read_text().strip()
        except OSError:
            continue
    return out


def plot(ms: list[Measurement], f: Fit, path: Path, outliers: list[int] = ()) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 2, figsize=(11, 12.5))
    # (sweep, x label, x of a point, log-log axes)
    panels = (("rate", "input spike rate (spikes / pixel / step)", lambda m: m.input_rate, False),
              ("width", "hidden width N (784-N-N-10)", lambda m: m.point.width, True),
              ("time_steps", "time steps T", lambda m: m.point.time_steps, False),
              ("conv_channels", "conv channels C (28×28 → C·k5 → p2 → C·k5 → p2 → 10)",
               lambda m: m.point.channels, True),
              ("conv_kernel", "conv kernel k (k × k, C = 8)", lambda m: m.point.kernel, False))
    colors = dict(zip(TERMS, ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple",
                              "tab:gray")))
    for ax, (sweep, label, xf, loglog) in zip(axes.flat, panels):
        pts = sorted((m for m in ms if m.point.sweep == sweep), key=xf)
        if not pts:
            ax.set_visible(False)
            continue
        x = np.array([xf(m) for m in pts], dtype=float)
        parts = np.array([[max(0.0, f.parts(m)[k]) * 1e6 for k in TERMS] for m in pts]).T
        ax.stackplot(x, parts, labels=[f"fit: {TERM_WORDS[k]}" for k in TERMS],
                     colors=[colors[k] for k in TERMS], alpha=0.35)
        y = np.array([m.seconds_per_image for m in pts]) * 1e6
        lo = y - np.array([m.seconds_spread[0] for m in pts]) * 1e6
        hi = np.array([m.seconds_spread[1] for m in pts]) * 1e6 - y
        ax.errorbar(x, y, yerr=[lo, hi], fmt="o", color="black", ms=4, label="measured (median)")
        left_out = [i for i, m in enumerate(pts) if id(m) in {id(ms[j]) for j in outliers}]
        if left_out:
            ax.scatter(x[left_out], y[left_out], s=160, facecolors="none", edgecolors="red",
                       label="left out of the fit")
        if loglog:
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("µs / image")
        ax.set_title(f"cost vs {label.split(' (')[0]}")
        if sweep == "rate":  # the narrow network's rate sweep, on the same axes
            nar = sorted((m for m in ms if m.point.sweep == "rate_narrow"), key=xf)
            if nar:
                ax.plot([xf(m) for m in nar], [f.predict(m) * 1e6 for m in nar], "k--", lw=1)
                ax.plot([xf(m) for m in nar], [m.seconds_per_image * 1e6 for m in nar], "s",
                        color="tab:red", ms=4, label="measured, N = 64 (fit dashed)")
                ax.set_title("cost vs input spike rate (N = 1024 stacked; N = 64)")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7, loc="upper left")
    ax = axes[2, 1]
    y = np.array([m.seconds_per_image for m in ms]) * 1e6
    p = np.array([f.predict(m) for m in ms]) * 1e6
    for sweep, marker in (("rate", "o"), ("rate_narrow", "D"), ("width", "s"), ("time_steps", "^"),
                          ("conv_channels", "P"), ("conv_kernel", "X"), ("conv_rate", "v")):
        sel = [i for i, m in enumerate(ms) if m.point.sweep == sweep]
        if not sel:
            continue
        ax.scatter(p[sel], y[sel], marker=marker, label=sweep)
    if outliers:
        ax.scatter(p[list(outliers)], y[list(outliers)], s=160, facecolors="none",
                   edgecolors="red", label="left out of the fit")
    lim = [min(p.min(), y.min()) * 0.8, max(p.max(), y.max()) * 1.2]
    ax.plot(lim, lim, "k--", lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("fitted µs / image")
    ax.set_ylabel("measured µs / image")
    ax.set_title(f"fit: {f.ns_per_sop:.3g} ns/SOP, {f.ns_per_neuron_update:.3g} ns/update, "
                 f"{f.coefficients['address_steps'] * 1e9:.3g} ns/address step, R² {f.r2:.3f}",
                 fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.suptitle("neurochip cycle-accurate simulator: cost per image (1 thread); fc and conv "
                 "networks")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def findings(ms: list[Measurement], f: Fit, outliers: list[int] = ()) -> list[str]:
    """Where cost follows events and where it does not, in words, from the fit."""
    def share(m: Measurement) -> dict[str, float]:
        parts = f.parts(m)
        total = sum(parts.values())
        return {k: v / total for k, v in parts.items()}

    out = []
    rate = sorted((m for m in ms if m.point.sweep == "rate"), key=lambda m: m.input_rate)
    if rate:
        lo, hi = rate[0], rate[-1]
        s = share(lo)
        per_event = lo.point.width * f.ns_per_sop + f.coefficients["fifo_items"] * 1e9
        out.append(
            f"Follows events: along the input-rate sweep (width {lo.point.width}, T "
            f"{lo.point.time_steps}) SOPs go from {lo.sops:,.0f} to {hi.sops:,.0f} per image "
            f"and the time above the rate-0 floor grows with the events: "
            f"{f.ns_per_sop:.3g} ns per SOP plus {f.coefficients['fifo_items'] * 1e9:.3g} ns "
            f"per FIFO item, so an input event into {lo.point.width} neurons costs "
            f"≈ {per_event:.0f} ns, {lo.point.width * f.ns_per_sop / per_event:.0%} of it "
            f"the accumulation itself (a silent input costs nothing).")
        out.append(
            f"Does not follow events: at input rate {lo.input_rate:.3g} an image still costs "
            f"{lo.seconds_per_image * 1e6:.1f} µs — neuron updates {s['neuron_updates']:.0%} "
            f"(every neuron is updated at every step, N·T, spikes or not), encoder "
            f"{s['pixel_steps']:.0%} (one LFSR draw per pixel and step, P·T), FIFO tokens "
            f"{s['fifo_items']:.0%}, fixed {s['constant']:.0%}.")
    steps = sorted((m for m in ms if m.point.sweep == "time_steps"), key=lambda m: m.point.time_steps)
    if steps:
        s = share(steps[-1])
        dense = s["neuron_updates"] + s["pixel_steps"] + s["constant"]
        out.append(f"Time steps multiply both: at T = {steps[-1].point.time_steps} the dense "
                   f"terms (updates, encoder, fixed) are {dense:.0%} of the fitted cost.")
    width = sorted((m for m in ms if m.point.sweep == "width"), key=lambda m: m.point.width)
    if width:
        s0, s1 = share(width[0]), share(width[-1])
        out.append(f"Width: SOPs are {s0['sops']:.0%} of the cost at N = {width[0].point.width} "
                   f"and {s1['sops']:.0%} at N = {width[-1].point.width}; small layers are "
                   f"dominated by per-item and dense overheads.")
    chans = sorted((m for m in ms if m.point.sweep == "conv_channels"),
                   key=lambda m: m.point.channels)
    if chans:
        lo, hi = chans[0], chans[-1]
        s0, s1 = share(lo), share(hi)
        step_ns = f.coefficients["address_steps"] * 1e9
        out.append(
            f"Convolutions: an address step (one touched output position: its kernel row "
            f"and membrane words, K_c = ceil(C / L) of them) costs {step_ns:.3g} ns besides "
            f"its C synaptic ops ({f.ns_per_sop:.3g} ns each). On the conv networks address "
            f"steps are {s0['address_steps']:.0%} and SOPs {s0['sops']:.0%} of the fitted "
            f"cost at C = {lo.point.channels}, {s1['address_steps']:.0%} and {s1['sops']:.0%} "
            f"at C = {hi.point.channels} ({lo.address_steps:,.0f} → {hi.address_steps:,.0f} "
            f"address steps, {lo.sops:,.0f} → {hi.sops:,.0f} SOPs per image).")
    kern = sorted((m for m in ms if m.point.sweep == "conv_kernel"), key=lambda m: m.point.kernel)
    if len(kern) > 1:
        a, b = kern[0], kern[-1]
        out.append(
            f"Kernel size: from k = {a.point.kernel} to k = {b.point.kernel} (C = "
            f"{a.point.channels}) the touched positions per image grow {a.address_steps:,.0f} → "
            f"{b.address_steps:,.0f} (up to k² per event) and the time "
            f"{a.seconds_per_image * 1e6:,.0f} → {b.seconds_per_image * 1e6:,.0f} µs "
            f"(fit {f.predict(a) * 1e6:,.0f} → {f.predict(b) * 1e6:,.0f} µs).")
    caches = cache_sizes()
    for i in outliers:
        m = ms[i]
        p = m.point
        out.append(
            f"Not linear: the {p.sweep} point N {p.width}, T {p.time_steps}, rate "
            f"{m.input_rate:.2f} takes {m.seconds_per_image / f.predict(m):.1f}× the fitted "
            f"time ({m.seconds_per_image * 1e6:,.0f} µs, "
            f"{m.seconds_per_image / max(m.sops, 1) * 1e9:.2f} ns/SOP all-in; left out of the "
            f"fit; spread {m.seconds_spread[0] * 1e6:,.0f}–{m.seconds_spread[1] * 1e6:,.0f} µs). "
            f"Its largest weight matrix is {m.weight_bytes_max / 2**20:.1f} MiB (caches: "
            f"{', '.join(f'{k} {v}' for k, v in caches.items()) or 'unknown'}); weight rows "
            f"fetched from further out in memory are the likely cause, not isolated by this "
            f"sweep (one point; other load on the shared cache also moves it).")
    return out


def run_scaling(out_dir: Path, quick: bool = False, reps: int | None = None,
                log=lambda s: print(f"[scaling] {s}", file=sys.stderr, flush=True)) -> dict:
    """Measure every sweep point, fit, plot into ``out_dir/scaling.png``; return a dict."""
    reps = reps or (3 if quick else 7)
    target = 0.03 if quick else 0.2
    t0 = time.perf_counter()
    ms = measure_all(sweep_points(quick), reps, target, log)
    for m in ms:
        p = m.point
        log(f"{p.sweep:10s} rate {m.input_rate:.3f} width {p.width:5d} T {p.time_steps:2d}: "
            f"{m.seconds_per_image * 1e6:9.1f} µs/image, {m.sops:12,.0f} SOPs ({m.images} images)")
    f, outliers = robust_fit(ms)
    out_dir.mkdir(parents=True, exist_ok=True)
    png = out_dir / ("scaling-quick.png" if quick else "scaling.png")
    plot(ms, f, png, outliers)
    return {"png": str(png), "quick": quick, "reps": reps, "seconds": round(time.perf_counter() - t0, 1),
            "model": ("t = a·SOPs + b·neuron_updates + c·FIFO_items + g·address_steps + d·P·T "
                      "+ e per image, non-negative least squares on relative error"),
            "fit": {**asdict(f), "coefficients_ns": {k: v * 1e9 for k, v in f.coefficients.items()}},
            "findings": findings(ms, f, outliers),
            "interval_ns_5_95": bootstrap([m for i, m in enumerate(ms) if i not in outliers]),
            "caches": cache_sizes(),
            "points": [{**asdict(m), "fitted_seconds_per_image": f.predict(m),
                        "in_fit": i not in outliers} for i, m in enumerate(ms)]}


def markdown_section(sc: dict) -> str:
    f = sc["fit"]
    c = f["coefficients_ns"]
    lines = [f"## Scaling (synthetic 784-N-N-10 and convolutional networks, 1 thread)", "",
             f"![cost scaling]({Path(sc['png']).name})", "",
             f"Fitted cost ({sc['model']}): **{c['sops']:.3g} ns per synaptic op**, "
             f"**{c['neuron_updates']:.3g} ns per neuron update**, {c['fifo_items']:.3g} ns per "
             f"FIFO item, **{c['address_steps']:.3g} ns per address step** (conv2d/pool "
             f"touched position), {c['pixel_steps']:.3g} ns per encoder pixel-step, "
             f"{c['constant'] / 1e3:.3g} µs per image; R² {f['r2']:.4f}, worst relative "
             f"error {f['max_relative_error']:.1%} over the {sum(p['in_fit'] for p in sc['points'])} "
             f"of {len(sc['points'])} points in the fit.", "",
             "Bootstrap 5-95 % intervals (ns; how firmly the sweeps pin each term): "
             + ", ".join(f"{TERM_WORDS[k]} {lo:.3g}-{hi:.3g}"
                         for k, (lo, hi) in sc["interval_ns_5_95"].items()) + ".", ""]
    lines += [f"* {s}" for s in sc["findings"]]
    for key in ("default_model", "cnn"):
        d = sc.get(key)
        if d:
            shares = ", ".join(f"{TERM_WORDS[k]} {v:.0%}" for k, v in d["shares"].items())
            lines.append(f"* The fit on `{d['model']}`'s own counters: {d['fitted_us']:.0f} "
                         f"µs/image predicted, {d['measured_us']:.0f} µs measured (1 worker); "
                         f"{shares}.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.scaling", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="3 points per sweep, short runs")
    p.add_argument("--reps", type=int, help="repetitions per point (default 7; quick 3)")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results",
                   help="folder for scaling.png and scaling.json")
    a = p.parse_args(argv)
    sc = run_scaling(a.out, quick=a.quick, reps=a.reps)
    (a.out / ("scaling-quick.json" if a.quick else "scaling.json")).write_text(json.dumps(sc, indent=1) + "\n")
    print(markdown_section(sc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
