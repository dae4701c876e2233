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

Convolutional checkpoints (manifest key ``arch``, :mod:`neurochip.train.arch`;
discontinuous integration only) fold the same way per output channel: a ``conv2d`` layer
whose weight memory is the ±1 kernel ((C_in·kh·kw, C_out), row (c·kh + ky)·kw + kx), one
θ = floor((1 − b)/scale) per channel and a membrane wide enough for reach = Σ|W| of a
channel; OR pooling becomes a ``pool`` layer (count > 0, no weights); fc layers as above,
their rows already in the chip's (y·W + x)·C + c address order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from neurochip.description import CoreDescription, CoreMapping, Encoder, Layer, DescriptionError
from neurochip.neurons.lif import LifNeuron
from neurochip.train.arch import chip_layer
from neurochip.train.widths import MAX_MEMBRANE_BITS, bits_for

CHECKPOINT_FORMAT = "neurochip-float-checkpoint"
THRESHOLD = 1.0
MODES = ("continuous", "discontinuous")


class CheckpointError(DescriptionError):
    """A float checkpoint cannot be quantized; the message names the key, layer or neuron
    and the fix. A ValueError, so the CLI reports it in one line with exit code 2."""


@dataclass
class FloatModel:
    """A trainer's checkpoint: latent weights, biases and how they were trained."""

    meta: dict[str, Any]
    weights: list[np.ndarray]  # latent (fan_in, fan_out); conv: the kernel as (C_in·kh·kw, C_out)
    biases: list[np.ndarray]

    @property
    def arch(self) -> list[dict[str, Any]] | None:
        """A CNN's layers (output included), None for an MLP checkpoint."""
        return self.meta.get("arch")

    @property
    def input_shape(self) -> tuple[int, int, int] | None:
        """A CNN's input (H, W, C), None for an MLP checkpoint."""
        shape = self.meta.get("input_shape")
        return None if shape is None else tuple(shape)

    @property
    def mode(self) -> str:
        return self.meta["mode"]

    @property
    def weight_bits(self) -> int:
        return int(self.meta["weight_bits"])

    def effective(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(integer weights, per-neuron scale) per layer, exactly as the trainer's forward."""
        from neurochip.train.ste import effective_weight_numpy

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
    cnn = "arch" in meta
    for key in ("mode", "weight_bits", "time_steps") + (("input_shape",) if cnn else ("layer_sizes",)):
        if key not in meta:
            raise CheckpointError(f"{path}: manifest key '{key}' is missing; re-create the "
                                  "checkpoint with `neurochip train` (it writes mode, "
                                  "weight_bits, time_steps and layer_sizes, and for a CNN "
                                  "arch and input_shape)")
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
    if cnn:
        return _check_cnn_meta(meta, path)
    sizes = meta["layer_sizes"]
    if not (isinstance(sizes, list) and len(sizes) >= 2
            and all(_is_int(s) and 1 <= s <= 1 << 15 for s in sizes)):
        raise CheckpointError(f"{path}: manifest key 'layer_sizes' is {sizes!r}; use a list of "
                              "at least two layer sizes in 1 … 32768 (inputs first)")
    return meta


def _check_cnn_meta(meta: dict[str, Any], path: Path | str) -> dict[str, Any]:
    """The manifest of a convolutional checkpoint: 'arch', 'input_shape', the mode, and
    'layer_sizes' (when present) consistent with them."""
    from neurochip.train.arch import ArchError, check_arch, stream_sizes

    try:
        check_arch(meta["arch"], meta["input_shape"], f"{path}: manifest key")
    except ArchError as exc:
        raise CheckpointError(f"{exc}; re-create the checkpoint with `neurochip train ste-bp "
                              "--arch ...`") from None
    if meta["mode"] != "discontinuous":
        raise CheckpointError(f"{path}: manifest key 'mode' is {meta['mode']!r}; a "
                              "convolutional checkpoint ('arch') is folded for discontinuous "
                              "integration only (retrain with --mode discontinuous)")
    sizes = stream_sizes(meta["arch"], tuple(meta["input_shape"]))
    if "layer_sizes" in meta and meta["layer_sizes"] != sizes:
        raise CheckpointError(f"{path}: manifest key 'layer_sizes' is {meta['layer_sizes']!r} "
                              f"but 'arch' and 'input_shape' give the stream sizes {sizes}")
    return meta


def _checkpoint_arrays(meta: dict[str, Any]) -> list[tuple[str, tuple[int, int]]]:
    """(array prefix, (fan_in, fan_out)) of every weight layer the manifest declares."""
    if "arch" in meta:
        from neurochip.train.arch import weighted_shapes

        return [(f"layer{i}", shape)
                for i, shape in weighted_shapes(meta["arch"], tuple(meta["input_shape"]))]
    sizes = meta["layer_sizes"]
    return [(f"layer{i}", (sizes[i], sizes[i + 1])) for i in range(len(sizes) - 1)]


def _check_cnn_arrays(path: Path | str, meta: dict[str, Any], prefix: str,
                      shape: tuple[int, int], w: Any, b: Any) -> None:
    """The arrays of the conv or fc layer at ``arch[i]`` (prefix ``layer{i}``): present and
    shaped as 'arch' and 'input_shape' imply."""
    i = int(prefix.removeprefix("layer"))
    kind = meta["arch"][i]["type"]
    for key, arr, want in ((f"{prefix}.weight", w, shape), (f"{prefix}.bias", b, shape[1:])):
        if not isinstance(arr, np.ndarray):
            raise CheckpointError(f"{path}: missing array '{key}' (of the {kind} layer "
                                  f"'arch[{i}]'); re-create the checkpoint with `neurochip "
                                  "train ste-bp --arch ...`")
        if arr.shape != want:
            what = ("(C_in·kh·kw, C_out), the kernel" if kind == "conv" else "(fan_in, fan_out)"
                    ) if key.endswith(".weight") else "(C_out,)" if kind == "conv" else "(fan_out,)"
            raise CheckpointError(f"{path}: array '{key}' has shape {arr.shape}; 'arch[{i}]' "
                                  f"({kind}) and 'input_shape' imply {want}, i.e. {what}")


def load_checkpoint(path: str | Path) -> FloatModel:
    """Read a float checkpoint without unpickling; reject missing or bad manifest keys,
    NaN/Inf and bad shapes with a :class:`CheckpointError` naming the key and the fix."""
    from neurochip.train.checkpoint import CheckpointFileError, read_checkpoint

    path = Path(path)
    try:
        meta, raw = read_checkpoint(path)
    except CheckpointFileError as exc:
        raise CheckpointError(str(exc)) from exc
    _check_meta(meta, path)
    weights, biases = [], []
    for prefix, shape in _checkpoint_arrays(meta):
        w, b = raw.get(f"{prefix}.weight"), raw.get(f"{prefix}.bias")
        if "arch" in meta:
            _check_cnn_arrays(path, meta, prefix, shape, w, b)
        else:
            i = int(prefix.removeprefix("layer"))
            if not (isinstance(w, np.ndarray) and isinstance(b, np.ndarray)):
                raise CheckpointError(f"{path}: missing array 'layer{i}.weight' or 'layer{i}.bias'")
            if w.shape != shape or b.shape != (shape[1],):
                raise CheckpointError(f"{path}: layer {i} arrays have shapes {w.shape}, {b.shape}; "
                                      f"'layer_sizes' implies {shape}")
        for key, arr in ((f"{prefix}.weight", w), (f"{prefix}.bias", b)):
            if arr.dtype.kind not in "iuf":
                raise CheckpointError(f"{path}: array '{key}' has dtype {arr.dtype}; it must "
                                      "hold real numbers (float32)")
            if not np.all(np.isfinite(arr)):
                raise CheckpointError(f"{path}: array '{key}' holds NaN or Inf; retrain (lower "
                                      "the learning rate) before quantizing")
        weights.append(w.astype(np.float32))
        biases.append(b.astype(np.float32))
    return FloatModel(meta, weights, biases)


def _check_scales(scale: np.ndarray, layer: int, unit: str = "neuron") -> None:
    """A per-neuron scale of 0 (all latent weights of a neuron 0 with 1-bit weights) or a
    non-finite one cannot be folded into a threshold (it would divide by zero). ``unit``:
    what a column is ("neuron", or "channel" for a convolution)."""
    bad = np.flatnonzero(~(np.isfinite(scale) & (scale > 0)))
    if bad.size:
        j = int(bad[0])
        why = f"column {j} is all zero" if scale[j] == 0 else "the weights overflow float32"
        more = f" ({bad.size - 1} more {unit}s likewise)" if bad.size > 1 else ""
        raise CheckpointError(
            f"array 'layer{layer}.weight', {unit} {j}: the per-{unit} weight scale is "
            f"{float(scale[j])!r} ({why}){more}, so its threshold cannot be folded "
            f"(division by zero); retrain, or give the {unit} non-zero finite weights, "
            "before quantizing")


def discontinuous_threshold(bias: float, scale: float) -> int:
    """θ = floor((1 − b) / scale) in exact rational arithmetic (b, scale are float32 values).

    Σ > θ ⟺ scale·Σ + b > 1 for every integer Σ, exactly in real numbers; a float64
    evaluation of the quotient can round onto the wrong side of an integer."""
    return math.floor((Fraction(THRESHOLD) - Fraction(float(bias))) / Fraction(float(scale)))


def quantize(model: FloatModel, name: str, lanes: int = 64, fifo_depth: int = 64,
             clock_hz: float = 100e6, seed: int = 1) -> CoreDescription:
    """Fold scales into integer thresholds/biases and pick non-saturating widths."""
    _check_meta(model.meta, "<checkpoint>")
    if model.arch is not None:
        return _quantize_cnn(model, name, lanes, fifo_depth, clock_hz, seed)
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
            bits = bits_for(reach + 1)
        else:
            scale = scale.astype(np.float64)
            threshold = np.rint(THRESHOLD / scale)
            bias_int = np.rint(bias.astype(np.float64) / scale)
            # V stays below θ + one step of input after a subtractive reset; without a
            # spike it can keep falling, so cover T steps of the most negative input too
            per_step = reach + np.abs(bias_int).max()
            bits = bits_for(T * per_step + np.abs(threshold).max())
            if bits > MAX_MEMBRANE_BITS:
                j = int(np.argmin(scale))
                raise CheckpointError(
                    f"layer {i}: continuous mode needs a {bits}-bit membrane (neuron {j} has "
                    f"weight scale {scale[j]:.3g}, so θ = round(1/scale) = {threshold[j]:.3g}); "
                    f"the chip allows at most {MAX_MEMBRANE_BITS} bits: retrain with larger "
                    "weights, fewer time steps or discontinuous integration")
        fan_in, fanout = ints.shape
        name_i = "out" if i == n_layers - 1 else f"fc{i + 1}"
        layers.append(chip_layer(
            {"type": "fc", "neurons": fanout}, name_i, prev_name, (fan_in,), (fanout,),
            CoreMapping(index=i, lanes=min(lanes, fanout) if i == n_layers - 1 else lanes,
                        fifo_depth=fifo_depth),
            neuron=LifNeuron(reset="subtract", leak="none", leak_amount=0,
                             integration=model.mode),
            weight=ints.astype(np.int64), threshold=threshold.astype(np.int64),
            bias=bias_int.astype(np.int64), weight_bits=model.weight_bits, membrane_bits=bits))
        prev_name = name_i
    size = model.weights[0].shape[0]
    side = int(round(math.sqrt(size)))
    shape = (side, side) if side * side == size else (size,)
    return CoreDescription(
        name=name, input_shape=shape, encoder=Encoder("bernoulli_lfsr", seed), time_steps=T,
        clock_hz=clock_hz, count_bits=max(1, int(T).bit_length()), layers=layers,
        provenance={"quantizer": "neurochip.quantize", "checkpoint": dict(model.meta)})


def _discontinuous_fold(ints: np.ndarray, scale: np.ndarray, bias: np.ndarray
                        ) -> tuple[np.ndarray, int]:
    """Per column: θ (clamped to the reachable Σ) and the membrane width that holds every
    reachable Σ, reach = Σ|W| of the column (the fold of :func:`quantize`)."""
    reach = int(np.abs(ints.astype(np.int64)).sum(axis=0).max())
    threshold = np.array([min(max(discontinuous_threshold(b, s), -reach - 1), reach)
                          for b, s in zip(bias.tolist(), scale.tolist())],
                         dtype=np.int64).reshape(scale.shape)
    return threshold, bits_for(reach + 1)


def _quantize_cnn(model: FloatModel, name: str, lanes: int, fifo_depth: int, clock_hz: float,
                  seed: int) -> CoreDescription:
    """A convolutional checkpoint as conv2d / pool / fc layers, one core each (§12)."""
    from neurochip.train.arch import check_arch, layer_names

    arch, in_shape = model.arch, model.input_shape
    shapes = check_arch(arch, in_shape, "<checkpoint>: manifest key")
    effective = iter(zip(model.effective(), model.biases))
    discontinuous = LifNeuron(reset="subtract", leak="none", leak_amount=0,
                              integration="discontinuous")
    layers: list[Layer] = []
    prev_name, shape = "input", tuple(in_shape)
    for i, (entry, name_i, out_shape) in enumerate(zip(arch, layer_names(arch), shapes)):
        kind = entry["type"]
        size_out = math.prod(out_shape)
        if kind == "pool":
            channels = shape[2]
            layer = chip_layer(
                entry, name_i, prev_name, shape, out_shape,
                CoreMapping(lanes=min(lanes, channels), index=i, fifo_depth=fifo_depth),
                neuron=LifNeuron(reset="zero", leak="none", leak_amount=0,
                                 integration="discontinuous"),
                threshold=np.zeros(channels, np.int64), bias=np.zeros(channels, np.int64))
        else:
            (ints, scale), bias = next(effective)
            _check_scales(scale, i, "channel" if kind == "conv" else "neuron")
            threshold, bits = _discontinuous_fold(ints, scale, bias)
            last = i == len(arch) - 1
            layer_lanes = (min(lanes, entry["channels"]) if kind == "conv"
                           else min(lanes, size_out) if last else lanes)
            layer = chip_layer(
                entry, name_i, prev_name, shape, out_shape,
                CoreMapping(lanes=layer_lanes, index=i, fifo_depth=fifo_depth),
                neuron=discontinuous, weight=ints.astype(np.int64), threshold=threshold,
                bias=np.zeros_like(threshold), weight_bits=model.weight_bits, membrane_bits=bits)
        layers.append(layer)
        prev_name, shape = layer.name, out_shape
    h, w, c = in_shape
    T = int(model.meta["time_steps"])
    return CoreDescription(
        name=name, input_shape=(h, w) if c == 1 else (h, w, c),
        encoder=Encoder("bernoulli_lfsr", seed), time_steps=T, clock_hz=clock_hz,
        count_bits=max(1, int(T).bit_length()), layers=layers,
        provenance={"quantizer": "neurochip.quantize", "checkpoint": dict(model.meta)})


def _conv_float(s: np.ndarray, w: np.ndarray, b: np.ndarray, kernel: int, pad: int
                ) -> np.ndarray:
    """x of a convolution in the chip's layout: s (n, H, W, C_in), w (C_in·k·k, C_out) with
    row (c·k + ky)·k + kx; returns (n, H_out, W_out, C_out) float32."""
    if pad:
        s = np.pad(s, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    win = np.lib.stride_tricks.sliding_window_view(s, (kernel, kernel), axis=(1, 2))
    n, ho, wo = win.shape[:3]  # win: (n, H_out, W_out, C_in, ky, kx)
    return (win.reshape(n * ho * wo, -1) @ w + b).reshape(n, ho, wo, -1)


def _pool_max(s: np.ndarray, window: int) -> np.ndarray:
    """Max over window×window blocks of (n, H, W, C), stride = window, ragged edge dropped."""
    n, h, w, c = s.shape
    ho, wo = h // window, w // window
    s = s[:, :ho * window, :wo * window]
    return s.reshape(n, ho, window, wo, window, c).max(axis=(2, 4))


def cnn_float_step(model: FloatModel, s: np.ndarray) -> np.ndarray:
    """One discontinuous time step of a float CNN checkpoint in float32, in the chip's
    layout: input spikes (n, P) in address order → the output layer's pre-threshold x."""
    arch = model.arch
    s = s.astype(np.float32).reshape(len(s), *model.input_shape)
    effective = iter(zip(model.effective(), model.biases))
    for i, entry in enumerate(arch):
        if entry["type"] == "pool":
            s = _pool_max(s, entry["window"])  # OR of binary spikes
            continue
        (ints, scale), b = next(effective)
        w = ints.astype(np.float32) * scale[None, :]
        if entry["type"] == "conv":
            x = _conv_float(s, w, b, entry["kernel"], entry["pad"])
        else:
            x = s.reshape(len(s), -1) @ w + b  # (H, W, C) flattened C-order = address order
        if i == len(arch) - 1:
            return x
        s = (x > THRESHOLD).astype(np.float32)
    raise AssertionError("unreachable: the last layer of 'arch' is fc")


def _float_counts_cnn(model: FloatModel, spikes: np.ndarray, chunk: int = 250) -> np.ndarray:
    """Output spike counts of the float CNN (discontinuous) on input spikes (n, T, P)."""
    n, T, _ = spikes.shape
    counts = np.zeros((n, model.arch[-1]["neurons"]), dtype=np.int64)
    for start in range(0, n, chunk):
        for t in range(T):
            x = cnn_float_step(model, spikes[start:start + chunk, t, :])
            counts[start:start + chunk] += x > THRESHOLD
    return counts


def float_predict(model: FloatModel, spikes: np.ndarray) -> np.ndarray:
    """Float model on the chip's exact input spikes ((n, T, P)): its spike-count prediction.

    Evaluated in float32 like the trainer's forward pass, so where ``scale·Σ + b`` lies
    within float32 rounding of the threshold it may decide differently from the chip,
    whose discontinuous fold is exact in real arithmetic (module docstring). A CNN
    checkpoint runs its convolutions, OR pooling and fc layers in the chip's layout."""
    if model.arch is not None:
        return np.argmax(_float_counts_cnn(model, spikes), axis=1)
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


class ReportDataError(ValueError):
    """``--data`` names a folder without a readable test split (CLI: one line, exit 2)."""


@dataclass
class ReportData:
    """The images the float-vs-chip report runs on, and how to name them."""

    images: np.ndarray
    labels: np.ndarray
    data: str  # names the data in the report line and in the provenance
    data_dir: str | None  # the folder read (absolute), None for the shipped sample
    split: str  # "test", or "shipped sample"


def _load_test_split(folder: Path) -> tuple[np.ndarray, np.ndarray, str]:
    from neurochip.datasets import load_split
    from neurochip.train.shell import split_fingerprint

    images, labels = load_split(folder, "test")
    return images, labels, split_fingerprint(images, labels)


def _test_split_data(images: np.ndarray, labels: np.ndarray, folder: Path) -> ReportData:
    where = str(folder.resolve())  # absolute: the provenance outlives the working directory
    return ReportData(images, labels, f"{where} test split", where, "test")


def _is_mnist(meta: dict[str, Any]) -> bool:
    return str(meta.get("dataset", "")).strip().lower() == "mnist"


def find_report_data(meta: dict[str, Any], data_dir: str | Path | None = None,
                     warn: Any = None) -> ReportData | None:
    """The test data the float-vs-chip report of a checkpoint runs on, or None.

    * ``data_dir`` given (``neurochip quantize --data``): its test split, or a
      :class:`ReportDataError` when it has none; a note when it differs from the test split
      the checkpoint records (``test_split_sha256``);
    * else the folder the checkpoint was trained on (manifest ``data_dir_resolved``, then
      ``data_dir`` as given, relative to the working directory), when it is readable and
      holds the recorded test split;
    * else the shipped MNIST sample, but only when the checkpoint's ``dataset`` is MNIST;
    * else None, after saying on ``warn`` (default: stderr) which folder was looked for.
    """
    import sys

    if warn is None:
        def warn(msg: str) -> None:
            print(msg, file=sys.stderr)
    recorded = meta.get("test_split_sha256")
    dataset = meta.get("dataset")
    if data_dir is not None:
        folder = Path(data_dir)
        try:
            images, labels, fingerprint = _load_test_split(folder)
        except (OSError, ValueError) as exc:
            raise ReportDataError(f"--data {data_dir}: no readable test split ({exc}); pass a "
                                  "folder holding t10k-images-idx3-ubyte[.gz] and "
                                  "t10k-labels-idx1-ubyte[.gz]") from exc
        if recorded and fingerprint != recorded:
            warn(f"note: --data {data_dir}: its test split is not the one the checkpoint was "
                 f"trained with (dataset {dataset!r}, {meta.get('data_dir', 'folder unknown')}); "
                 "reporting on it as asked")
        return _test_split_data(images, labels, folder)

    candidates: list[str] = []
    for key in ("data_dir_resolved", "data_dir"):
        value = meta.get(key)
        if isinstance(value, str) and value and value not in candidates:
            candidates.append(value)
    problems: list[str] = []
    for value in candidates:
        folder = Path(value)
        try:
            images, labels, fingerprint = _load_test_split(folder)
        except (OSError, ValueError) as exc:
            problems.append(str(exc))
            continue
        if recorded and fingerprint != recorded:
            problems.append(f"{folder} holds a different test split than the checkpoint was "
                            "trained with (test_split_sha256 differs)")
            continue
        return _test_split_data(images, labels, folder)

    looked = (" and ".join(candidates) if candidates
              else "nothing: the checkpoint does not record its data folder (manifest key "
                   "'data_dir')")
    why = f" ({'; '.join(problems)})" if problems else ""
    if _is_mnist(meta):
        from neurochip.datasets import load_sample

        if candidates:
            warn(f"note: the checkpoint's test data is not available here: looked for "
                 f"{looked}{why}; its dataset is MNIST, so reporting on the shipped MNIST "
                 "sample instead (pass --data DIR for its own test split)")
        images, labels = load_sample()
        return ReportData(images, labels, "shipped MNIST sample", None, "shipped sample")
    warn(f"note: no float-vs-chip accuracy report: no matching test data available for this "
         f"checkpoint (dataset {dataset!r}): looked for {looked}{why}; pass --data DIR "
         "holding its test split (t10k-*-ubyte[.gz]) to report on it")
    return None


def quantize_checkpoint(ckpt_path: str | Path, out_path: str | Path, lanes: int = 64,
                        fifo_depth: int = 64, clock_hz: float = 100e6,
                        report: bool = True, data_dir: str | Path | None = None
                        ) -> CoreDescription:
    """Quantize a checkpoint file, save the description, and report float vs quantized
    accuracy on the checkpoint's own test split (``data_dir``, else the folder its manifest
    records), on the shipped MNIST sample only for an MNIST checkpoint whose folder is not
    available, or not at all, saying so on stderr (:func:`find_report_data`).
    ``provenance["sample_accuracy"]`` holds the figures and names the data they are on."""
    import sys

    from neurochip import description

    model = load_checkpoint(ckpt_path)
    out_path = Path(out_path)
    name = out_path.name.removesuffix(".npz")
    desc = quantize(model, name, lanes=lanes, fifo_depth=fifo_depth, clock_hz=clock_hz)
    description.validate(desc, str(out_path))  # bad options fail here, before simulating
    if report:
        found = find_report_data(model.meta, data_dir)
        if found is not None:
            acc = compare_accuracy(model, desc, found.images, found.labels, data=found.data)
            # acc["data"] names the data ("<folder> test split" or "shipped MNIST sample");
            # no other keys, so re-quantizing an old MNIST checkpoint gives the same bytes
            desc.provenance["sample_accuracy"] = acc
            print(f"quantized {ckpt_path} -> {out_path}: float {acc['float']:.4f}, quantized "
                  f"{acc['quantized']:.4f} on {acc['images']} images ({acc['data']}; "
                  f"decisions agree on {acc['agreement']:.4f})", file=sys.stderr)
        else:
            print(f"quantized {ckpt_path} -> {out_path} (no accuracy report)", file=sys.stderr)
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
    quant_pred = simulate(desc, images, keep_state=False).predictions
    return {"images": int(len(images)), "data": data,
            "float": float(np.mean(float_pred == labels)),
            "quantized": float(np.mean(quant_pred == labels)),
            "agreement": float(np.mean(float_pred == quant_pred))}


def normalised_integers(weight: np.ndarray, bias: np.ndarray, weight_bits: int
                        ) -> tuple[np.ndarray, np.ndarray, int]:
    """A layer given as float weights and bias normalised to threshold 1 (ANN-to-SNN
    conversion, neurochip.convert) as integers (W, b, θ): one scale per layer,
    S = (2^(w−1) − 1) / max |W|, so the largest weight uses the whole w-bit range;
    W = round(W·S), b = round(b·S), θ = max(1, round(S))."""
    top = (1 << (weight_bits - 1)) - 1
    s = top / max(float(np.abs(weight).max(initial=0.0)), 1e-12)
    return (np.clip(np.rint(weight * s), -top - 1, top).astype(np.int64),
            np.rint(bias * s).astype(np.int64), int(max(1, round(s))))
