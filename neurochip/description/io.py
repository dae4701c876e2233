"""Reading and writing ``model.npz``: a JSON manifest (key ``manifest``, UTF-8 bytes as
uint8) and integer arrays ``<layer>.<array>``. Loading never unpickles and validates
everything, naming the field and the fix in every error (docs/core-description.md)."""

from __future__ import annotations

import io
import json
import math
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from neurochip.description.fields import DescriptionError, Reader, short
from neurochip.description.model import (FORMAT_NAME, FORMAT_VERSION, INT64_MAX,
                                         MAX_ARRAY_BYTES, MAX_DESCRIPTION_BYTES,
                                         MAX_MANIFEST_BYTES, CoreDescription, CoreMapping,
                                         Encoder, Layer, array_shapes)
from neurochip.description.rules import validate
from neurochip.npz import ZIP_ERRORS, NpzError, member_sizes, read_member
from neurochip.description.schema import LAYER_FIELDS, TOP_FIELDS

_TOP = {f.path: f for f in TOP_FIELDS}
_LAYER = {f.path: f for f in LAYER_FIELDS}


def description_files(folder: str | Path) -> list[Path]:
    """The core descriptions in ``folder`` (``*.npz``), sorted by name: not the trainers'
    float checkpoints (``*.ckpt.npz``) that a training run writes beside its model."""
    return sorted(p for p in Path(folder).glob("*.npz") if not p.name.endswith(".ckpt.npz"))


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


def load(path: str | Path) -> CoreDescription:
    """Load and validate a core description; raise DescriptionError naming the problem.

    Memory is bounded by what the file declares, and the declarations are bounded: the
    member names and sizes of the zip directory are checked first, then the manifest is
    read and parsed, the arrays it implies are checked against the members (names, the
    shape in each ``.npy`` header, :data:`MAX_DESCRIPTION_BYTES` in all), and only then
    are the arrays read."""
    path = Path(path)
    origin = str(path)
    if not path.is_file():
        raise DescriptionError(f"{path}: no such file; pass the path of a model .npz "
                               "(for example models/ste-bp-mnist-default.npz)")
    try:
        with zipfile.ZipFile(path) as zf:
            members = _member_sizes(zf, origin)
            manifest = _decode_manifest(_read_member(zf, "manifest", None, origin), origin)
            desc = _parse_manifest(manifest, origin)
            shapes = _declared_arrays(desc, set(members), origin)
            raw = {key: _read_member(zf, key, shape, origin) for key, shape in shapes.items()}
    except ZIP_ERRORS as exc:
        raise DescriptionError(f"{path}: not an .npz (zip) archive ({exc}); write it with "
                               "`neurochip quantize` or neurochip.description.save") from exc
    return _attach_arrays(desc, raw, origin)


def from_arrays(raw: dict[str, np.ndarray], origin: str = "<arrays>") -> CoreDescription:
    """Build and validate a description from the raw ``npz`` contents."""
    for key, arr in raw.items():
        if not isinstance(arr, np.ndarray):
            raise DescriptionError(f"{origin}: member {key!r} is {type(arr).__name__}, not a "
                                   "NumPy array; every member must be a '.npy' array")
    if "manifest" not in raw:
        raise DescriptionError(f"{origin}: missing the 'manifest' array; this is not a "
                               "neurochip core description")
    desc = _parse_manifest(_decode_manifest(raw["manifest"], origin), origin)
    _declared_arrays(desc, set(raw), origin)
    return _attach_arrays(desc, raw, origin)


def _member_sizes(zf: zipfile.ZipFile, origin: str) -> dict[str, int]:
    """Array name → unpacked size of every member, from the zip directory alone: each must
    be ``<array>.npy`` of at most MAX_ARRAY_BYTES (the manifest of MAX_MANIFEST_BYTES)."""
    try:
        sizes = member_sizes(zf, origin, MAX_DESCRIPTION_BYTES + MAX_MANIFEST_BYTES)
    except NpzError as exc:
        raise DescriptionError(f"{exc}; re-create the file with `neurochip quantize` or "
                               "neurochip.description.save") from None
    for key, size in sizes.items():
        limit = MAX_MANIFEST_BYTES if key == "manifest" else MAX_ARRAY_BYTES
        if size > limit:
            raise DescriptionError(f"{origin}: member '{key}.npy' would unpack to {size} bytes "
                                   f"(limit {limit}); the file is not a neurochip core description")
    if "manifest" not in sizes:
        raise DescriptionError(f"{origin}: missing the 'manifest' array; this is not a "
                               "neurochip core description")
    return sizes


def _read_member(zf: zipfile.ZipFile, key: str, shape: tuple[int, ...] | None,
                 origin: str) -> np.ndarray:
    """One member, never more values than ``shape`` (what the manifest implies) holds; a
    smaller array is read so that :func:`validate` can name the field that disagrees."""
    try:
        arr = read_member(zf, key, origin, None if shape is None else math.prod(shape))
    except NpzError as exc:
        raise DescriptionError(f"{exc}; re-create the file with `neurochip quantize`") from None
    return arr


def _decode_manifest(m_arr: np.ndarray, origin: str) -> Any:
    if m_arr.dtype != np.uint8 or m_arr.ndim != 1:
        raise DescriptionError(f"{origin}: 'manifest' must be a 1-D uint8 array of UTF-8 "
                               f"JSON, got {m_arr.dtype} with shape {m_arr.shape}")
    if m_arr.size > MAX_MANIFEST_BYTES:
        raise DescriptionError(f"{origin}: 'manifest' has {m_arr.size} bytes (limit "
                               f"{MAX_MANIFEST_BYTES}); this is not a neurochip core description")
    try:
        return json.loads(m_arr.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        # ValueError covers JSONDecodeError and integers longer than Python's digit limit
        raise DescriptionError(f"{origin}: 'manifest' is not valid UTF-8 JSON ({exc})") from exc


def _declared_arrays(desc: CoreDescription, present: set[str],
                     origin: str) -> dict[str, tuple[int, ...]]:
    """The arrays the manifest implies (name → shape), once their names match ``present``
    exactly and their total size in memory is within MAX_DESCRIPTION_BYTES."""
    shapes = {f"{lay.name}.{part}": shape for lay in desc.layers
              for part, shape in array_shapes(lay).items()}
    unknown = sorted(present - set(shapes) - {"manifest"})
    if unknown:
        raise DescriptionError(f"{origin}: unexpected arrays {unknown}; every array must "
                               "belong to a layer of the manifest (remove them)")
    missing = [key for key in shapes if key not in present]
    if missing:
        raise DescriptionError(f"{origin}: missing array '{missing[0]}' for layer "
                               f"{missing[0].split('.')[0]!r}")
    values = sum(math.prod(shape) for shape in shapes.values())
    if values * 8 > MAX_DESCRIPTION_BYTES:
        raise DescriptionError(f"{origin}: the manifest declares {values} array values "
                               f"({values * 8} bytes as int64), more than the "
                               f"{MAX_DESCRIPTION_BYTES} bytes a description may hold; no chip "
                               "of this format has that much memory (reduce the layer sizes)")
    return shapes


def _attach_arrays(desc: CoreDescription, raw: dict[str, np.ndarray],
                   origin: str) -> CoreDescription:
    """Every layer's arrays as int64 (integers only), then the whole description validated."""
    for lay in desc.layers:
        for part in array_shapes(lay):
            key = f"{lay.name}.{part}"
            arr = raw[key]
            if arr.dtype.kind not in "iu":
                raise DescriptionError(f"{origin}: array '{key}' has dtype {arr.dtype}; it must "
                                       "hold integers (quantize the model with `neurochip "
                                       "quantize` first)")
            setattr(lay, part, _as_int64(arr, key, origin))
    validate(desc, origin)
    return desc


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


def _parse_manifest(manifest: Any, origin: str) -> CoreDescription:
    top = Reader(manifest, "", origin)
    fmt = top.get("format", str)
    if fmt != FORMAT_NAME:
        raise DescriptionError(f"{origin}: field 'format' is {short(fmt)}, expected {FORMAT_NAME!r}")
    version = top.get("version", int)
    if version != FORMAT_VERSION:
        raise DescriptionError(f"{origin}: field 'version' is {short(version)}; this neurochip reads "
                               f"version {FORMAT_VERSION} only (upgrade neurochip or re-export "
                               "the model)")
    shape = _TOP["input.shape"].read(top)
    if not 1 <= len(shape) <= 3 or not all(isinstance(s, int) and not isinstance(s, bool)
                                           and s > 0 for s in shape):
        raise DescriptionError(f"{origin}: field 'input.shape' must be a list of 1 to 3 "
                               f"positive integers ([P], [H, W] or [H, W, C]), got {short(shape)}")
    encoder = Encoder(kind=_TOP["input.encoder.kind"].read(top),
                      seed=_TOP["input.encoder.seed"].read(top))
    _TOP["readout.kind"].read(top)
    _TOP["readout.tie_break"].read(top)
    clock = _TOP["clock_hz"].read(top)
    layers_json = top.get("layers", list)
    if not layers_json:
        raise DescriptionError(f"{origin}: field 'layers' is empty; a model needs at least "
                               "one layer")
    readers = [Reader(lj, f"layers[{i}]", origin) for i, lj in enumerate(layers_json)]
    layers = [_parse_layer(lay, i, origin) for i, lay in enumerate(readers)]
    desc = CoreDescription(
        name=_TOP["name"].read(top),
        input_shape=tuple(shape),
        encoder=encoder,
        time_steps=_TOP["time_steps"].read(top),
        clock_hz=clock,
        count_bits=_TOP["readout.count_bits"].read(top),
        layers=layers,
        provenance=_TOP["provenance"].read(top),  # free-form: its keys are not checked
    )
    for reader in (top, *readers):
        reader.refuse_unread()
    return desc


def _read_source(lay: Reader, i: int, origin: str) -> str | tuple[str, ...]:
    """``source``: a layer name or ``input``, or a list of them in drain order (add)."""
    val = lay.get("source", (str, list))
    if isinstance(val, list):
        if not val or not all(isinstance(v, str) for v in val):
            raise DescriptionError(f"{origin}: field 'layers[{i}].source' is {short(val)}; use "
                                   "a layer name, 'input', or a non-empty list of names")
        return tuple(val)
    return val


def _parse_layer(lay: Reader, i: int, origin: str) -> Layer:
    from neurochip.kinds import KINDS, get_kind
    from neurochip.neurons import MODELS, get_model

    name = lay.get("name", str)
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,31}", name):
        raise DescriptionError(f"{origin}: field 'layers[{i}].name' = {name!r}; use 1-32 "
                               "lower-case letters, digits or '_' starting with a letter")
    kind_name = lay.get("kind", str)
    try:
        kind = get_kind(kind_name)
    except DescriptionError:
        raise DescriptionError(f"{origin}: field 'layers[{i}].kind' is {short(kind_name)}; use "
                               f"one of {sorted(KINDS)}") from None
    neuron = lay.sub("neuron")
    model = get_model(neuron.choice("model", tuple(sorted(MODELS))))
    layer = Layer(
        name=name,
        kind=kind.name,  # a v1 alias ('dense') loads as the kind it names ('fc')
        source=_read_source(lay, i, origin),
        **kind.parse(lay),
        weight_bits=_LAYER["weight_bits"].read(lay),
        membrane_bits=_LAYER["membrane_bits"].read(lay),
        overflow=_LAYER["overflow"].read(lay),
        neuron=model.parse(neuron),
        core=CoreMapping(index=_LAYER["core.index"].read(lay), lanes=_LAYER["core.lanes"].read(lay),
                         fifo_depth=_LAYER["core.fifo_depth"].read(lay)),
        weight=np.zeros(0), threshold=np.zeros(0), bias=np.zeros(0),
    )
    return layer
