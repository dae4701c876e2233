"""The fidelity report: the NIR graph run as written (float, ``nir_float``) against the
chip (the Numba simulator) on the same encoded input spikes: decision agreement, spike
counts per layer, identical spike trains, and which nodes were approximated and how."""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from neurochip.interchange import nir_float
from neurochip.interchange.nir_import import ImportResult
from neurochip.interchange.nir_io import Graph


@dataclass
class LayerFidelity:
    layer: str
    node: str
    float_spikes_per_image: float
    chip_spikes_per_image: float
    mean_abs_count_error: float  # per neuron and image
    max_abs_count_error: int
    identical_spike_fraction: float  # of (image, step, neuron)
    approximated: bool
    notes: list[str]


@dataclass
class Fidelity:
    images: int
    data: str
    decision_agreement: float
    float_accuracy: float | None
    chip_accuracy: float | None
    layers: list[LayerFidelity]
    choices: list[str]
    exact_import: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def nir_input(res: ImportResult, spikes: np.ndarray) -> np.ndarray:
    """Chip input spikes (n, T, P), address order → the NIR input layout."""
    shape = res.desc.input_shape
    if res.input_flat or len(shape) == 1:
        return spikes
    h, w = shape[0], shape[1]
    c = shape[2] if len(shape) == 3 else 1
    return spikes.reshape(spikes.shape[0], spikes.shape[1], h, w, c).transpose(0, 1, 4, 2, 3)


def chip_to_nir(spikes: np.ndarray, hwc: tuple[int, int, int], flat: bool) -> np.ndarray:
    """A layer's chip spikes (n, T, N) in address order → (n, T, N) in NIR order."""
    if flat:
        return spikes
    n, t = spikes.shape[:2]
    h, w, c = hwc
    return spikes.reshape(n, t, h, w, c).transpose(0, 1, 4, 2, 3).reshape(n, t, -1)


def _float_resets(res: ImportResult) -> dict[str, str]:
    """Neuron node → the reset the float reference applies (the chip model's, §6)."""
    from neurochip.interchange.nir_neurons import MODEL_NIR

    return {m.node: MODEL_NIR[lay.neuron.model].float_reset(lay.neuron)
            for m, lay in zip(res.layers, res.desc.layers)}


def measure(g: Graph, res: ImportResult, images: np.ndarray, labels: np.ndarray | None,
            data: str, origin: str = "<graph>", chunk: int = 64,
            progress: bool = False) -> Fidelity:
    """Float graph vs chip on ``images`` (each keeps its index, §9), ``chunk`` at a time."""
    from tqdm import tqdm

    from neurochip.kinds import get_kind
    from neurochip.sim import simulate
    from neurochip.sim.simulator import encode_images

    desc = res.desc
    n, steps = len(images), desc.time_steps
    resets = _float_resets(res)
    sums = np.zeros((len(desc.layers), 5))  # float spikes, chip spikes, |Δ| sum, same, neurons
    worst = np.zeros(len(desc.layers), dtype=np.int64)
    float_pred, chip_pred = np.zeros(n, np.int64), np.zeros(n, np.int64)
    bar = tqdm(total=n, desc="fidelity", unit="img", file=sys.stderr, disable=not progress,
               leave=False)
    for lo in range(0, n, chunk):
        sl = slice(lo, min(n, lo + chunk))
        idx = np.arange(sl.start, sl.stop)
        spikes = encode_images(desc, images[sl], idx)
        ref = nir_float.run(g, nir_input(res, spikes), res.dt, resets, origin)
        chip = simulate(desc, images[sl], idx, record_spikes=True)
        float_pred[sl] = np.argmax(ref.output, axis=1)  # ties → lowest index, as the chip (§6)
        chip_pred[sl] = chip.predictions
        k = sl.stop - sl.start
        for i, (m, lay) in enumerate(zip(res.layers, desc.layers)):
            ch = chip.spikes[:, :, chip.neuron_offsets[i]:chip.neuron_offsets[i + 1]]
            ch = chip_to_nir(ch, get_kind(lay.kind).output_shape(lay), m.flat)
            fl = ref.spikes[m.node].reshape(k, steps, -1)
            diff = np.abs(ch.sum(axis=1).astype(np.int64) - fl.sum(axis=1).astype(np.int64))
            sums[i] += (fl.sum(), ch.sum(), diff.sum(), np.sum(ch == fl), diff.size)
            worst[i] = max(worst[i], int(diff.max(initial=0)))
        bar.update(k)
    bar.close()
    layers = [LayerFidelity(lay.name, m.node, sums[i, 0] / n, sums[i, 1] / n,
                            sums[i, 2] / sums[i, 4], int(worst[i]),
                            sums[i, 3] / (sums[i, 4] * steps), m.approximated, m.notes)
              for i, (m, lay) in enumerate(zip(res.layers, desc.layers))]
    agree = float(np.mean(float_pred == chip_pred))
    acc_f = acc_c = None
    if labels is not None:
        acc_f = float(np.mean(float_pred == labels))
        acc_c = float(np.mean(chip_pred == labels))
    return Fidelity(n, data, agree, acc_f, acc_c, layers, res.choices, res.exact)


def calibrate(g: Graph, res: ImportResult, images: np.ndarray) -> dict[str, float]:
    """Largest |v| of every neuron node of the float graph on ``images``."""
    from neurochip.sim.simulator import encode_images

    spikes = encode_images(res.desc, images)
    resets = _float_resets(res)
    return nir_float.run(g, nir_input(res, spikes), res.dt, resets).max_abs_v


def format_report(f: Fidelity) -> str:
    lines = [f"fidelity     float NIR graph (Euler, as written) vs chip on {f.images} images "
             f"({f.data})",
             f"decisions    {100 * f.decision_agreement:.2f} % agree"
             + ("" if f.float_accuracy is None else
                f"; accuracy float {100 * f.float_accuracy:.2f} %, chip {100 * f.chip_accuracy:.2f} %")]
    lines.append(f"{'layer':<16}{'node':<16}{'float sp/img':>13}{'chip sp/img':>13}"
                 f"{'|Δcount|':>10}{'max':>6}{'same trains':>13}")
    for lay in f.layers:
        lines.append(f"{lay.layer:<16}{lay.node[:15]:<16}{lay.float_spikes_per_image:>13.1f}"
                     f"{lay.chip_spikes_per_image:>13.1f}{lay.mean_abs_count_error:>10.4f}"
                     f"{lay.max_abs_count_error:>6d}{100 * lay.identical_spike_fraction:>12.2f}%")
    lines.append("choices:")
    lines += [f"  - {c}" for c in f.choices]
    lines.append("per node:")
    for lay in f.layers:
        tag = "approximated" if lay.approximated else "exact"
        lines.append(f"  {lay.node} → {lay.layer} ({tag}): " + "; ".join(lay.notes))
    return "\n".join(lines)
