"""``conv2d``: a convolution with kernel memory (§5.2, §8).

Input (H, W, C_in), kernel kh × kw, stride s, zero padding p, C_out output channels;
output (H_out, W_out, C_out) with H_out = (H + 2p − kh) div s + 1 (W_out likewise). An
input event (y, x, c) touches the output positions (oy, ox) with 0 ≤ y + p − oy·s < kh and
0 ≤ x + p − ox·s < kw, visited oy then ox ascending; at each it adds kernel row
(c·kh + ky)·kw + kx (ky = y + p − oy·s, kx = x + p − ox·s) to the C_out neurons of that
position, one lane word per cycle. Thresholds and biases are per output channel. The
weight memory holds the kernel, C_in·kh·kw rows × K_c words, not an unrolled matrix.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from neurochip.description.fields import DescriptionError, Field
from neurochip.kinds.base import weight_column_bound
from neurochip.kinds.geometric import GeometricKind, check_int, int_list

MAX_KERNEL = 16
MAX_STRIDE = 16


class Conv2dKind(GeometricKind):
    name = "conv2d"
    code = 1
    doc = "2-D convolution with kernel memory: an input event adds a kernel row at every " \
          "output position it touches"
    section = "§5.2"
    fields = (
        Field("in_shape", list, "input map (H, W, C_in); equals the source's output shape", "§3",
              range_text="3 positive integers, product ≤ 32768"),
        Field("channels", int, "output channels C_out", "§5.2", 1, 32768),
        Field("kernel", list, "kernel height and width (kh, kw)", "§5.2",
              range_text=f"2 integers in 1 … {MAX_KERNEL}"),
        Field("stride", int, "stride s in both directions", "§5.2", 1, MAX_STRIDE),
        Field("pad", int, "zero padding p on every border", "§5.2", 0, MAX_KERNEL - 1,
              range_text="0 … min(kh, kw) − 1"),
    )

    def check_geometry(self, g: dict, where: str, origin: str) -> None:
        super().check_geometry(g, where, origin)
        check_int(g.get("channels"), 1, 32768, f"{where}.channels", origin)
        kh, kw = int_list(g.get("kernel"), 2, 1, MAX_KERNEL, f"{where}.kernel", origin)
        check_int(g.get("stride"), 1, MAX_STRIDE, f"{where}.stride", origin)
        pad = check_int(g.get("pad"), 0, MAX_KERNEL - 1, f"{where}.pad", origin)
        if pad >= min(kh, kw):
            raise DescriptionError(f"{origin}: field '{where}.pad' = {pad}; padding must be "
                                   f"smaller than the kernel ({kh}×{kw}), so use 0 … "
                                   f"{min(kh, kw) - 1}")
        h, w, _ = g["in_shape"]
        if h + 2 * pad < kh or w + 2 * pad < kw:
            raise DescriptionError(f"{origin}: field '{where}.kernel' = {[kh, kw]} is larger "
                                   f"than the padded input {h + 2 * pad}×{w + 2 * pad}; use a "
                                   "smaller kernel or more padding")

    def out_shape(self, g: dict) -> tuple[int, int, int]:
        h, w, _ = g["in_shape"]
        kh, kw = g["kernel"]
        s, p = g["stride"], g["pad"]
        return ((h + 2 * p - kh) // s + 1, (w + 2 * p - kw) // s + 1, g["channels"])

    def arrays(self, layer) -> dict[str, tuple[int, ...]]:
        _, _, c_in = self.in_shape(layer)
        kh, kw = layer.geometry["kernel"]
        return {"weight": (c_in * kh * kw, layer.geometry["channels"])}

    def touched(self, layer, address: int) -> Iterator[tuple[int, int]]:
        """(kernel row, output position oy·W_out + ox) of every position the input event at
        ``address`` touches, in the address generator's order (oy, then ox, ascending)."""
        h, w, c_in = self.in_shape(layer)
        kh, kw = layer.geometry["kernel"]
        s, p = layer.geometry["stride"], layer.geometry["pad"]
        h_out, w_out, _ = self.output_shape(layer)
        y, x, c = address // (w * c_in), (address // c_in) % w, address % c_in
        for oy in range(h_out):
            ky = y + p - oy * s
            if not 0 <= ky < kh:
                continue
            for ox in range(w_out):
                kx = x + p - ox * s
                if 0 <= kx < kw:
                    yield (c * kh + ky) * kw + kx, oy * w_out + ox

    def step_input_bound(self, layer, column_sums: np.ndarray | None = None) -> np.ndarray:
        return weight_column_bound(layer) if column_sums is None else column_sums

    def synapses(self, layer) -> int:
        """Connections computed: every (output neuron, kernel element inside the padded
        input) pair, counting padding taps too (a padded tap reads zero)."""
        h_out, w_out, c_out = self.output_shape(layer)
        _, _, c_in = self.in_shape(layer)
        kh, kw = layer.geometry["kernel"]
        return h_out * w_out * c_out * c_in * kh * kw

    def stored_weights(self, layer) -> int:
        _, _, c_in = self.in_shape(layer)
        kh, kw = layer.geometry["kernel"]
        return c_in * kh * kw * layer.geometry["channels"]

    def memory_bits(self, layer) -> dict[str, int]:
        rows = self.arrays(layer)["weight"][0]
        return {"weight_memory": rows * self.words_per_position(layer) * layer.core.lanes
                * layer.weight_bits}

    def random_geometry(self, rng: np.random.Generator, in_shape) -> dict:
        h, w, _ = in_shape
        kh = int(rng.integers(1, min(4, h + 2) + 1))
        kw = int(rng.integers(1, min(4, w + 2) + 1))
        pad = int(rng.integers(0, min(kh, kw)))
        kh, kw = min(kh, h + 2 * pad), min(kw, w + 2 * pad)
        return {"in_shape": list(in_shape), "channels": int(rng.integers(1, 7)),
                "kernel": [kh, kw], "stride": int(rng.integers(1, 4)), "pad": pad}

    def random_weight(self, rng, layer_inputs, neurons, weight_bits, geometry=None):
        rows = geometry["in_shape"][2] * geometry["kernel"][0] * geometry["kernel"][1]
        return _random_ints(rng, (rows, geometry["channels"]), weight_bits)


def _random_ints(rng: np.random.Generator, shape, weight_bits: int) -> np.ndarray:
    if weight_bits == 1:
        return rng.choice([-1, 1], size=shape).astype(np.int64)
    lo, hi = -(1 << (weight_bits - 1)), (1 << (weight_bits - 1)) - 1
    return rng.integers(lo, hi + 1, size=shape).astype(np.int64)


KIND = Conv2dKind()
