"""Float checkpoint (trainer output) → fixed-point core description.

The trainer's forward weight is ``int * scale`` with one scale per output neuron, so the
integers go to the weight SRAM and the scale is folded into integer thresholds and
biases, keeping the membrane in units of ``scale``:

* discontinuous integration fires iff ``scale·Σ + b > 1`` with an integer Σ, i.e. iff
  ``Σ > floor((1 − b) / scale)``: the fold is exact, bias 0;
* continuous integration keeps ``V`` across steps and subtracts the threshold on a
  spike, so θ = round(1 / scale) and b_int = round(b / scale): this rounds, and the
  float-vs-quantized accuracy report shows what it costs.

Membrane widths are chosen so that no reachable value saturates (§2), which keeps the
discontinuous fold exact.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neurochip.description import (CoreDescription, CoreParams, Encoder, Layer, NeuronParams,
                                   DescriptionError)

CHECKPOINT_FORMAT = "neurochip-float-checkpoint"
THRESHOLD = 1.0


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


def load_checkpoint(path: str | Path) -> FloatModel:
    """Read a float checkpoint without unpickling; reject NaN/Inf and bad shapes."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            raw = {k: npz[k] for k in npz.files}
    except FileNotFoundError:
        raise
    except Exception as exc:
        raise DescriptionError(f"{path}: not a readable float checkpoint ({exc})") from exc
    if "manifest" not in raw:
        raise DescriptionError(f"{path}: missing 'manifest'; not a neurochip float checkpoint")
    meta = json.loads(raw["manifest"].tobytes().decode("utf-8"))
    if meta.get("format") != CHECKPOINT_FORMAT or meta.get("version") != 1:
        raise DescriptionError(f"{path}: field 'format'/'version' must be "
                               f"{CHECKPOINT_FORMAT!r}/1, got {meta.get('format')!r}/"
                               f"{meta.get('version')!r}")
    sizes = meta["layer_sizes"]
    weights, biases = [], []
    for i in range(len(sizes) - 1):
        w, b = raw.get(f"layer{i}.weight"), raw.get(f"layer{i}.bias")
        if w is None or b is None:
            raise DescriptionError(f"{path}: missing array 'layer{i}.weight' or 'layer{i}.bias'")
        if w.shape != (sizes[i], sizes[i + 1]) or b.shape != (sizes[i + 1],):
            raise DescriptionError(f"{path}: layer {i} arrays have shapes {w.shape}, {b.shape}; "
                                   f"'layer_sizes' implies {(sizes[i], sizes[i + 1])}")
        for key, arr in ((f"layer{i}.weight", w), (f"layer{i}.bias", b)):
            if not np.all(np.isfinite(arr)):
                raise DescriptionError(f"{path}: array '{key}' holds NaN or Inf; retrain (lower "
                                       "the learning rate) before quantizing")
        weights.append(w.astype(np.float32))
        biases.append(b.astype(np.float32))
    return FloatModel(meta, weights, biases)


def _bits_for(max_abs: float) -> int:
    """Smallest two's-complement width whose range holds ±max_abs."""
    return max(2, int(math.ceil(math.log2(max_abs + 1))) + 1)


def quantize(model: FloatModel, name: str, lanes: int = 64, fifo_depth: int = 64,
             clock_hz: float = 100e6, seed: int = 1) -> CoreDescription:
    """Fold scales into integer thresholds/biases and pick non-saturating widths."""
    T = int(model.meta["time_steps"])
    discontinuous = model.mode == "discontinuous"
    layers: list[Layer] = []
    prev_name = "input"
    n_layers = len(model.weights)
    for i, ((ints, scale), bias) in enumerate(zip(model.effective(), model.biases)):
        scale = scale.astype(np.float64)
        bias = bias.astype(np.float64)
        reach = float(np.abs(ints).sum(axis=0).max())  # largest |Σ| of one step
        if discontinuous:
            threshold = np.floor((THRESHOLD - bias) / scale)
            bias_int = np.zeros_like(threshold)
            bits = _bits_for(reach + 1)
            # Σ lies in [−reach, reach]: a clamped θ fires (never/always) exactly as before
            threshold = np.clip(threshold, -reach - 1, reach)
        else:
            threshold = np.rint(THRESHOLD / scale)
            bias_int = np.rint(bias / scale)
            # V stays below θ + one step of input after a subtractive reset; without a
            # spike it can keep falling, so cover T steps of the most negative input too
            per_step = reach + np.abs(bias_int).max()
            bits = _bits_for(T * per_step + np.abs(threshold).max())
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
    """Float model on the chip's exact input spikes ((n, T, P)): its spike-count prediction."""
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
