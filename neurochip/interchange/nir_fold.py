"""Linear chains in a foreign NIR graph: a synapse node that feeds another synapse node
with no neuron between (Sinabs/Speck's ``SumPool2d → Conv2d``, ``SumPool2d → Flatten →
Affine``, ``Affine → Affine``, ``SumPool2d → SumPool2d``) is one linear map, folded here
into the one chip layer that computes it exactly (docs/nir.md, "Linear chains").

The folds, each exact in real arithmetic (the quantizer then treats the result like any
other layer):

* anything → ``fc``: the first map as a dense (inputs × outputs) matrix times the fc's
  weights; its per-channel bias becomes part of the fc's per-neuron bias;
* sum/average pool with window = stride = k → ``conv2d``: every kernel tap becomes a
  k × k block, stride and padding scale by k (the pooled map's zero border is the
  unpooled map's zero border). Needs the map's height and width to be multiples of k (a
  remainder row would be read by the folded kernel but dropped by the pool);
* pool (window = stride) → pool (window = stride): one pool with the product window.

Any other chain (a convolution into a convolution or a pool) is refused by name: its
folded kernel is not a chip convolution at the borders."""

from __future__ import annotations

import numpy as np

from neurochip.interchange.nir_io import NirError
from neurochip.interchange.nir_kinds import FloatLayer
from neurochip.kinds.conv2d import MAX_KERNEL, MAX_STRIDE
from neurochip.kinds.pool import MAX_WINDOW

MAX_DENSE = 1 << 24  # entries of a dense matrix built for an fc fold (128 MiB of float64)


def fold(first: FloatLayer, second: FloatLayer, names: tuple[str, str],
         origin: str) -> FloatLayer:
    """The one layer computing ``second(first(x))``; NirError naming both nodes when the
    chip has no such layer. ``names``: the two NIR node names (for messages and notes)."""
    a, b = names
    if second.kind == "fc":
        return _into_fc(first, second, names, origin)
    if first.kind == "pool" and second.kind == "conv2d":
        return _pool_into_conv(first, second, names, origin)
    if first.kind == "pool" and second.kind == "pool":
        return _pool_into_pool(first, second, names, origin)
    raise NirError(f"{origin}: node {b!r} ({second.kind}) follows {a!r} ({first.kind}) with no "
                   "neuron node in between; the chip folds such linear chains only into an "
                   "Affine/Linear, or a SumPool2d/AvgPool2d (window = stride) into a Conv2d or "
                   "another pool: put a neuron node between them")


def _note(first: FloatLayer, second: FloatLayer, names: tuple[str, str], what: str) -> list[str]:
    return first.notes + second.notes + [
        f"linear chain folded: {first.kind} {names[0]!r} → {second.kind} {names[1]!r} "
        f"computed as one {what} (exact before quantization)"]


def dense(layer: FloatLayer, origin: str, name: str) -> np.ndarray:
    """``layer``'s weights as an (inputs × outputs) matrix in chip address order."""
    if layer.kind == "fc":
        return layer.weight
    if layer.inputs * layer.neurons > MAX_DENSE:
        raise NirError(f"{origin}: node {name!r}: folding its {layer.inputs} × "
                       f"{layer.neurons} map into the next Affine needs more than "
                       f"{MAX_DENSE} weights; put a neuron node between them")
    g = layer.geometry
    h, w, c = g["in_shape"]
    ho, wo, co = layer.out_shape
    out = np.zeros((layer.inputs, layer.neurons))
    if layer.kind == "pool":
        k, s = g["window"], g["stride"]
        yo, xo, ch = np.meshgrid(np.arange(ho), np.arange(wo), np.arange(c), indexing="ij")
        dst = ((yo * wo + xo) * c + ch).reshape(-1)
        for dy in range(k):
            for dx in range(k):
                src = (((yo * s + dy) * w + xo * s + dx) * c + ch).reshape(-1)
                np.add.at(out, (src, dst), layer.unit[ch.reshape(-1)])
        return out
    if layer.kind == "conv2d":
        kh, kw = g["kernel"]
        s, p = g["stride"], g["pad"]
        kern = layer.weight.reshape(c, kh, kw, co)
        for yo in range(ho):
            for xo in range(wo):
                for ky in range(kh):
                    y = yo * s + ky - p
                    if not 0 <= y < h:
                        continue
                    for kx in range(kw):
                        x = xo * s + kx - p
                        if 0 <= x < w:
                            rows = (y * w + x) * c + np.arange(c)
                            cols = (yo * wo + xo) * co + np.arange(co)
                            out[np.ix_(rows, cols)] += kern[:, ky, kx, :]
        return out
    raise NirError(f"{origin}: node {name!r} ({layer.kind}) cannot be folded into an Affine")


def _per_neuron_bias(layer: FloatLayer) -> np.ndarray:
    """The bias of every output neuron (a map kind's is per channel)."""
    if layer.kind == "fc":
        return layer.bias
    ho, wo, _ = layer.out_shape
    return np.tile(layer.bias, ho * wo)


def _into_fc(first: FloatLayer, second: FloatLayer, names: tuple[str, str],
             origin: str) -> FloatLayer:
    weight = dense(first, origin, names[0]) @ second.weight
    bias = _per_neuron_bias(first) @ second.weight + second.bias
    return FloatLayer("fc", {}, first.inputs, second.neurons, second.out_shape, weight, bias,
                      notes=_note(first, second, names, "fc over the first node's inputs"))


def _square_pool(pool: FloatLayer, name: str, origin: str) -> tuple[int, int, int, int]:
    """(k, H, W, C) of a pool whose windows tile its map exactly (window = stride = k)."""
    g = pool.geometry
    k, s = g["window"], g["stride"]
    h, w, c = g["in_shape"]
    if s != k or h % k or w % k:
        raise NirError(f"{origin}: node {name!r}: a pool folded into the next node needs "
                       f"window = stride and a map divisible by it (window {k}, stride {s}, "
                       f"map {h}×{w}); put a neuron node after it")
    return k, h, w, c


def _pool_into_conv(pool: FloatLayer, conv: FloatLayer, names: tuple[str, str],
                    origin: str) -> FloatLayer:
    k, h, w, c = _square_pool(pool, names[0], origin)
    g = conv.geometry
    kh, kw = g["kernel"]
    co = g["channels"]
    kern = conv.weight.reshape(c, kh, kw, co) * pool.unit[:, None, None, None]
    kern = np.repeat(np.repeat(kern, k, axis=1), k, axis=2)  # tap (ky, kx) → a k × k block
    stride, pad = g["stride"] * k, g["pad"] * k
    if kh * k > MAX_KERNEL or kw * k > MAX_KERNEL or stride > MAX_STRIDE:
        raise NirError(f"{origin}: nodes {names[0]!r} → {names[1]!r}: the folded kernel "
                       f"{kh * k}×{kw * k} with stride {stride} exceeds the chip's conv2d "
                       f"(kernel ≤ {MAX_KERNEL}, stride ≤ {MAX_STRIDE}); put a neuron node "
                       "after the pool")
    geometry = {"in_shape": [h, w, c], "channels": co, "kernel": [kh * k, kw * k],
                "stride": stride, "pad": pad}
    return FloatLayer("conv2d", geometry, h * w * c, conv.neurons, conv.out_shape,
                      kern.reshape(c * kh * k * kw * k, co), conv.bias.copy(),
                      notes=_note(pool, conv, names,
                                  f"conv2d (kernel {kh * k}×{kw * k}, stride {stride}, pad "
                                  f"{pad}; {k * k}× the kernel memory)"))


def _pool_into_pool(first: FloatLayer, second: FloatLayer, names: tuple[str, str],
                    origin: str) -> FloatLayer:
    k1, h, w, c = _square_pool(first, names[0], origin)
    k2 = _square_pool(second, names[1], origin)[0]
    k = k1 * k2
    if k > MAX_WINDOW:
        raise NirError(f"{origin}: nodes {names[0]!r} → {names[1]!r}: the folded window {k} "
                       f"exceeds the chip's pool (≤ {MAX_WINDOW}); put a neuron node between")
    geometry = {**first.geometry, "window": k, "stride": k}
    return FloatLayer("pool", geometry, first.inputs, second.neurons, second.out_shape, None,
                      np.zeros(c), unit=first.unit * second.unit,
                      notes=_note(first, second, names, f"pool (window {k})"))
