"""Run a NIR graph as written, in float64 NumPy, Euler-discretised with the stated dt:
the fidelity report's reference. Nodes are evaluated in topological order once per time
step (a spike of step t reaches every later layer in step t, as on the chip); a node with
several incoming edges sums them (NIR's rule). Neurons follow ``nir_neurons.lif_foreign``
(the same β, gain and snapping the importer uses; a CubaLIF with α ≠ 0 keeps a current
register) with strict threshold v > v_thr and the reset the import chose."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from neurochip.description.fields import DescriptionError
from neurochip.interchange.nir_io import Graph, NirError
from neurochip.interchange.nir_neurons import MODEL_NIR, NEURON_TYPES


@dataclass
class FloatRun:
    spikes: dict[str, np.ndarray]  # neuron node → (n, T, *shape) uint8
    max_abs_v: dict[str, float]  # neuron node → largest |v| before firing
    output: np.ndarray  # (n, classes) spike counts of the node feeding Output


def _pair(val: Any) -> tuple[int, int]:
    arr = np.asarray(val).reshape(-1)
    return (int(arr[0]), int(arr[0])) if arr.size == 1 else (int(arr[0]), int(arr[1]))


def _conv(x: np.ndarray, node: Any) -> np.ndarray:
    w = np.asarray(node.weight, np.float64)
    sy, sx = _pair(node.stride)
    padding = node.padding.decode() if isinstance(node.padding, bytes) else node.padding
    padding = str(padding) if isinstance(padding, np.str_) else padding
    py, px = _pair(padding) if not isinstance(padding, str) else (0, 0)
    if isinstance(padding, str) and padding == "same":
        py, px = (w.shape[2] - 1) // 2, (w.shape[3] - 1) // 2
    groups = int(node.groups or 1)
    xp = np.pad(x, ((0, 0), (0, 0), (py, py), (px, px)))
    win = sliding_window_view(xp, w.shape[2:], axis=(2, 3))[:, :, ::sy, ::sx]
    cin_g, cout_g = w.shape[1], w.shape[0] // groups
    outs = [np.einsum("nchwij,ocij->nohw", win[:, g * cin_g:(g + 1) * cin_g],
                      w[g * cout_g:(g + 1) * cout_g], optimize=True) for g in range(groups)]
    out = np.concatenate(outs, axis=1)
    bias = getattr(node, "bias", None)
    if bias is not None:
        out = out + np.asarray(bias, np.float64).reshape(1, -1, 1, 1)
    return out


def _pool(x: np.ndarray, node: Any, average: bool) -> np.ndarray:
    ky, kx = _pair(node.kernel_size)
    sy, sx = _pair(node.stride if node.stride is not None else node.kernel_size)
    win = sliding_window_view(x, (ky, kx), axis=(2, 3))[:, :, ::sy, ::sx]
    out = win.sum(axis=(-1, -2))
    return out / (ky * kx) if average else out


def _affine(x: np.ndarray, node: Any) -> np.ndarray:
    out = x.reshape(x.shape[0], -1) @ np.asarray(node.weight, np.float64).T
    bias = getattr(node, "bias", None)
    return out if bias is None else out + np.asarray(bias, np.float64).reshape(1, -1)


SYNAPSES: dict[str, Callable[[np.ndarray, Any], np.ndarray]] = {
    "Affine": _affine,
    "Linear": _affine,
    "Conv2d": _conv,
    "SumPool2d": lambda x, n: _pool(x, n, False),
    "AvgPool2d": lambda x, n: _pool(x, n, True),
    "Flatten": lambda x, n: x.reshape(x.shape[0], -1),
    "Scale": lambda x, n: x * np.asarray(n.scale, np.float64)[None],
}

MAP_NODES = ("Conv2d", "SumPool2d", "AvgPool2d", "Scale")  # take (C, H, W) streams


def run(g: Graph, spikes: np.ndarray, dt: float, resets: dict[str, str],
        origin: str = "<graph>") -> FloatRun:
    """``spikes``: (n, T, *input shape in NIR layout) 0/1 input; ``resets``: neuron node →
    "zero" (v ← v_reset) or "subtract" (v ← v − v_thr). A graph whose float nodes cannot
    run as written (an exact read-back takes geometry from the metadata, so an edited
    stride or shape shows only here) is refused in one line."""
    try:
        return _run(g, spikes, dt, resets, origin)
    except DescriptionError:
        raise
    except (ValueError, TypeError, IndexError, KeyError, AttributeError, OverflowError,
            ZeroDivisionError) as exc:
        raise NirError(f"{origin}: the float NIR graph cannot run as written "
                       f"({type(exc).__name__}: {str(exc)[:160]}); its nodes' fields disagree "
                       "with their shapes: re-export it, or pass --images 0 to skip the "
                       "fidelity report") from None


def _run(g: Graph, spikes: np.ndarray, dt: float, resets: dict[str, str],
         origin: str) -> FloatRun:
    n, steps = spikes.shape[:2]
    neurons = {k: MODEL_NIR["lif"].from_foreign(g.nodes[k], k, dt, origin, current_ok=True)
               for k in g.order if g.type_of(k) in NEURON_TYPES}
    v: dict[str, np.ndarray] = {}
    cur: dict[str, np.ndarray] = {}  # CubaLIF current registers
    out_spikes: dict[str, list[np.ndarray]] = {k: [] for k in neurons}
    max_v = {k: 0.0 for k in neurons}
    out_node = next(k for k in g.order if g.type_of(k) == "Output")
    feed = g.preds[out_node][0]
    for t in range(steps):
        vals: dict[str, np.ndarray] = {}
        for k in g.order:
            kind = g.type_of(k)
            if kind == "Input":
                vals[k] = spikes[:, t].astype(np.float64)
                continue
            ins = [vals[p] for p in g.preds[k]]
            x = ins[0] if len(ins) == 1 else sum(i.reshape(ins[0].shape) for i in ins)
            if kind == "Output":
                continue
            if kind in SYNAPSES:
                if kind in MAP_NODES and x.ndim == 2:  # an fc's (N,) read as an (N, 1, 1) map
                    x = x.reshape(x.shape[0], -1, 1, 1)
                vals[k] = SYNAPSES[kind](x, g.nodes[k])
                continue
            nf = neurons[k]
            shape = x.shape[1:]
            if k not in v:
                v[k] = np.zeros_like(x)
            gain, drive = nf.gain.reshape(shape) if nf.gain.size > 1 else nf.gain, \
                nf.drive.reshape(shape) if nf.drive.size > 1 else nf.drive
            theta = nf.threshold.reshape(shape) if nf.threshold.size > 1 else nf.threshold
            if nf.alpha != 0.0:  # CubaLIF: the input charges a current, the current v
                syn = np.asarray(nf.syn_gain)
                syn = syn.reshape(shape) if syn.size > 1 else syn
                cur[k] = nf.alpha * cur.get(k, 0.0) + syn * x
                x = cur[k]
            v[k] = nf.beta * v[k] + drive + gain * x
            max_v[k] = max(max_v[k], float(np.abs(v[k]).max(initial=0)))
            z = v[k] > theta
            if resets.get(k, "zero") == "subtract":
                v[k] = v[k] - z * theta
            else:
                reset = nf.v_reset.reshape(shape) if nf.v_reset.size > 1 else nf.v_reset
                v[k] = np.where(z, reset, v[k])
            vals[k] = z.astype(np.float64)
            out_spikes[k].append(z.astype(np.uint8))
    stacked = {k: np.stack(s, axis=1) for k, s in out_spikes.items()}
    counts = stacked[feed].reshape(n, steps, -1).sum(axis=1).astype(np.int64)
    return FloatRun(stacked, max_v, counts)
