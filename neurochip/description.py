"""The core description: the fixed-point chip configuration stored in ``model.npz``.

One ``.npz`` holds a JSON manifest (key ``manifest``, UTF-8 bytes as uint8) and integer
arrays named ``<layer>.weight``, ``<layer>.threshold``, ``<layer>.bias``. The format is
documented in ``docs/core-description.md``; the meaning of every field in
``docs/architecture.md``. Loading never unpickles and validates everything, naming the
field and the fix in every error.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
import zipfile
from dataclasses import dataclass, field, asdict
from pathlib import Path
from typing import Any

import numpy as np

FORMAT_NAME = "neurochip-core-description"
FORMAT_VERSION = 1
MAX_ADDRESS = 1 << 15  # FIFO items carry a 15-bit address (§2)
MAX_ARRAY_BYTES = 1 << 30  # refuse anything larger than 1 GiB per array
MAX_CLOCK_HZ = 1e12  # clock_hz must lie in (0, MAX_CLOCK_HZ]
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1

ENCODERS = ("bernoulli_lfsr", "rate_deterministic", "latency")
RESETS = ("subtract", "zero")
LEAKS = ("none", "subtract", "shift")
INTEGRATIONS = ("continuous", "discontinuous")
OVERFLOWS = ("saturate", "wrap")


class DescriptionError(ValueError):
    """A core description is malformed; the message names the field and the fix."""


@dataclass(frozen=True)
class NeuronParams:
    """Neuron behaviour of one layer (§6)."""

    model: str = "lif"
    reset: str = "subtract"
    leak: str = "none"
    leak_amount: int = 0
    integration: str = "continuous"


@dataclass(frozen=True)
class CoreParams:
    """Mapping of one layer onto its core (§3)."""

    index: int
    lanes: int = 32
    fifo_depth: int = 64


@dataclass
class Layer:
    """One fully connected layer and its integer arrays."""

    name: str
    inputs: int
    neurons: int
    weight_bits: int
    membrane_bits: int
    overflow: str
    neuron: NeuronParams
    core: CoreParams
    weight: np.ndarray  # (inputs, neurons), signed integer values
    threshold: np.ndarray  # (neurons,)
    bias: np.ndarray  # (neurons,)
    kind: str = "dense"
    source: str = "input"

    @property
    def words(self) -> int:
        """K = ceil(N / L), the lane words of the core (§3)."""
        return -(-self.neurons // self.core.lanes)

    @property
    def weight_memory_bits(self) -> int:
        """Bits of weight SRAM including lane padding (§3)."""
        return self.inputs * self.words * self.core.lanes * self.weight_bits


@dataclass(frozen=True)
class Encoder:
    kind: str = "bernoulli_lfsr"
    seed: int = 1


@dataclass
class CoreDescription:
    """A whole chip configuration: input, encoder, layers, readout and clock."""

    name: str
    input_shape: tuple[int, ...]
    encoder: Encoder
    time_steps: int
    clock_hz: float
    count_bits: int
    layers: list[Layer]
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def input_size(self) -> int:
        return math.prod(self.input_shape)

    @property
    def classes(self) -> int:
        return self.layers[-1].neurons

    def manifest(self) -> dict[str, Any]:
        """The JSON manifest (everything except the arrays)."""
        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "name": self.name,
            "input": {"shape": list(self.input_shape),
                      "encoder": {"kind": self.encoder.kind, "seed": self.encoder.seed}},
            "time_steps": self.time_steps,
            "clock_hz": self.clock_hz,
            "readout": {"kind": "spike_count", "count_bits": self.count_bits,
                        "tie_break": "lowest_index"},
            "layers": [
                {"name": lay.name, "kind": lay.kind, "source": lay.source,
                 "inputs": lay.inputs, "neurons": lay.neurons,
                 "weight_bits": lay.weight_bits, "membrane_bits": lay.membrane_bits,
                 "overflow": lay.overflow, "neuron": asdict(lay.neuron),
                 "core": asdict(lay.core)}
                for lay in self.layers
            ],
            "provenance": self.provenance,
        }

    def arrays(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for lay in self.layers:
            out[f"{lay.name}.weight"] = lay.weight.astype(np.int8)  # 1..8-bit weights fit
            out[f"{lay.name}.threshold"] = lay.threshold.astype(np.int64)
            out[f"{lay.name}.bias"] = lay.bias.astype(np.int64)
        return out

    def content_hash(self) -> str:
        """SHA-256 over manifest and arrays: identifies the exact hardware configuration."""
        h = hashlib.sha256(json.dumps(self.manifest(), sort_keys=True).encode())
        for key, arr in sorted(self.arrays().items()):
            h.update(key.encode())
            h.update(np.ascontiguousarray(arr.astype(np.int64)).tobytes())
        return h.hexdigest()


# --------------------------------------------------------------------------- saving

def save(desc: CoreDescription, path: str | Path) -> None:
    """Validate, then write ``desc`` as a compressed ``.npz`` (no pickled objects)."""
    validate(desc)
    manifest = json.dumps(desc.manifest(), indent=1, sort_keys=True).encode("utf-8")
    arrays = {"manifest": np.frombuffer(manifest, dtype=np.uint8)}
    arrays.update(desc.arrays())
    path = Path(path)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    path.write_bytes(buf.getvalue())


# --------------------------------------------------------------------------- loading

def load(path: str | Path) -> CoreDescription:
    """Load and validate a core description; raise DescriptionError naming the problem."""
    path = Path(path)
    if not path.is_file():
        raise DescriptionError(f"{path}: no such file; pass the path of a model .npz "
                               "(for example models/ste-bp-mnist-default.npz)")
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    raise DescriptionError(
                        f"{path}: member {info.filename!r} is not a .npy array; every member "
                        "of a core description is '<array>.npy' (re-create the file with "
                        "`neurochip quantize` or neurochip.description.save)")
                if info.file_size > MAX_ARRAY_BYTES:
                    raise DescriptionError(
                        f"{path}: member {info.filename!r} would unpack to "
                        f"{info.file_size} bytes (limit {MAX_ARRAY_BYTES}); the file is "
                        "not a neurochip core description")
    except zipfile.BadZipFile as exc:
        raise DescriptionError(f"{path}: not an .npz (zip) archive ({exc}); write it with "
                               "`neurochip quantize` or neurochip.description.save") from exc
    try:
        with np.load(path, allow_pickle=False) as npz:
            raw = {key: npz[key] for key in npz.files}
    except ValueError as exc:
        raise DescriptionError(f"{path}: contains pickled objects or an unreadable array "
                               f"({exc}); only plain integer arrays are allowed") from exc
    except Exception as exc:  # corrupt members, truncated data, bad headers
        raise DescriptionError(f"{path}: unreadable .npz member ({exc}); re-create the "
                               "file with `neurochip quantize`") from exc
    return from_arrays(raw, origin=str(path))


def from_arrays(raw: dict[str, np.ndarray], origin: str = "<arrays>") -> CoreDescription:
    """Build and validate a description from the raw ``npz`` contents."""
    for key, arr in raw.items():
        if not isinstance(arr, np.ndarray):
            raise DescriptionError(f"{origin}: member {key!r} is {type(arr).__name__}, not a "
                                   "NumPy array; every member must be a '.npy' array")
    if "manifest" not in raw:
        raise DescriptionError(f"{origin}: missing the 'manifest' array; this is not a "
                               "neurochip core description")
    m_arr = raw["manifest"]
    if m_arr.dtype != np.uint8 or m_arr.ndim != 1:
        raise DescriptionError(f"{origin}: 'manifest' must be a 1-D uint8 array of UTF-8 "
                               f"JSON, got {m_arr.dtype} with shape {m_arr.shape}")
    try:
        manifest = json.loads(m_arr.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        # ValueError covers JSONDecodeError and integers longer than Python's digit limit
        raise DescriptionError(f"{origin}: 'manifest' is not valid UTF-8 JSON ({exc})") from exc
    desc = _parse_manifest(manifest, raw, origin)
    expected = {"manifest"} | set(desc.arrays())
    unknown = sorted(set(raw) - expected)
    if unknown:
        raise DescriptionError(f"{origin}: unexpected arrays {unknown}; every array must "
                               "belong to a layer of the manifest (remove them)")
    validate(desc, origin)
    return desc


class _Reader:
    """Typed access to a JSON object that reports the dotted field path on errors."""

    def __init__(self, obj: Any, where: str, origin: str):
        if not isinstance(obj, dict):
            raise DescriptionError(f"{origin}: field '{where}' must be a JSON object")
        self.obj, self.where, self.origin = obj, where, origin

    def _path(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        if key not in self.obj:
            if default is ...:
                raise DescriptionError(f"{self.origin}: missing field '{self._path(key)}'")
            return default
        val = self.obj[key]
        ok = isinstance(val, kind) and not (isinstance(val, bool) and kind in (int, float, (int, float)))
        if not ok:
            raise DescriptionError(f"{self.origin}: field '{self._path(key)}' must be "
                                   f"{_kind_name(kind)}, got {_short(val)}")
        return val

    def choice(self, key: str, options: tuple[str, ...], default: Any = ...) -> str:
        val = self.get(key, str, default)
        if val not in options:
            raise DescriptionError(f"{self.origin}: field '{self._path(key)}' is {_short(val)}; "
                                   f"use one of {list(options)}")
        return val

    def integer(self, key: str, lo: int, hi: int, default: Any = ...) -> int:
        val = self.get(key, int, default)
        if not lo <= val <= hi:
            raise DescriptionError(f"{self.origin}: field '{self._path(key)}' = {_short(val)} "
                                   f"is out of range; use {lo} … {hi}")
        return val

    def number(self, key: str, lo: float, hi: float, default: Any = ...) -> float:
        """A finite number in (lo, hi]; JSON integers of any size, NaN and ±Infinity are
        compared exactly (no float conversion before the check), so they cannot overflow."""
        val = self.get(key, (int, float), default)
        if not (lo < val <= hi):  # False for NaN
            what = "not a number" if val != val else "out of range"
            raise DescriptionError(f"{self.origin}: field '{self._path(key)}' = {_short(val)} "
                                   f"is {what}; use a finite number > {lo:g} and <= {hi:g}")
        return float(val)

    def sub(self, key: str, default: Any = ...) -> "_Reader":
        return _Reader(self.get(key, dict, default), self._path(key), self.origin)


def _short(val: Any) -> str:
    """repr of a manifest value, shortened (a JSON integer may have thousands of digits)."""
    try:
        text = repr(val)
    except ValueError:  # an integer beyond Python's int-to-str digit limit
        return "<huge integer>"
    return text if len(text) <= 60 else text[:57] + "..."


def _as_int64(arr: np.ndarray, key: str, origin: str) -> np.ndarray:
    """``arr`` as int64, refusing values a cast would wrap (uint64 above 2^63 − 1).

    The range is checked on the original dtype, so no value changes silently; the
    bit-width check of :func:`validate` then sees the true values."""
    if arr.dtype.kind == "u" and arr.dtype.itemsize >= 8 and arr.size and arr.max() > INT64_MAX:
        bad = int(arr[arr > INT64_MAX].ravel()[0])
        raise DescriptionError(f"{origin}: array '{key}' holds {bad}, which does not fit a "
                               "signed 64-bit integer (let alone the layer's bit width); "
                               "store signed values within the declared bits or re-quantize")
    return arr.astype(np.int64)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {int: "an integer", float: "a number", str: "a string", dict: "an object",
             list: "a list"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _parse_manifest(manifest: Any, raw: dict[str, np.ndarray], origin: str) -> CoreDescription:
    top = _Reader(manifest, "", origin)
    fmt = top.get("format", str)
    if fmt != FORMAT_NAME:
        raise DescriptionError(f"{origin}: field 'format' is {_short(fmt)}, expected {FORMAT_NAME!r}")
    version = top.get("version", int)
    if version != FORMAT_VERSION:
        raise DescriptionError(f"{origin}: field 'version' is {_short(version)}; this neurochip reads "
                               f"version {FORMAT_VERSION} only (upgrade neurochip or re-export "
                               "the model)")
    inp = top.sub("input")
    shape = inp.get("shape", list)
    if not shape or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape):
        raise DescriptionError(f"{origin}: field 'input.shape' must be a non-empty list of "
                               f"positive integers, got {_short(shape)}")
    enc = inp.sub("encoder")
    encoder = Encoder(kind=enc.choice("kind", ENCODERS),
                      seed=enc.integer("seed", 0, 2**32 - 1, 1))
    readout = top.sub("readout")
    readout.choice("kind", ("spike_count",))
    readout.choice("tie_break", ("lowest_index",))
    clock = top.number("clock_hz", 0, MAX_CLOCK_HZ)
    layers_json = top.get("layers", list)
    if not layers_json:
        raise DescriptionError(f"{origin}: field 'layers' is empty; a model needs at least "
                               "one layer")
    layers = [_parse_layer(lj, i, raw, origin) for i, lj in enumerate(layers_json)]
    provenance = top.get("provenance", dict, {})
    return CoreDescription(
        name=top.get("name", str),
        input_shape=tuple(shape),
        encoder=encoder,
        time_steps=top.integer("time_steps", 1, 4096),
        clock_hz=clock,
        count_bits=readout.integer("count_bits", 1, 32),
        layers=layers,
        provenance=provenance,
    )


def _parse_layer(obj: Any, i: int, raw: dict[str, np.ndarray], origin: str) -> Layer:
    lay = _Reader(obj, f"layers[{i}]", origin)
    name = lay.get("name", str)
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,31}", name):
        raise DescriptionError(f"{origin}: field 'layers[{i}].name' = {name!r}; use 1-32 "
                               "lower-case letters, digits or '_' starting with a letter")
    lay.choice("kind", ("dense",))
    neuron = lay.sub("neuron")
    core = lay.sub("core")
    arrays = {}
    for part in ("weight", "threshold", "bias"):
        key = f"{name}.{part}"
        if key not in raw:
            raise DescriptionError(f"{origin}: missing array '{key}' for layer {name!r}")
        arr = raw[key]
        if arr.dtype.kind not in "iu":
            raise DescriptionError(f"{origin}: array '{key}' has dtype {arr.dtype}; it must "
                                   "hold integers (quantize the model with `neurochip "
                                   "quantize` first)")
        arrays[part] = _as_int64(arr, key, origin)
    return Layer(
        name=name,
        kind="dense",
        source=lay.get("source", str),
        inputs=lay.integer("inputs", 1, MAX_ADDRESS),
        neurons=lay.integer("neurons", 1, MAX_ADDRESS),
        weight_bits=lay.integer("weight_bits", 1, 8),
        membrane_bits=lay.integer("membrane_bits", 2, 32),
        overflow=lay.choice("overflow", OVERFLOWS),
        neuron=NeuronParams(
            model=neuron.choice("model", ("lif",)),
            reset=neuron.choice("reset", RESETS),
            leak=neuron.choice("leak", LEAKS),
            leak_amount=neuron.integer("leak_amount", 0, 2**31 - 1),
            integration=neuron.choice("integration", INTEGRATIONS),
        ),
        core=CoreParams(
            index=core.integer("index", 0, 1023),
            lanes=core.integer("lanes", 1, 256),
            fifo_depth=core.integer("fifo_depth", 1, 65536),
        ),
        weight=arrays["weight"],
        threshold=arrays["threshold"],
        bias=arrays["bias"],
    )


# --------------------------------------------------------------------------- validation

def weight_range(bits: int) -> tuple[int, int]:
    """Representable signed weight values (§2); 1 bit means {-1, +1}."""
    if bits == 1:
        return -1, 1
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def signed_range(bits: int) -> tuple[int, int]:
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def validate(desc: CoreDescription, origin: str = "<description>") -> None:
    """Check every cross-field rule of the spec; raise DescriptionError on the first."""
    if not 1 <= desc.time_steps <= 4096:
        raise DescriptionError(f"{origin}: field 'time_steps' = {desc.time_steps}; use 1 … 4096")
    if not 1 <= desc.count_bits <= 32:
        raise DescriptionError(f"{origin}: field 'readout.count_bits' = {desc.count_bits}; "
                               "use 1 … 32")
    clock = desc.clock_hz
    if (isinstance(clock, bool) or not isinstance(clock, (int, float, np.integer, np.floating))
            or not 0 < clock <= MAX_CLOCK_HZ):  # exact comparisons: no float overflow, NaN fails
        raise DescriptionError(f"{origin}: field 'clock_hz' = {_short(clock)}; use a finite "
                               f"frequency in Hz > 0 and <= {MAX_CLOCK_HZ:g}")
    if desc.input_size > MAX_ADDRESS:
        raise DescriptionError(f"{origin}: field 'input.shape' has {_short(desc.input_size)} inputs; "
                               f"the event format addresses at most {MAX_ADDRESS}")
    names = set()
    prev_size, prev_name = desc.input_size, "input"
    for i, lay in enumerate(desc.layers):
        where = f"layers[{i}]"
        if lay.name in names:
            raise DescriptionError(f"{origin}: field '{where}.name' = {lay.name!r} is used "
                                   "twice; layer names must be unique")
        names.add(lay.name)
        if lay.source != prev_name:
            raise DescriptionError(f"{origin}: field '{where}.source' is {lay.source!r}; in "
                                   f"format v1 layers form a chain, so use {prev_name!r}")
        if lay.inputs != prev_size:
            raise DescriptionError(f"{origin}: field '{where}.inputs' = {lay.inputs} but the "
                                   f"previous stage ({prev_name}) has {prev_size} outputs")
        if not (1 <= lay.core.lanes <= 256 and 1 <= lay.core.fifo_depth <= 65536):
            raise DescriptionError(f"{origin}: field '{where}.core' has lanes = {lay.core.lanes}, "
                                   f"fifo_depth = {lay.core.fifo_depth}; use lanes 1 … 256 and "
                                   "fifo_depth 1 … 65536")
        if not (1 <= lay.weight_bits <= 8 and 2 <= lay.membrane_bits <= 32):
            raise DescriptionError(f"{origin}: field '{where}' has weight_bits = "
                                   f"{lay.weight_bits}, membrane_bits = {lay.membrane_bits}; use "
                                   "weight_bits 1 … 8 and membrane_bits 2 … 32")
        if lay.core.index != i:
            raise DescriptionError(f"{origin}: field '{where}.core.index' = {lay.core.index}; "
                                   f"v1 maps layer i to core i, so use {i}")
        _check_array(origin, f"{lay.name}.weight", lay.weight, (lay.inputs, lay.neurons))
        _check_array(origin, f"{lay.name}.threshold", lay.threshold, (lay.neurons,))
        _check_array(origin, f"{lay.name}.bias", lay.bias, (lay.neurons,))
        lo, hi = weight_range(lay.weight_bits)
        _check_values(origin, f"{lay.name}.weight", lay.weight, lo, hi,
                      f"{where}.weight_bits = {lay.weight_bits}")
        if lay.weight_bits == 1 and np.any(lay.weight == 0):
            raise DescriptionError(f"{origin}: array '{lay.name}.weight' holds 0 but "
                                   f"'{where}.weight_bits' = 1 stores only -1/+1; use "
                                   "weight_bits >= 2 for ternary weights")
        lo, hi = signed_range(lay.membrane_bits)
        for part, arr in (("threshold", lay.threshold), ("bias", lay.bias)):
            _check_values(origin, f"{lay.name}.{part}", arr, lo, hi,
                          f"{where}.membrane_bits = {lay.membrane_bits}")
        if lay.neuron.leak == "subtract" and not 0 <= lay.neuron.leak_amount <= hi:
            raise DescriptionError(f"{origin}: field '{where}.neuron.leak_amount' = "
                                   f"{lay.neuron.leak_amount}; a subtractive leak must be in "
                                   f"0 … {hi} for membrane_bits = {lay.membrane_bits}")
        if lay.neuron.leak == "shift" and not 1 <= lay.neuron.leak_amount <= lay.membrane_bits - 1:
            raise DescriptionError(f"{origin}: field '{where}.neuron.leak_amount' = "
                                   f"{lay.neuron.leak_amount}; a shift leak must be in "
                                   f"1 … {lay.membrane_bits - 1}")
        prev_size, prev_name = lay.neurons, lay.name


def _check_array(origin: str, key: str, arr: np.ndarray, shape: tuple[int, ...]) -> None:
    if arr.shape != shape:
        raise DescriptionError(f"{origin}: array '{key}' has shape {arr.shape}, the manifest "
                               f"implies {shape}; fix the layer sizes or the array")


def _check_values(origin: str, key: str, arr: np.ndarray, lo: int, hi: int, why: str) -> None:
    if arr.size and (arr.min() < lo or arr.max() > hi):
        bad = arr[(arr < lo) | (arr > hi)].ravel()[0]
        raise DescriptionError(f"{origin}: array '{key}' holds {int(bad)}, outside {lo} … {hi} "
                               f"allowed by {why}; widen the bit width or re-quantize")
