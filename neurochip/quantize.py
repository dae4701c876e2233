"""Float checkpoint (trainer output) → fixed-point core description.

The trainer's forward weight is ``int * scale`` with one scale per output neuron, so the
integers go to the weight SRAM and the scale is folded into integer thresholds and
biases, keeping the membrane in units of ``scale``:

* discontinuous integration fires iff ``scale·Σ + b > 1`` with an integer Σ, i.e. iff
  ``Σ > floor((1 − b) / scale)``, bias 0. θ is computed with exact rational arithmetic
  from the float32 ``scale`` and ``b``, so the fold is exact **in real arithmetic**: the
  chip fires iff ``scale·Σ + b > 1`` holds for the exact real value. The trainer's
  float32 forward pass (and :func:`float_predict`) rounds ``scale·Σ + b``, so it can
  decide differently when that value lies within float32 rounding of the threshold 1;
  away from such ties float and chip agree;
* continuous integration keeps ``V`` across steps and subtracts the threshold on a
  spike, so θ = round(1 / scale) and b_int = round(b / scale): this rounds, and the
  float-vs-quantized accuracy report shows what it costs.

Membrane widths are chosen so that no reachable value saturates (§2), which the
discontinuous fold relies on.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from neurochip.description import (CoreDescription, CoreParams, Encoder, Layer, NeuronParams,
                                   DescriptionError)

CHECKPOINT_FORMAT = "neurochip-float-checkpoint"
THRESHOLD = 1.0
MODES = ("continuous", "discontinuous")
MAX_MEMBRANE_BITS = 32  # §2


class CheckpointError(DescriptionError):
    """A float checkpoint cannot be quantized; the message names the key, layer or neuron
    and the fix. A ValueError, so the CLI reports it in one line with exit code 2."""


@dataclass
class FloatModel:
    """A trainer's checkpoint: latent weights, biases and how they were trained."""

    meta: dict[str, Any]
    weights: list[np.ndarray]  # latent (fan_in, fan_out)
    biases: list[np.ndarray]

    @property
    def mode(self) -> str:
        return self.meta["mode"]

    @property
    def weight_bits(self) -> int:
        return int(self.meta["weight_bits"])

    def effective(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(integer weights, per-neuron scale) per layer, exactly as the trainer's forward."""
        from neurochip.train.ste_bp import effective_weight_numpy

        return [effective_weight_numpy(w, self.weight_bits) for w in self.weights]


def _is_int(val: Any) -> bool:
    return isinstance(val, int) and not isinstance(val, bool)


def _check_meta(meta: Any, path: Path | str) -> dict[str, Any]:
    """The checkpoint manifest keys the quantizer uses, each checked with its fix."""
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: 'manifest' must be a JSON object, got "
                              f"{type(meta).__name__}; re-create the checkpoint with "
                              "`neurochip train`")
    if meta.get("format") != CHECKPOINT_FORMAT or meta.get("version") != 1:
        raise CheckpointError(f"{path}: field 'format'/'version' must be "
                              f"{CHECKPOINT_FORMAT!r}/1, got {meta.get('format')!r}/"
                              f"{meta.get('version')!r}")
    for key in ("mode", "weight_bits", "time_steps", "layer_sizes"):
        if key not in meta:
            raise CheckpointError(f"{path}: manifest key '{key}' is missing; re-create the "
                                  "checkpoint with `neurochip train` (it writes mode, "
                                  "weight_bits, time_steps and layer_sizes)")
    if meta["mode"] not in MODES:
        raise CheckpointError(f"{path}: manifest key 'mode' is {meta['mode']!r}; use one of "
                              f"{list(MODES)}")
    for key, lo, hi in (("weight_bits", 1, 8), ("time_steps", 1, 4096)):
        if not (_is_int(meta[key]) and lo <= meta[key] <= hi):
            raise CheckpointError(f"{path}: manifest key '{key}' is {meta[key]!r}; use an "
                                  f"integer in {lo} … {hi}")
    if "threshold" in meta and meta["threshold"] != THRESHOLD:
        raise CheckpointError(f"{path}: manifest key 'threshold' is {meta['threshold']!r}; the "
                              f"quantizer folds a firing threshold of {THRESHOLD} only "
                              "(retrain with the default threshold)")
    sizes = meta["layer_sizes"]
    if not (isinstance(sizes, list) and len(sizes) >= 2
            and all(_is_int(s) and 1 <= s <= 1 << 15 for s in sizes)):
        raise CheckpointError(f"{path}: manifest key 'layer_sizes' is {sizes!r}; use a list of "
                              "at least two layer sizes in 1 … 32768 (inputs first)")
    return meta


def load_checkpoint(path: str | Path) -> FloatModel:
    """Read a float checkpoint without unpickling; reject missing or bad manifest keys,
    NaN/Inf and bad shapes with a :class:`CheckpointError` naming the key and the fix."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file; pass a float checkpoint (*.ckpt.npz) "
                              "written by `neurochip train`")
    try:
        with np.load(path, allow_pickle=False) as npz:
            raw = {k: npz[k] for k in npz.files}
    except Exception as exc:
        raise CheckpointError(f"{path}: not a readable float checkpoint ({exc})") from exc
    if not isinstance(raw.get("manifest"), np.ndarray):
        raise CheckpointError(f"{path}: missing 'manifest'; not a neurochip float checkpoint")
    try:
        meta = json.loads(raw["manifest"].tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise CheckpointError(f"{path}: 'manifest' is not valid UTF-8 JSON ({exc}); re-create "
                              "the checkpoint with `neurochip train`") from exc
    sizes = _check_meta(meta, path)["layer_sizes"]
    weights, biases = [], []
    for i in range(len(sizes) - 1):
        w, b = raw.get(f"layer{i}.weight"), raw.get(f"layer{i}.bias")
        if not (isinstance(w, np.ndarray) and isinstance(b, np.ndarray)):
            raise CheckpointError(f"{path}: missing array 'layer{i}.weight' or 'layer{i}.bias'")
        if w.shape != (sizes[i], sizes[i + 1]) or b.shape != (sizes[i + 1],):
            raise CheckpointError(f"{path}: layer {i} arrays have shapes {w.shape}, {b.shape}; "
                                  f"'layer_sizes' implies {(sizes[i], sizes[i + 1])}")
        for key, arr in ((f"layer{i}.weight", w), (f"layer{i}.bias", b)):
            if arr.dtype.kind not in "iuf":
                raise CheckpointError(f"{path}: array '{key}' has dtype {arr.dtype}; it must "
                                      "hold real numbers (float32)")
            if not np.all(np.isfinite(arr)):
                raise CheckpointError(f"{path}: array '{key}' holds NaN or Inf; retrain (lower "
                                      "the learning rate) before quantizing")
        weights.append(w.astype(np.float32))
        biases.append(b.astype(np.float32))
    return FloatModel(meta, weights, biases)


def _check_scales(scale: np.ndarray, layer: int) -> None:
    """A per-neuron scale of 0 (all latent weights of a neuron 0 with 1-bit weights) or a
    non-finite one cannot be folded into a threshold (it would divide by zero)."""
    bad = np.flatnonzero(~(np.isfinite(scale) & (scale > 0)))
    if bad.size:
        j = int(bad[0])
        why = f"column {j} is all zero" if scale[j] == 0 else "the weights overflow float32"
        more = f" ({bad.size - 1} more neurons likewise)" if bad.size > 1 else ""
        raise CheckpointError(
            f"array 'layer{layer}.weight', neuron {j}: the per-neuron weight scale is "
            f"{float(scale[j])!r} ({why}){more}, so its threshold cannot be folded "
            "(division by zero); retrain, or give the neuron non-zero finite weights, "
            "before quantizing")


def discontinuous_threshold(bias: float, scale: float) -> int:
    """θ = floor((1 − b) / scale) in exact rational arithmetic (b, scale are float32 values).

    Σ > θ ⟺ scale·Σ + b > 1 for every integer Σ, exactly in real numbers; a float64
    evaluation of the quotient can round onto the wrong side of an integer."""
    return math.floor((Fraction(THRESHOLD) - Fraction(float(bias))) / Fraction(float(scale)))


def _bits_for(max_abs: float) -> int:
    """Smallest two's-complement width whose range holds ±max_abs."""
    return max(2, int(math.ceil(math.log2(max_abs + 1))) + 1)


def quantize(model: FloatModel, name: str, lanes: int = 64, fifo_depth: int = 64,
             clock_hz: float = 100e6, seed: int = 1) -> CoreDescription:
    """Fold scales into integer thresholds/biases and pick non-saturating widths."""
    _check_meta(model.meta, "<checkpoint>")
    T = int(model.meta["time_steps"])
    discontinuous = model.mode == "discontinuous"
    layers: list[Layer] = []
    prev_name = "input"
    n_layers = len(model.weights)
    for i, ((ints, scale), bias) in enumerate(zip(model.effective(), model.biases)):
        _check_scales(scale, i)
        reach = int(np.abs(ints.astype(np.int64)).sum(axis=0).max())  # largest |Σ| of one step
        if discontinuous:
            # Σ lies in [−reach, reach]: a clamped θ fires (never/always) exactly as before
            threshold = np.array([min(max(discontinuous_threshold(b, s), -reach - 1), reach)
                                  for b, s in zip(bias.tolist(), scale.tolist())],
                                 dtype=np.int64).reshape(scale.shape)
            bias_int = np.zeros_like(threshold)
            bits = _bits_for(reach + 1)
        else:
            scale = scale.astype(np.float64)
            threshold = np.rint(THRESHOLD / scale)
            bias_int = np.rint(bias.astype(np.float64) / scale)
            # V stays below θ + one step of input after a subtractive reset; without a
            # spike it can keep falling, so cover T steps of the most negative input too
            per_step = reach + np.abs(bias_int).max()
            bits = _bits_for(T * per_step + np.abs(threshold).max())
            if bits > MAX_MEMBRANE_BITS:
                j = int(np.argmin(scale))
                raise CheckpointError(
                    f"layer {i}: continuous mode needs a {bits}-bit membrane (neuron {j} has "
                    f"weight scale {scale[j]:.3g}, so θ = round(1/scale) = {threshold[j]:.3g}); "
                    f"the chip allows at most {MAX_MEMBRANE_BITS} bits: retrain with larger "
                    "weights, fewer time steps or discontinuous integration")
        fanout = ints.shape[1]
        name_i = "out" if i == n_layers - 1 else f"fc{i + 1}"
        layers.append(Layer(
            name=name_i, inputs=ints.shape[0], neurons=fanout,
            weight_bits=model.weight_bits, membrane_bits=bits, overflow="saturate",
            neuron=NeuronParams(reset="subtract", leak="none", leak_amount=0,
                                integration=model.mode),
            core=CoreParams(index=i, lanes=min(lanes, fanout) if i == n_layers - 1 else lanes,
                            fifo_depth=fifo_depth),
            weight=ints.astype(np.int64), threshold=threshold.astype(np.int64),
            bias=bias_int.astype(np.int64), source=prev_name))
        prev_name = name_i
    size = model.weights[0].shape[0]
    side = int(round(math.sqrt(size)))
    shape = (side, side) if side * side == size else (size,)
    return CoreDescription(
        name=name, input_shape=shape, encoder=Encoder("bernoulli_lfsr", seed), time_steps=T,
        clock_hz=clock_hz, count_bits=max(1, int(T).bit_length()), layers=layers,
        provenance={"quantizer": "neurochip.quantize", "checkpoint": dict(model.meta)})


def float_predict(model: FloatModel, spikes: np.ndarray) -> np.ndarray:
    """Float model on the chip's exact input spikes ((n, T, P)): its spike-count prediction.

    Evaluated in float32 like the trainer's forward pass, so where ``scale·Σ + b`` lies
    within float32 rounding of the threshold it may decide differently from the chip,
    whose discontinuous fold is exact in real arithmetic (module docstring)."""
    eff = [(ints.astype(np.float32) * scale[None, :]) for ints, scale in model.effective()]
    n, T, _ = spikes.shape
    counts = np.zeros((n, eff[-1].shape[1]), dtype=np.int64)
    potentials = [np.zeros((n, w.shape[1]), dtype=np.float32) for w in eff]
    for t in range(T):
        s = spikes[:, t, :].astype(np.float32)
        for i, (w, b) in enumerate(zip(eff, model.biases)):
            x = s @ w + b
            if model.mode == "continuous":
                potentials[i] += x
                fired = potentials[i] > THRESHOLD
                potentials[i] -= fired.astype(np.float32) * THRESHOLD
            else:
                fired = x > THRESHOLD
            s = fired.astype(np.float32)
        counts += s.astype(np.int64)
    return np.argmax(counts, axis=1)


def quantize_checkpoint(ckpt_path: str | Path, out_path: str | Path, lanes: int = 64,
                        fifo_depth: int = 64, clock_hz: float = 100e6,
                        report: bool = True) -> CoreDescription:
    """Quantize a checkpoint file, save the description, and report float vs quantized
    accuracy on the shipped MNIST sample (or the checkpoint's test split when present)."""
    from neurochip import description

    model = load_checkpoint(ckpt_path)
    out_path = Path(out_path)
    name = out_path.name.removesuffix(".npz")
    desc = quantize(model, name, lanes=lanes, fifo_depth=fifo_depth, clock_hz=clock_hz)
    description.validate(desc, str(out_path))  # bad options fail here, before simulating
    if report:
        acc = compare_accuracy(model, desc)
        desc.provenance["sample_accuracy"] = acc
        import sys

        print(f"quantized {ckpt_path} -> {out_path}: float {acc['float']:.4f}, quantized "
              f"{acc['quantized']:.4f} on {acc['images']} images ({acc['data']})", file=sys.stderr)
    description.save(desc, out_path)
    return desc


def compare_accuracy(model: FloatModel, desc: CoreDescription,
                     images: np.ndarray | None = None, labels: np.ndarray | None = None,
                     data: str = "shipped MNIST sample") -> dict[str, Any]:
    """Float and quantized accuracy on the same LFSR-encoded inputs."""
    from neurochip.datasets import load_sample
    from neurochip.sim import simulate
    from neurochip.sim.simulator import encode_images

    if images is None:
        images, labels = load_sample()
    spikes = encode_images(desc, images)
    float_pred = float_predict(model, spikes)
    quant_pred = simulate(desc, images).predictions
    return {"images": int(len(images)), "data": data,
            "float": float(np.mean(float_pred == labels)),
            "quantized": float(np.mean(quant_pred == labels)),
            "agreement": float(np.mean(float_pred == quant_pred))}
