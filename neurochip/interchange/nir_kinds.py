"""One NIR export entry and one import entry per layer kind (``KIND_NIR``, registered in
``neurochip/backends.py``).

Layouts: NIR (like torch) lays maps out as (C, H, W); the chip as (H, W, C) with address
(y·W + x)·C + c (§3). An ``fc`` that reads a map therefore follows a ``nir.Flatten``
(channel-major) and its weight columns are permuted accordingly; a ``conv2d`` kernel row
(c·kh + ky)·kw + kx is NIR's ``weight[:, c, ky, kx]``. The float weights a foreign graph
brings are returned in the chip's layout; the importer quantizes them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from neurochip.interchange.nir_io import NirError, floats

Shape = tuple[int, int, int]


def chw_permutation(shape: Shape) -> np.ndarray:
    """perm[a] = the channel-major (C, H, W) flat index of chip address a of ``shape``."""
    h, w, c = shape
    y, x, ch = np.meshgrid(np.arange(h), np.arange(w), np.arange(c), indexing="ij")
    return (ch * h * w + y * w + x).reshape(-1)


def to_chw(values: np.ndarray, shape: Shape) -> np.ndarray:
    """Per-neuron values in chip address order → (C, H, W)."""
    h, w, c = shape
    return np.asarray(values).reshape(h, w, c).transpose(2, 0, 1)


def per_channel(values: np.ndarray, shape: Shape) -> np.ndarray:
    """Per-neuron (C, H, W) parameters → one per channel (all positions must agree)."""
    arr = np.asarray(values, dtype=np.float64)
    c = shape[2]
    if arr.size == 1:
        return np.full(c, float(arr.reshape(-1)[0]))
    if arr.size == c:
        return arr.reshape(-1)
    arr = arr.reshape(c, -1)
    if not np.all(arr == arr[:, :1]):
        raise ValueError("varies across positions of a channel")
    return arr[:, 0]


@dataclass
class FloatLayer:
    """A layer as a foreign graph gives it, in the chip's layout, before quantization."""

    kind: str
    geometry: dict[str, Any]
    inputs: int
    neurons: int
    out_shape: Shape
    weight: np.ndarray | None  # float, chip layout (None: pool, implicit unit weight)
    bias: np.ndarray  # float per channel
    unit: np.ndarray | None = None  # pool: the float value of the implicit weight 1, per channel
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class NirKind:
    """How one layer kind goes to NIR (``export``), comes back from a neurochip-exported
    file exactly (``read_back``), and is recognised in a foreign graph (``from_foreign``)."""

    export: Callable[..., tuple[dict[str, Any], list[tuple[str, str]], str]]
    read_back: Callable[..., tuple[np.ndarray | None, np.ndarray]]
    from_foreign: Callable[..., FloatLayer]
    nir_types: tuple[str, ...]


# ---------------------------------------------------------------- export helpers
def _fc_export(nir, lay, src: str, src_map: Shape | None, names: dict[str, str]):
    """Affine (neurons, inputs) fed by ``src``, through a Flatten when ``src`` is a map."""
    weight = lay.weight.T.astype(np.float64)  # (N, inputs) in chip address order
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    if src_map is not None:
        perm = chw_permutation(src_map)
        permuted = np.zeros_like(weight)
        permuted[:, perm] = weight
        weight = permuted
        h, w, c = src_map
        nodes[names["flatten"]] = nir.Flatten(input_type={"input": np.array([c, h, w])},
                                              start_dim=0, end_dim=-1)
        edges += [(src, names["flatten"])]
        src = names["flatten"]
    nodes[names["synapse"]] = nir.Affine(weight=weight, bias=lay.bias.astype(np.float64))
    edges.append((src, names["synapse"]))
    return nodes, edges, names["synapse"]


def _conv_export(nir, lay, src: str, src_map: Shape | None, names: dict[str, str]):
    g = lay.geometry
    h, w, cin = g["in_shape"]
    kh, kw = g["kernel"]
    kernel = lay.weight.reshape(cin, kh, kw, g["channels"]).transpose(3, 0, 1, 2)
    node = nir.Conv2d(input_shape=(h, w), weight=kernel.astype(np.float64),
                      stride=(g["stride"], g["stride"]), padding=(g["pad"], g["pad"]),
                      dilation=(1, 1), groups=1, bias=lay.bias.astype(np.float64))
    return {names["synapse"]: node}, [(src, names["synapse"])], names["synapse"]


def _pool_export(nir, lay, src: str, src_map: Shape | None, names: dict[str, str]):
    g = lay.geometry
    p, s = g["window"], g["stride"]
    node = nir.SumPool2d(kernel_size=np.array([p, p]), stride=np.array([s, s]),
                         padding=np.array([0, 0]))
    h, w, c = g["in_shape"]
    node.input_type = {"input": np.array([c, h, w])}
    return {names["synapse"]: node}, [(src, names["synapse"])], names["synapse"]


def _add_export(nir, lay, srcs: list[str], src_map, names: dict[str, str]):
    """One Scale node per source (the per-channel gain tiled over positions); both feed the
    neuron node, whose two incoming edges NIR sums."""
    h, w, c = lay.geometry["in_shape"]
    nodes, edges = {}, []
    for s, src in enumerate(srcs):
        gain = np.broadcast_to(lay.weight[s].astype(np.float64)[:, None, None], (c, h, w))
        nodes[names[f"gain{s}"]] = nir.Scale(scale=np.ascontiguousarray(gain))
        edges.append((src, names[f"gain{s}"]))
    return nodes, edges, [names["gain0"], names["gain1"]]


# ---------------------------------------------------------------- read-back helpers
def _exact_ints(arr: np.ndarray, what: str, origin: str) -> np.ndarray:
    arr = np.asarray(arr, dtype=np.float64)
    if not np.all(np.isfinite(arr)) or not np.array_equal(arr, np.rint(arr)):
        raise NirError(f"{origin}: {what} holds non-integer values but the node carries "
                       "neurochip metadata (exact chip values); remove the 'neurochip' "
                       "metadata to import it as a foreign float graph (quantized)")
    if np.abs(arr).max(initial=0) > 2**62:
        raise NirError(f"{origin}: {what} holds values beyond int64; not a chip description")
    return np.rint(arr).astype(np.int64)


def _fc_back(g, entry, names, origin):
    node = g.nodes[names["synapse"]]
    weight = _exact_ints(floats(node, "weight", names["synapse"], origin),
                         f"node {names['synapse']!r} weight", origin)
    if names.get("flatten"):
        src_map = tuple(entry["src_map"])
        perm = chw_permutation(src_map)
        if weight.shape[1] != perm.size:
            raise NirError(f"{origin}: node {names['synapse']!r} weight has {weight.shape[1]} "
                           f"columns; its flattened source has {perm.size}")
        weight = weight[:, perm]
    bias = _exact_ints(floats(node, "bias", names["synapse"], origin),
                       f"node {names['synapse']!r} bias", origin)
    return weight.T, bias


def _conv_back(g, entry, names, origin):
    node = g.nodes[names["synapse"]]
    kernel = _exact_ints(floats(node, "weight", names["synapse"], origin),
                         f"node {names['synapse']!r} weight", origin)
    if kernel.ndim != 4:
        raise NirError(f"{origin}: node {names['synapse']!r} weight has shape {kernel.shape}; "
                       "a Conv2d kernel is (C_out, C_in, kh, kw)")
    cout, _, kh, kw = kernel.shape
    geo = entry["layer"]
    h, w, c = _ints(geo.get("in_shape"), 3, names["synapse"], "in_shape", origin)
    _check_input_shape(node, names["synapse"], (h, w, c), origin)
    stride = _pair(getattr(node, "stride", 1), names["synapse"], "stride", origin)
    _check_written(node, names["synapse"], {
        "stride": (stride, [geo.get("stride")] * 2),
        "padding": (_conv_padding(node, names["synapse"], kh, kw, stride[0], origin),
                    [geo.get("pad")] * 2),
        "dilation": (_pair(getattr(node, "dilation", 1), names["synapse"], "dilation", origin),
                     (1, 1)),
        "groups": ((_groups(node, names["synapse"], origin),), (1,))}, origin)
    weight = kernel.transpose(1, 2, 3, 0).reshape(-1, cout)
    bias = _exact_ints(floats(node, "bias", names["synapse"], origin),
                       f"node {names['synapse']!r} bias", origin)
    return weight, bias


def _pool_back(g, entry, names, origin):
    node, geo = g.nodes[names["synapse"]], entry["layer"]
    kernel = _pair(node.kernel_size, names["synapse"], "kernel_size", origin)
    stride = node.stride if node.stride is not None else node.kernel_size
    _check_written(node, names["synapse"], {
        "kernel_size": (kernel, [geo.get("window")] * 2),
        "stride": (_pair(stride, names["synapse"], "stride", origin), [geo.get("stride")] * 2),
        "padding": (_pair(getattr(node, "padding", 0), names["synapse"], "padding", origin),
                    (0, 0))}, origin)
    return None, _exact_ints(np.asarray(entry.get("bias", [])), "metadata 'bias'", origin)


def _add_back(g, entry, names, origin):
    rows = []
    for s in (0, 1):
        node_name = names[f"gain{s}"]
        scale = floats(g.nodes[node_name], "scale", node_name, origin)
        c = scale.shape[0] if scale.ndim else 1
        rows.append(_exact_ints(scale.reshape(c, -1)[:, 0], f"node {node_name!r} scale", origin))
    return np.stack(rows), _exact_ints(np.asarray(entry.get("bias", [])),
                                       "metadata 'bias'", origin)


def _ints(val: Any, count: int, name: str, key: str, origin: str) -> tuple[int, ...]:
    """``count`` integers from metadata, or NirError naming the field."""
    if (not isinstance(val, list) or len(val) != count
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in val)):
        raise NirError(f"{origin}: node {name!r} metadata field '{key}' = {val!r}; expected "
                       f"{count} integers")
    return tuple(val)


# ---------------------------------------------------------------- foreign import helpers
def _fc_foreign(node, name: str, in_shape: Shape, flattened: bool, origin: str) -> FloatLayer:
    weight = floats(node, "weight", name, origin)
    if weight.ndim != 2:
        raise NirError(f"{origin}: node {name!r} weight has shape {weight.shape}; Affine/"
                       "Linear weights are (out, in)")
    n_out, n_in = weight.shape
    size = in_shape[0] * in_shape[1] * in_shape[2]
    if n_in != size:
        raise NirError(f"{origin}: node {name!r} weight has {n_in} inputs but its source "
                       f"produces {size} values; fix the shapes")
    if flattened and in_shape[:2] != (1, 1):
        weight = weight[:, chw_permutation(in_shape)]  # columns into chip address order
    bias = getattr(node, "bias", None)
    bias = np.zeros(n_out) if bias is None else np.asarray(bias, np.float64).reshape(-1)
    if bias.size != n_out:
        raise NirError(f"{origin}: node {name!r} bias has {bias.size} values for {n_out} outputs")
    return FloatLayer("fc", {}, n_in, n_out, (1, 1, n_out), weight.T.copy(), bias)


def _pair(val: Any, name: str, key: str, origin: str) -> tuple[int, int]:
    arr = np.asarray(val).reshape(-1)
    if arr.size == 1:
        arr = np.repeat(arr, 2)
    if arr.size != 2 or not np.array_equal(arr, np.rint(arr)) or arr.min() < 0:
        raise NirError(f"{origin}: node {name!r} field '{key}' = {arr.tolist()}; use two "
                       "non-negative integers")
    return int(arr[0]), int(arr[1])


def _groups(node, name: str, origin: str) -> int:
    """NIR's ``groups``: absent or None means 1; anything but a positive integer is refused
    (``groups = 0`` used to pass as 1)."""
    val = getattr(node, "groups", None)
    if val is None:
        return 1
    arr = np.asarray(val).reshape(-1)
    if arr.size != 1 or not np.isfinite(arr[0]) or arr[0] != np.rint(arr[0]) or arr[0] < 1:
        raise NirError(f"{origin}: node {name!r} field 'groups' = {arr.tolist()}; use a "
                       "positive integer")
    return int(arr[0])


def _check_input_shape(node, name: str, in_shape: Shape, origin: str) -> None:
    """A Conv2d's declared ``input_shape`` ((H, W), or (C, H, W)) must be what flows in."""
    val = getattr(node, "input_shape", None)
    if val is None:
        return
    declared = np.asarray(val).reshape(-1).tolist()
    h, w, c = in_shape
    if declared not in ([h, w], [c, h, w]):
        raise NirError(f"{origin}: node {name!r} declares input_shape {declared[:4]} but its "
                       f"source produces (C, H, W) = {[c, h, w]}; fix the node's input_shape")


def _conv_padding(node, name: str, kh: int, kw: int, sy: int, origin: str) -> tuple[int, int]:
    """NIR's Conv2d padding as two integers: "valid" (0), "same" (odd kernel, stride 1), or
    explicit; (-1, -1) for a string the chip cannot express."""
    padding = getattr(node, "padding", 0)
    if isinstance(padding, bytes):
        padding = padding.decode("utf-8", "replace")
    if isinstance(padding, np.ndarray) and padding.dtype.kind in "US":
        padding = str(padding.reshape(-1)[0])
    if isinstance(padding, str):  # NIR allows "valid" (0) and "same" (odd kernel, stride 1)
        same = padding == "same" and kh % 2 == 1 and kw % 2 == 1 and sy == 1
        py = px = (kh - 1) // 2 if same else 0 if padding == "valid" else -1
        px = (kw - 1) // 2 if same else px
        return py, px
    return _pair(padding, name, "padding", origin)


def _check_written(node, name: str, written: dict[str, tuple], origin: str) -> None:
    """An exact read-back takes the geometry from metadata; the node's own fields (what a
    reader without it, and the float reference of the fidelity report, use) must agree."""
    for key, (got, want) in written.items():
        if tuple(got) != tuple(want):
            raise NirError(f"{origin}: node {name!r} field '{key}' = {list(got)} but its "
                           f"neurochip metadata says {list(want)}; the graph as written is not "
                           "the chip's (fix the node, or pass --foreign)")


def _conv_foreign(node, name: str, in_shape: Shape, flattened: bool, origin: str) -> FloatLayer:
    kernel = floats(node, "weight", name, origin)
    if kernel.ndim != 4:
        raise NirError(f"{origin}: node {name!r} weight has shape {kernel.shape}; the chip "
                       "takes 2-D convolutions, kernel (C_out, C_in/groups, kh, kw)")
    h, w, cin = in_shape
    cout, cpg, kh, kw = kernel.shape
    _check_input_shape(node, name, in_shape, origin)
    groups = _groups(node, name, origin)
    if cin % groups or cout % groups or cpg * groups != cin:
        raise NirError(f"{origin}: node {name!r}: groups = {groups} with kernel "
                       f"{kernel.shape} does not fit {cin} input channels")
    if groups > 1:  # the chip's kernel memory is dense: expand the groups with zeros
        dense = np.zeros((cout, cin, kh, kw))
        per = cout // groups
        for gi in range(groups):
            dense[gi * per:(gi + 1) * per, gi * cpg:(gi + 1) * cpg] = kernel[gi * per:(gi + 1) * per]
        kernel = dense
    sy, sx = _pair(getattr(node, "stride", 1), name, "stride", origin)
    py, px = _conv_padding(node, name, kh, kw, sy, origin)
    dy, dx = _pair(getattr(node, "dilation", 1), name, "dilation", origin)
    if (dy, dx) != (1, 1):
        raise NirError(f"{origin}: node {name!r} has dilation {(dy, dx)}; the chip's conv2d "
                       "address generator needs dilation 1 (a dilated kernel would need zero "
                       "rows in kernel memory: re-export with dilation 1)")
    if sy != sx or py != px or py < 0:
        raise NirError(f"{origin}: node {name!r} has stride {(sy, sx)}, padding "
                       f"{getattr(node, 'padding', None)}; the chip's conv2d takes one stride "
                       "and one explicit padding for both directions")
    if kh > 16 or kw > 16 or sy > 16 or sy < 1 or py >= min(kh, kw):
        raise NirError(f"{origin}: node {name!r}: kernel {kh}×{kw}, stride {sy}, padding {py}; "
                       "the chip's conv2d needs kernels ≤ 16, stride 1 … 16 and padding "
                       "smaller than the kernel")
    bias = getattr(node, "bias", None)
    bias = np.zeros(cout) if bias is None else np.asarray(bias, np.float64).reshape(-1)
    if bias.size == 1 and cout > 1:
        bias = np.full(cout, bias[0])
    if bias.size != cout:
        raise NirError(f"{origin}: node {name!r} bias has {bias.size} values for {cout} channels")
    geometry = {"in_shape": [h, w, cin], "channels": cout, "kernel": [kh, kw],
                "stride": sy, "pad": py}
    ho, wo = (h + 2 * py - kh) // sy + 1, (w + 2 * py - kw) // sy + 1
    if ho < 1 or wo < 1:
        raise NirError(f"{origin}: node {name!r}: kernel {kh}×{kw} is larger than its padded "
                       f"input {h + 2 * py}×{w + 2 * py}")
    weight = kernel.transpose(1, 2, 3, 0).reshape(cin * kh * kw, cout)
    notes = [f"groups = {groups} expanded to a dense kernel"] if groups > 1 else []
    return FloatLayer("conv2d", geometry, h * w * cin, ho * wo * cout, (ho, wo, cout), weight,
                      bias, notes=notes)


def _pool_foreign(node, name: str, in_shape: Shape, flattened: bool, origin: str) -> FloatLayer:
    ky, kx = _pair(node.kernel_size, name, "kernel_size", origin)
    sy, sx = _pair(node.stride if node.stride is not None else node.kernel_size, name,
                   "stride", origin)
    py, px = _pair(getattr(node, "padding", 0), name, "padding", origin)
    if ky != kx or sy != sx or (py, px) != (0, 0) or not 1 <= ky <= 16 or not 1 <= sy <= 16:
        raise NirError(f"{origin}: node {name!r}: {type(node).__name__} kernel {(ky, kx)}, "
                       f"stride {(sy, sx)}, padding {(py, px)}; the chip's pool takes square "
                       "windows 1 … 16, one stride 1 … 16 and no padding")
    h, w, c = in_shape
    ho, wo = (h - ky) // sy + 1, (w - ky) // sy + 1
    if ho < 1 or wo < 1:
        raise NirError(f"{origin}: node {name!r}: window {ky} is larger than its input {h}×{w}")
    avg = type(node).__name__ == "AvgPool2d"
    unit = np.full(c, 1.0 / (ky * ky) if avg else 1.0)
    notes = [f"AvgPool2d: the average's 1/{ky * ky} is folded into the threshold"] if avg else []
    geometry = {"in_shape": [h, w, c], "window": ky, "stride": sy, "emit": "every_step"}
    return FloatLayer("pool", geometry, h * w * c, ho * wo * c, (ho, wo, c), None,
                      np.zeros(c), unit=unit, notes=notes)


def _add_foreign(gains: list[np.ndarray], in_shape: Shape, origin: str) -> FloatLayer:
    h, w, c = in_shape
    return FloatLayer("add", {"in_shape": [h, w, c]}, h * w * c, h * w * c, in_shape,
                      np.stack(gains), np.zeros(c))


KIND_NIR: dict[str, NirKind] = {
    "fc": NirKind(_fc_export, _fc_back, _fc_foreign, ("Affine", "Linear")),
    "conv2d": NirKind(_conv_export, _conv_back, _conv_foreign, ("Conv2d",)),
    "pool": NirKind(_pool_export, _pool_back, _pool_foreign, ("SumPool2d", "AvgPool2d")),
    "add": NirKind(_add_export, _add_back, _add_foreign, ("Scale",)),
}
SYNAPSE_TYPES: dict[str, str] = {t: kind for kind, e in KIND_NIR.items() for t in e.nir_types
                                 if kind != "add"}
