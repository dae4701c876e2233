"""ANN → chip conversion (docs/architecture.md §6.2, §11.1): batch norm folded, thresholds
normalised per layer from a calibration set, weights quantized to integers, written as a
core description in one of two variants:

* ``plain``: every spiking layer is ``lif`` (soft reset = subtract, continuous, no leak):
  rate-coded IF conversion, the baseline;
* ``bsnn``: every layer is ``bistable`` (§6.2) with phase (depth·N) mod 2N, and each
  residual shortcut runs through as many synchronous neurons (identity ``pool`` cores) as
  the main path has more spiking layers.

Normalisation (the BrainCog/MSAT convention, seed-algorithms §3.1): λ of a ReLU node is the
``percentile``-th percentile of all its outputs over the calibration images (zeros
included); the output layer's λ is the largest logit (so the winning class rarely hits the
one-spike-per-step ceiling). A layer computing a = ReLU(W x + b) from a source of scale λ_in
gets normalised weights W·λ_in/λ and bias b/λ, so it fires at rate a/λ with threshold 1;
integers: S = (2^(w−1) − 1) / max |W_norm|, weights round(W_norm·S), bias round(b_norm·S),
threshold round(S). ``avgpool`` keeps its source's λ (threshold p², the implicit unit weight
of the pool core). The input is the deterministic rate code of §11 (pixel x spikes at rate
x/256 per step), i.e. λ_input = 256/255 per step for ``plain`` and, per cycle of 2N steps in
which a bistable layer is handed N·a/λ spikes, 128/255 for ``bsnn``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from neurochip.convert.ann import INPUT, AnnCheckpoint, folded, forward, shapes, sources
from neurochip.description import CoreDescription, CoreMapping, Encoder, Layer, validate
from neurochip.neurons.bistable import BistableNeuron
from neurochip.neurons.lif import LifNeuron
from neurochip.train.quantize import normalised_integers

VARIANTS = ("plain", "bsnn")
PLAIN = LifNeuron(reset="subtract", leak="none", leak_amount=0, integration="continuous")


@dataclass(frozen=True)
class ConvertOptions:
    variant: str = "bsnn"
    time_steps: int = 64
    phase_steps: int = 4  # N of bsnn
    percentile: float = 99.99
    weight_bits: int = 8
    membrane_bits: int = 24
    lanes: int = 16
    fifo_depth: int = 64
    clock_hz: float = 100e6


def scales(ckpt: AnnCheckpoint, calibration: np.ndarray, percentile: float,
           acts: dict[str, np.ndarray] | None = None) -> dict[str, float]:
    """λ of every node from the calibration images ((n, P) uint8)."""
    acts = acts if acts is not None else forward(ckpt, calibration)
    lam: dict[str, float] = {}
    for node in ckpt.arch:
        name = node["name"]
        if node["op"] == "avgpool":
            lam[name] = lam[sources(node)[0]]
        elif node["op"] == "fc":
            lam[name] = float(max(acts[name].max(), 1e-6))
        else:
            lam[name] = float(max(np.percentile(acts[name], percentile), 1e-6))
    return lam


def convert(ckpt: AnnCheckpoint, calibration: np.ndarray, opts: ConvertOptions,
            name: str | None = None, lam: dict[str, float] | None = None) -> CoreDescription:
    """The chip description of ``ckpt`` in variant ``opts.variant``."""
    if opts.variant not in VARIANTS:
        raise ValueError(f"variant {opts.variant!r}; use one of {VARIANTS}")
    bsnn = opts.variant == "bsnn"
    lam = lam if lam is not None else scales(ckpt, calibration, opts.percentile)
    lam = {INPUT: (128 / 255) if bsnn else (256 / 255), **lam}
    weights = folded(ckpt)
    shp = shapes(ckpt.arch, ckpt.input_shape)
    N = opts.phase_steps
    B, top = opts.membrane_bits, (1 << (opts.membrane_bits - 1)) - 1
    layers: list[Layer] = []
    depth = {INPUT: -1}
    chip_name = {INPUT: INPUT}  # ANN node → the chip layer that carries its spikes

    def neuron(d: int):
        return BistableNeuron(phase_steps=N, phase=(d % 2) * N) if bsnn else PLAIN

    def add_layer(lname, kind, source, in_shape, out_shape, wbits, weight, theta, bias, geometry,
                  d, fifo_depth=None):
        c = out_shape[2]
        if np.abs(theta).max() > top or np.abs(bias).max(initial=0) > top:
            raise ValueError(f"layer {lname}: threshold or bias exceeds {B}-bit membranes; "
                             "raise membrane_bits or lower weight_bits")
        layers.append(Layer(
            name=lname, kind=kind, source=source, inputs=int(np.prod(in_shape)),
            neurons=int(np.prod(out_shape)), weight_bits=wbits, membrane_bits=B,
            overflow="saturate", neuron=neuron(d),
            core=CoreMapping(index=len(layers), lanes=min(opts.lanes, c),
                             fifo_depth=fifo_depth or opts.fifo_depth),
            weight=weight, threshold=np.broadcast_to(np.asarray(theta), (c,)).astype(np.int64).copy(),
            bias=np.broadcast_to(np.asarray(bias), (c,)).astype(np.int64).copy(), geometry=geometry))

    for node in ckpt.arch:
        nm, op, src = node["name"], node["op"], sources(node)
        in_shape, out_shape = shp[src[0]], shp[nm]
        if op == "conv":
            w, b = weights[nm]
            wi, bi, th = normalised_integers(w * lam[src[0]] / lam[nm], b / lam[nm], opts.weight_bits)
            geom = {"in_shape": list(in_shape), "channels": node["channels"],
                    "kernel": [node["kernel"]] * 2, "stride": node["stride"], "pad": node["pad"]}
            d = depth[src[0]] + 1
            add_layer(nm, "conv2d", chip_name[src[0]], in_shape, out_shape, opts.weight_bits,
                      wi, th, bi, geom, d)
        elif op == "avgpool":
            p = node["window"]
            d = depth[src[0]] + 1
            add_layer(nm, "pool", chip_name[src[0]], in_shape, out_shape, 1,
                      np.zeros((0, 0), np.int64), p * p, 0,
                      {"in_shape": list(in_shape), "window": p, "stride": p, "emit": "every_step"}, d)
        elif op == "add":
            main, short = src
            srcs = [chip_name[main], chip_name[short]]
            d_short = depth[short]
            if bsnn:  # synchronous neurons on the shortcut (§6.2)
                for i in range(depth[main] - depth[short]):
                    d_short += 1
                    sn = f"{nm}_sn{i}"
                    add_layer(sn, "pool", srcs[1], in_shape, in_shape, 1, np.zeros((0, 0), np.int64),
                              1, 0, {"in_shape": list(in_shape), "window": 1, "stride": 1,
                                     "emit": "every_step"}, d_short)
                    srcs[1] = sn
            gains = np.array([lam[main], lam[short]]) / lam[nm]
            wi, _, th = normalised_integers(gains, np.zeros(1), opts.weight_bits)
            c = out_shape[2]
            d = max(depth[main], d_short) + 1
            add_layer(nm, "add", tuple(srcs), in_shape, out_shape, opts.weight_bits,
                      np.repeat(wi[:, None], c, axis=1), th, 0, {"in_shape": list(in_shape)}, d,
                      fifo_depth=max(opts.fifo_depth, int(np.prod(in_shape)) + 1))
        else:  # fc: the output layer
            w, b = weights[nm]
            wi, bi, th = normalised_integers(w * lam[src[0]] / lam[nm], b / lam[nm], opts.weight_bits)
            d = depth[src[0]] + 1
            add_layer(nm, "fc", chip_name[src[0]], in_shape, out_shape, opts.weight_bits,
                      wi, th, bi, {}, d)
        depth[nm], chip_name[nm] = d, nm
    desc = CoreDescription(
        name=name or f"{ckpt.meta.get('arch_name', 'ann')}-{opts.variant}",
        input_shape=tuple(ckpt.input_shape), encoder=Encoder("rate_deterministic", 0),
        time_steps=opts.time_steps, clock_hz=opts.clock_hz, count_bits=16, layers=layers,
        provenance={"converter": "neurochip.convert", "variant": opts.variant,
                    "phase_steps": N if bsnn else None, "percentile": opts.percentile,
                    "lambda": {k: v for k, v in lam.items()},
                    "checkpoint": {k: v for k, v in ckpt.meta.items() if k != "arch"},
                    "arch": ckpt.arch})
    validate(desc)
    return desc


def ann_node_of(layer_name: str) -> str | None:
    """The ANN node a chip layer computes (None for a synchronous neuron)."""
    return None if "_sn" in layer_name else layer_name


def sin_ratio(desc: CoreDescription, acts: dict[str, np.ndarray], spike_counts: dict[str, np.ndarray]
              ) -> dict[str, dict[str, Any]]:
    """Spikes of inactivated neurons per layer (seed-algorithms §3.1, the MSAT definition):
    a unit whose ANN pre-activation is ≤ 0 but which spiked at least once; ratio = SIN / #{≤ 0}.
    ``spike_counts[layer]`` is (n, N) spikes per neuron over the run; ``acts`` the ANN
    forward pass (``<conv>.pre``, add and pool outputs) of the same images, NHWC."""
    out = {}
    for lay in desc.layers:
        node = ann_node_of(lay.name)
        if node is None or lay is desc.layers[-1] or lay.name not in spike_counts:  # not logits
            continue
        pre = acts.get(f"{node}.pre", acts.get(node))
        pre = pre.reshape(len(pre), -1)
        inactive = pre <= 0
        sin = inactive & (spike_counts[lay.name] > 0)
        out[lay.name] = {"inactive": int(inactive.sum()), "sin": int(sin.sum()),
                         "ratio": float(sin.sum() / max(1, inactive.sum()))}
    return out
