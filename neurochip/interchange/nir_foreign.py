"""A foreign NIR graph → core description: pattern-match the nodes onto chip layers and
quantize each through the existing quantizer's rules (neurochip/quantize.py): integer
weights with one scale per output channel, the scale folded into integer thresholds and
biases (exactly, in rational arithmetic, where the chip's arithmetic allows), membranes
wide enough that nothing saturates.

Patterns (NIR sums the inputs of a node with several incoming edges):
``[Flatten] → Affine|Linear → neuron`` = fc; ``Conv2d → neuron`` = conv2d;
``SumPool2d|AvgPool2d → neuron`` = pool; ``spikes (or Scale of spikes) ×2 → neuron`` = add.
A chain of synapse nodes with no neuron between is folded into one layer (``nir_fold``).
Neurons: IF, LIF, CubaLIF with τ_syn = dt. Everything else is refused by name."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from neurochip.description import (EVENT_INPUT, MAX_EVENT_COUNT, CoreDescription, CoreMapping,
                                   DescriptionError, Encoder, Layer)
from neurochip.description import validate
from neurochip.interchange.nir_import import ImportOptions, ImportResult, LayerMap
from neurochip.interchange.nir_io import Graph, NirError
from neurochip.interchange.nir_kinds import KIND_NIR, SYNAPSE_TYPES, FloatLayer, per_channel
from neurochip.kinds import get_kind
from neurochip.interchange.nir_neurons import MODEL_NIR, NEURON_TYPES, NeuronFloat
from neurochip.train.ste import effective_weight_numpy
from neurochip.train.widths import MAX_MEMBRANE_BITS
from neurochip.train.widths import bits_for as _bits_for

KNOWN = ("Input", "Output", "Flatten", "Scale") + tuple(SYNAPSE_TYPES) + NEURON_TYPES
DEFAULT_DT = 1e-4


@dataclass
class Stream:
    """A node whose output is a chip stream: the input or a layer's spikes."""

    src: str  # chip name: "input" or a layer name
    hwc: tuple[int, int, int]
    flat: bool
    gain: np.ndarray | None = None  # a Scale in between (add's per-channel gain)


@dataclass
class Pending:
    """A synapse node (or a folded linear chain of them, ``nir_fold``) waiting for its
    neuron node; ``flat``: a Flatten followed it."""

    layer: FloatLayer
    src: str
    node: str
    flat: bool = False


def _shape_of(node: Any, key: str) -> tuple[int, ...] | None:
    types = getattr(node, key, None) or {}
    for val in types.values():
        if val is None:
            continue
        arr = np.asarray(val).reshape(-1)
        if arr.size and arr.dtype.kind in "iuf" and np.all(arr > 0):
            return tuple(int(v) for v in arr)
    return None


def _input_stream(node: Any, name: str, origin: str) -> tuple[Stream, tuple[int, ...]]:
    shape = _shape_of(node, "input_type") or _shape_of(node, "output_type")
    if shape is None:
        raise NirError(f"{origin}: input node {name!r} has no shape; export the graph with "
                       "its input_type")
    if len(shape) == 4 and shape[0] == 1:  # a batch dimension of 1
        shape = shape[1:]
    if len(shape) == 1:
        return Stream("input", (1, 1, shape[0]), True), (shape[0],)
    if len(shape) == 2:
        shape = (1,) + shape
    if len(shape) != 3:
        raise NirError(f"{origin}: input node {name!r} has shape {list(shape)}; the chip takes "
                       "(N,), (H, W) or (C, H, W) inputs")
    c, h, w = shape
    chip = (h, w) if c == 1 else (h, w, c)
    return Stream("input", (h, w, c), False), chip


def _leading_time(g: Graph, name: str, stream: Stream, shape: tuple[int, ...]
                  ) -> tuple[Stream, tuple[int, ...], str | None]:
    """Sinabs writes the input type as (T, N): when the input feeds Affine/Linear nodes that
    take N = its last dimension, the leading dimension is time (or batch), not space."""
    dims = _shape_of(g.nodes[name], "input_type") or _shape_of(g.nodes[name], "output_type")
    succ = [g.nodes[s] for s in g.succs[name]]
    if not dims or len(dims) != 2 or not succ or dims[0] == 1:
        return stream, shape, None
    widths = {np.asarray(getattr(n, "weight", np.zeros((0, 0)))).shape[-1] for n in succ
              if type(n).__name__ in ("Affine", "Linear")}
    if len(succ) == len([n for n in succ if type(n).__name__ in ("Affine", "Linear")]) \
            and widths == {dims[1]}:
        return (Stream("input", (1, 1, dims[1]), True), (dims[1],),
                f"input type {list(dims)}: the leading {dims[0]} read as time steps/batch "
                f"(Sinabs writes (T, N)); the chip's input is {dims[1]} wide")
    return stream, shape, None


def _chip_name(node: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9_]", "_", node.lower())
    if not base or not base[0].isalpha():
        base = "l" + base
    base = base[:32]
    name, i = base, 1
    while name in taken or name == "input":
        suffix = f"_{i}"
        name, i = base[:32 - len(suffix)] + suffix, i + 1
    taken.add(name)
    return name


def _channels(values: np.ndarray, hwc: tuple[int, int, int], flat: bool, what: str,
              name: str, origin: str) -> np.ndarray:
    """Per-neuron NIR values → per channel (fc: per neuron)."""
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if flat:
        n = hwc[0] * hwc[1] * hwc[2]
        if arr.size == 1:
            return np.full(n, arr[0])
        if arr.size != n:
            raise NirError(f"{origin}: node {name!r} {what} has {arr.size} values for {n} neurons")
        return arr
    try:
        return per_channel(arr, (hwc[0], hwc[1], hwc[2]))
    except ValueError:
        raise NirError(f"{origin}: node {name!r}: {what} varies across positions of a channel; "
                       "the chip keeps one parameter per channel") from None


def _floor_div(num: float, den: float) -> int:
    return math.floor(Fraction(num) / Fraction(den))


def _bits_needed(ints: np.ndarray) -> int:
    """Smallest weight_bits holding ``ints`` (1: only ±1)."""
    if ints.size and np.all(np.abs(ints) == 1):
        return 1
    lo, hi = int(ints.min(initial=0)), int(ints.max(initial=0))
    return max(2, hi.bit_length() + 1, (-lo - 1).bit_length() + 1 if lo < 0 else 0)


def _weight_ints(w: np.ndarray, bits_opt: int | None) -> tuple[np.ndarray, np.ndarray, int, str]:
    """(ints, per-column scale, weight_bits, note): exact when ``w`` is integers × 2^-k for
    some k ≥ 0 that fit the bits (one scale 2^-k for the layer), else the quantizer's
    per-column max-abs scale (neurochip.train.ste.effective_weight_numpy)."""
    limit = bits_opt or 8
    for k in range(0, 17):
        scaled = w * float(2 ** k)
        if np.abs(scaled).max(initial=0) > 128:
            break
        if not np.array_equal(scaled, np.rint(scaled)):
            continue
        ints = np.rint(scaled).astype(np.int64)
        need = _bits_needed(ints)
        if need > limit:
            break
        bits = max(need, bits_opt or need)
        if bits == 1 and need != 1:
            continue
        where = "integer weights" if k == 0 else f"weights are integers × 2^-{k}"
        return (ints, np.full(w.shape[1], 2.0 ** -k), bits, f"{where}: kept exactly ({bits}-bit)")
    bits = limit
    ints, scale = effective_weight_numpy(w.astype(np.float32), bits)
    scale = scale.astype(np.float64)
    scale[~(scale > 0)] = 1.0
    err = np.abs(ints * scale - w).max() / max(np.abs(w).max(), 1e-300)
    return (ints.astype(np.int64), scale, bits,
            f"weights quantized to {bits} bits, one scale per output channel (max error "
            f"{100 * err:.2f} % of the largest weight)")


def _quantize(fl: FloatLayer, nf: NeuronFloat, hwc: tuple, flat: bool, node: str,
              origin: str, opts: ImportOptions, calib_max: float | None,
              events_per_input: int = 1):
    """Integer arrays, bits and lif settings of one layer, and the notes that state them.
    ``events_per_input``: most events one input address delivers in a step (1 for spikes;
    255 for a layer that reads event input, §11.2), for the worst-case membrane width."""
    notes = list(fl.notes) + list(nf.notes)
    gain = _channels(nf.gain, hwc, flat, "gain", node, origin)
    drive = _channels(nf.drive, hwc, flat, "v_leak", node, origin)
    theta = _channels(nf.threshold, hwc, flat, "v_threshold", node, origin)
    v_reset = _channels(nf.v_reset, hwc, flat, "v_reset", node, origin)
    if opts.reset == "zero" and np.any(v_reset != 0):
        raise NirError(f"{origin}: node {node!r} resets to v_reset = {v_reset[v_reset != 0][0]:g}; "
                       "the chip resets to 0 or subtracts the threshold (--reset subtract "
                       "ignores v_reset)")
    bias = fl.bias * gain + drive
    if fl.kind == "pool":
        ints, scale, wbits = None, fl.unit * gain, 1
        reach = fl.geometry["window"] ** 2
    else:
        w = fl.weight * gain[None, :]
        ints, scale, wbits, wnote = _weight_ints(w, opts.weight_bits)
        notes.append(wnote)
        reach = int(np.abs(ints).sum(axis=0).max(initial=0))
    if events_per_input > 1:
        reach *= events_per_input
        notes.append(f"reads event input: worst case {events_per_input} events per address and "
                     "step (§11.2) in the membrane width")
    if np.any(scale <= 0):
        raise NirError(f"{origin}: node {node!r}: a non-positive input gain ({scale.min():g}) "
                       "would flip the firing condition; the chip's threshold is v > θ")
    model = MODEL_NIR["lif"]
    # integration (and so the fold) depends on β only; λ is settled below, once B is known
    integration = model.settings(nf, opts.leak, opts.reset, theta / scale, 32)[0].integration
    approx = any(n.startswith("weights quantized") for n in notes)
    if integration == "discontinuous":
        th = np.array([_floor_div(theta[c] - bias[c], scale[c]) for c in range(theta.size)],
                      dtype=np.int64)
        th = np.clip(th, -reach - 1, reach)
        b_int = np.zeros_like(th)
        notes.append("θ = floor((v_thr − b)/s), bias folded in: the firing decision is exact")
        need = _bits_for(reach + 1)
    else:
        q = np.array([Fraction(theta[c]) / Fraction(scale[c]) for c in range(theta.size)])
        if opts.reset == "zero":
            th = np.array([math.floor(x) for x in q], dtype=np.int64)
            notes.append("θ = floor(v_thr/s): exact firing decision for integer membranes")
        else:
            th = np.array([round(x) for x in q], dtype=np.int64)
            if any(Fraction(int(t)) != x for t, x in zip(th, q)):
                rel = max(abs(float(x) - int(t)) / max(abs(float(x)), 1e-300) for t, x in zip(th, q))
                notes.append(f"θ = round(v_thr/s) (subtracted on a spike; relative error "
                             f"{100 * rel:.2f} %)")
                approx = True
        bq = bias / scale
        b_int = np.rint(np.clip(bq, -2.0**62, 2.0**62)).astype(np.int64)
        if np.any(np.abs(bq - b_int) > 1e-9 * np.maximum(1, np.abs(bq))):
            notes.append(f"bias rounded to integers (max error {np.abs(bq - b_int).max():.3g} LSB)")
            approx = True
        per_step = reach + int(np.abs(b_int).max(initial=0))
        need = _bits_for(opts.time_steps * per_step + int(np.abs(th).max(initial=0)))
    if calib_max is not None:
        seen = int(math.ceil(calib_max / float(scale.min()))) + int(np.abs(th).max(initial=0))
        if _bits_for(2 * seen) < need:
            need, approx = _bits_for(2 * seen), True
        notes.append(f"membrane width from --calibrate: largest |v| seen {calib_max:.4g} "
                     f"(×2 headroom) → {need} bits; larger inputs may saturate")
    bits = opts.membrane_bits or need
    if bits > MAX_MEMBRANE_BITS:
        notes.append(f"no saturation needs {bits} membrane bits; using {MAX_MEMBRANE_BITS} "
                     "(saturating)")
        bits, approx = MAX_MEMBRANE_BITS, True
    elif opts.membrane_bits and need > opts.membrane_bits:
        notes.append(f"--membrane-bits {opts.membrane_bits}: the worst case needs {need} bits, "
                     "so membranes may saturate")
        approx = True
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if np.any(th < lo) or np.any(th > hi) or np.any(b_int < lo) or np.any(b_int > hi):
        notes.append(f"thresholds/biases clamped to the {bits}-bit range")
        th, b_int, approx = np.clip(th, lo, hi), np.clip(b_int, lo, hi), True
    settings, leak_notes, leak_exact = model.settings(nf, opts.leak, opts.reset, th, bits)
    notes[len(fl.notes) + len(nf.notes):len(fl.notes) + len(nf.notes)] = leak_notes
    return ints, wbits, bits, th, b_int, settings, notes, approx or not leak_exact


def import_foreign(g: Graph, origin: str, opts: ImportOptions,
                   calibration: dict[str, float] | None = None) -> ImportResult:
    """Map and quantize a foreign graph (see the module docstring)."""
    dt = opts.dt if opts.dt is not None else DEFAULT_DT
    for name in g.order:
        t = g.type_of(name)
        if t not in KNOWN:
            raise NirError(f"{origin}: node {name!r} has type {t}, which the chip cannot "
                           f"express; it maps {', '.join(KNOWN)} (plus residual sums)")
    ins = [n for n in g.order if g.type_of(n) == "Input"]
    outs = [n for n in g.order if g.type_of(n) == "Output"]
    if len(ins) != 1 or len(outs) != 1:
        raise NirError(f"{origin}: the graph has {len(ins)} Input and {len(outs)} Output nodes; "
                       "the chip takes exactly one of each")
    state: dict[str, Stream | Pending] = {}
    extra_choices: list[str] = []
    layers: list[Layer] = []
    maps: list[LayerMap] = []
    taken: set[str] = set()
    input_shape: tuple[int, ...] = ()
    for name in g.order:
        t, node, preds = g.type_of(name), g.nodes[name], g.preds[name]
        if t == "Input":
            state[name], input_shape = _input_stream(node, name, origin)
            state[name], input_shape, note = _leading_time(g, name, state[name], input_shape)
            extra_choices += [note] if note else []
            continue
        if not preds:
            raise NirError(f"{origin}: node {name!r} ({t}) has no incoming edge; connect it or "
                           "remove it")
        srcs = [state[p] for p in preds]
        if t == "Output":
            if len(srcs) != 1 or not isinstance(srcs[0], Stream) or srcs[0].src == "input" \
                    or srcs[0].gain is not None:
                raise NirError(f"{origin}: output node {name!r} must be fed by one neuron node "
                               "(the chip counts the last layer's spikes)")
            continue
        if t in NEURON_TYPES:
            layer, lmap = _neuron_layer(g, name, srcs, preds, origin, opts, dt, len(layers),
                                        taken, calibration)
            layers.append(layer)
            maps.append(lmap)
            out_hwc = tuple(get_kind(layer.kind).output_shape(layer))
            state[name] = Stream(layer.name, out_hwc, layer.kind == "fc")
            continue
        if len(srcs) != 1:
            raise NirError(f"{origin}: node {name!r} ({t}) has {len(srcs)} incoming edges; on "
                           "the chip only a neuron node may sum two spike streams (an add core)")
        src = srcs[0]
        if isinstance(src, Pending):
            state[name] = _extend_chain(src, t, node, name, origin)
            continue
        if t == "Flatten":
            _check_flatten(node, name, src.gain is not None, origin)
            state[name] = Stream(src.src, src.hwc, True)
        elif t == "Scale":
            scale = np.asarray(node.scale, dtype=np.float64)
            gain = _channels(scale, src.hwc, src.flat, "scale", name, origin) \
                if scale.size > 1 else np.full(src.hwc[2] if not src.flat else
                                               src.hwc[0] * src.hwc[1] * src.hwc[2],
                                               float(scale.reshape(-1)[0]))
            state[name] = Stream(src.src, src.hwc, src.flat,
                                 gain if src.gain is None else gain * src.gain)
        else:
            kind = SYNAPSE_TYPES[t]
            if src.gain is not None:
                raise NirError(f"{origin}: node {name!r} ({t}) reads a Scale node; fold the "
                               "scale into its weights")
            if kind != "fc" and src.flat and src.hwc[:2] != (1, 1):
                raise NirError(f"{origin}: node {name!r} ({t}) reads a flattened stream; it "
                               "needs the (C, H, W) map")
            if kind == "fc" and not src.flat and src.hwc[:2] != (1, 1) and src.hwc[2] != 1:
                raise NirError(f"{origin}: node {name!r} ({t}) reads a (C, H, W) map; put a "
                               "Flatten in front of it")
            fl = KIND_NIR[kind].from_foreign(node, name, src.hwc, src.flat, origin)
            state[name] = Pending(fl, src.src, name)
    desc = CoreDescription(
        name=opts.name, input_shape=tuple(input_shape), encoder=Encoder(opts.encoder, opts.seed),
        time_steps=opts.time_steps, clock_hz=100e6,
        count_bits=max(1, int(opts.time_steps).bit_length()), layers=layers,
        provenance={"importer": "neurochip.interchange (NIR)", "source": origin, "dt": dt,
                    "reset": opts.reset, "leak": opts.leak})
    try:
        validate(desc, origin)
    except DescriptionError as exc:
        raise NirError(f"{exc} (while mapping the NIR graph onto the chip)") from None
    first = next(lay for lay in layers if "input" in lay.sources)
    choices = [f"dt = {dt:g} s (Euler steps; snnTorch's convention τ = dt/(1 − β))",
               f"time steps T = {opts.time_steps}, " + (
                   "event input (§11.2): the host pushes the recordings' events, n events at "
                   "one address in one step as n pushes" if opts.encoder == EVENT_INPUT else
                   f"input encoder {opts.encoder} (seed {opts.seed})"),
               f"reset: {opts.reset} (NIR's v_reset semantics is 'zero'; snnTorch simulates "
               "'subtract' by default)",
               "threshold: a neuron fires when v > v_thr (strict, as NIR and the chip)",
               "IF: v ← v + R·I per step; LIF: v ← (1 − dt/τ)·v + (dt/τ)·(v_leak + R·I)",
               "overflow: saturate"] + extra_choices
    return ImportResult(desc, False, dt, opts.reset, first.kind == "fc" and
                        state[ins[0]].flat, maps, choices)


def _check_flatten(node: Any, name: str, scaled: bool, origin: str) -> None:
    sd, ed = int(getattr(node, "start_dim", 0)), int(getattr(node, "end_dim", -1))
    if (sd, ed) not in ((0, -1), (1, -1)) or scaled:
        raise NirError(f"{origin}: node {name!r}: Flatten(start_dim={sd}, end_dim={ed}); "
                       "the chip flattens whole maps only")


def _extend_chain(src: Pending, t: str, node: Any, name: str, origin: str) -> Pending:
    """A node after a synapse node with no neuron between: a Flatten marks the chain
    flattened; a synapse node is folded into it (``nir_fold``); anything else is refused."""
    from neurochip.interchange.nir_fold import fold

    if t == "Flatten":
        _check_flatten(node, name, False, origin)
        return Pending(src.layer, src.src, src.node, True)
    kind = SYNAPSE_TYPES.get(t)
    if kind is None:
        raise NirError(f"{origin}: node {name!r} ({t}) follows {src.node!r} with no neuron "
                       "node in between; the chip folds only synapse chains (Affine, Conv2d, "
                       "SumPool2d, AvgPool2d) into one layer")
    shape = src.layer.out_shape
    if kind != "fc" and src.flat and shape[:2] != (1, 1):
        raise NirError(f"{origin}: node {name!r} ({t}) reads a flattened stream; it needs "
                       "the (C, H, W) map")
    if kind == "fc" and not src.flat and shape[:2] != (1, 1) and shape[2] != 1:
        raise NirError(f"{origin}: node {name!r} ({t}) reads a (C, H, W) map; put a Flatten "
                       "in front of it")
    second = KIND_NIR[kind].from_foreign(node, name, shape, src.flat, origin)
    return Pending(fold(src.layer, second, (src.node, name), origin), src.src, name)


def _exported_model_notes(node: Any, name: str, origin: str) -> list[str]:
    """A node a neurochip export wrote for a model other than lif (its metadata says which)
    becomes lif under --foreign only with the approximation stated, or is refused naming
    the node and why (nir_neurons: ``as_foreign``). Unreadable metadata is ignored, as
    --foreign ignores metadata."""
    import json

    from neurochip.interchange.nir_io import NEUROCHIP_KEY

    text = (getattr(node, "metadata", None) or {}).get(NEUROCHIP_KEY)
    try:
        meta = json.loads(text.decode() if isinstance(text, bytes) else text)
        model = meta["layer"]["neuron"]["model"]
    except (TypeError, ValueError, KeyError, AttributeError, RecursionError):
        return []
    if not isinstance(model, str) or model not in MODEL_NIR:
        return []
    return MODEL_NIR[model].as_foreign(node, meta, name, origin)


def _neuron_layer(g: Graph, name: str, srcs: list, preds: list[str], origin: str,
                  opts: ImportOptions, dt: float, index: int, taken: set[str],
                  calibration: dict[str, float] | None) -> tuple[Layer, LayerMap]:
    node = g.nodes[name]
    exported_notes = _exported_model_notes(node, name, origin)
    nf = MODEL_NIR["lif"].from_foreign(node, name, dt, origin)
    if len(srcs) == 1 and isinstance(srcs[0], Pending):
        fl, sources = srcs[0].layer, srcs[0].src
    elif len(srcs) == 2 and all(isinstance(s, Stream) for s in srcs):
        a, b = srcs
        if a.hwc != b.hwc or a.src == b.src:
            raise NirError(f"{origin}: node {name!r} sums {preds[0]!r} {a.hwc} and {preds[1]!r} "
                           f"{b.hwc}; the chip's add core needs two different sources of the "
                           "same shape")
        c = a.hwc[2]
        gains = [s.gain if s.gain is not None else np.ones(c) for s in srcs]
        if any(gv.size != c for gv in gains):
            raise NirError(f"{origin}: node {name!r}: add gains must be per channel ({c})")
        fl = KIND_NIR["add"].from_foreign(gains, a.hwc, origin)
        sources = (a.src, b.src)
    elif len(srcs) == 1:
        raise NirError(f"{origin}: neuron node {name!r} is fed spikes from {preds[0]!r} with no "
                       "synapse node; the chip needs Affine/Linear, Conv2d or a pool in front "
                       "of every neuron layer")
    else:
        kinds = [type(g.nodes[p]).__name__ for p in preds]
        raise NirError(f"{origin}: neuron node {name!r} sums {len(srcs)} inputs ({kinds}); the "
                       "chip's add core sums exactly two spike streams (optionally through "
                       "Scale nodes): put a neuron node after each synapse node first")
    hwc, flat = fl.out_shape, fl.kind == "fc"
    n_nir = int(np.asarray(node.v_threshold).size)
    if n_nir not in (1, fl.neurons):
        raise NirError(f"{origin}: neuron node {name!r} has {n_nir} neurons but its input "
                       f"gives {fl.neurons}; fix the shapes")
    calib = None if calibration is None else calibration.get(name)
    burst = MAX_EVENT_COUNT if opts.encoder == EVENT_INPUT and "input" in sources else 1
    ints, wbits, bits, th, b_int, settings, notes, approx = _quantize(
        fl, nf, hwc, flat, name, origin, opts, calib, burst)
    if exported_notes:
        notes, approx = exported_notes + notes, True
    lname = _chip_name(name, taken)
    channels = hwc[2]
    depth = opts.fifo_depth
    if fl.kind == "add":
        depth = max(depth, hwc[0] * hwc[1] * hwc[2] + 1)  # §7: one whole step of source 1
    layer = Layer(name=lname, inputs=fl.inputs, neurons=fl.neurons, weight_bits=wbits,
                  membrane_bits=bits, overflow="saturate", neuron=settings,
                  core=CoreMapping(index=index, lanes=min(opts.lanes, channels), fifo_depth=depth),
                  weight=ints if ints is not None else np.zeros((0,), np.int64),
                  threshold=th, bias=b_int, kind=fl.kind,
                  source=sources if isinstance(sources, tuple) else sources,
                  geometry=dict(fl.geometry))
    if fl.kind == "pool":
        layer.weight = np.zeros((0,), np.int64)
    return layer, LayerMap(lname, name, flat, notes, approx)
