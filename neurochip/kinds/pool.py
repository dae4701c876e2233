"""``pool``: spike pooling over p × p windows (§5.3, §8).

Input (H, W, C), window p, stride s, no padding; output (H_out, W_out, C) with
H_out = (H − p) div s + 1. An input event (y, x, c) adds +1 (an implicit unit weight, no
weight memory) to channel c of every window (oy, ox) that contains it
(0 ≤ y − oy·s < p, 0 ≤ x − ox·s < p), visited oy then ox ascending, one membrane word per
window and cycle; the layer's neuron model decides when a window fires:

* OR pooling (max-pooling of binary maps, Yin et al.): lif with θ = 0, bias 0, reset zero,
  discontinuous: a window fires in every step in which any of its inputs spiked;
* average pooling with unit weights followed by IF neurons (ReStoCNet): lif with θ = p² − 1
  (fires when the count reaches p²), reset subtract, continuous;
* ``emit = once``: a per-neuron *sent* bit lets each output spike at most once per image
  (with OR pooling: the earliest spike of the window, the TTFS max-pool).
Thresholds and biases are per channel.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from neurochip.description.fields import DescriptionError, Field
from neurochip.kinds.geometric import GeometricKind, check_int

EMITS = ("every_step", "once")
MAX_WINDOW = 16


class PoolKind(GeometricKind):
    name = "pool"
    code = 2
    doc = "spike pooling: an input event adds 1 to each window containing it; the neuron " \
          "model fires the window (OR, average-IF), optionally once per image"
    section = "§5.3"
    fields = (
        Field("in_shape", list, "input map (H, W, C); equals the source's output shape", "§3",
              range_text="3 positive integers, product ≤ 32768"),
        Field("window", int, "window p × p", "§5.3", 1, MAX_WINDOW),
        Field("stride", int, "stride s in both directions", "§5.3", 1, MAX_WINDOW),
        Field("emit", str, "`every_step`: a window may spike in every step; `once`: at most "
              "once per image (first-spike pooling), whatever the neuron model (`lif`, `ttfs`, "
              "`bistable`)", "§5.3, §6.2", choices=EMITS),
    )

    def check_geometry(self, g: dict, where: str, origin: str) -> None:
        super().check_geometry(g, where, origin)
        p = check_int(g.get("window"), 1, MAX_WINDOW, f"{where}.window", origin)
        check_int(g.get("stride"), 1, MAX_WINDOW, f"{where}.stride", origin)
        if g.get("emit") not in EMITS:
            raise DescriptionError(f"{origin}: field '{where}.emit' is {g.get('emit')!r}; use "
                                   f"one of {list(EMITS)}")
        h, w, _ = g["in_shape"]
        if p > min(h, w):
            raise DescriptionError(f"{origin}: field '{where}.window' = {p} is larger than the "
                                   f"input {h}×{w}; use a window of at most {min(h, w)}")

    def validate(self, layer, inputs, where: str, origin: str) -> None:
        super().validate(layer, inputs, where, origin)
        if layer.weight_bits != 1:
            raise DescriptionError(f"{origin}: field '{where}.weight_bits' = "
                                   f"{layer.weight_bits}; a pool layer has no weight memory "
                                   "(its weights are an implicit +1), so use 1")

    def out_shape(self, g: dict) -> tuple[int, int, int]:
        h, w, c = g["in_shape"]
        p, s = g["window"], g["stride"]
        return ((h - p) // s + 1, (w - p) // s + 1, c)

    def arrays(self, layer) -> dict[str, tuple[int, ...]]:
        return {}

    def touched(self, layer, address: int) -> Iterator[tuple[int, int]]:
        """(channel, output position) of every window the input event at ``address`` falls
        in, oy then ox ascending."""
        h, w, c_in = self.in_shape(layer)
        p, s = layer.geometry["window"], layer.geometry["stride"]
        h_out, w_out, _ = self.output_shape(layer)
        y, x, c = address // (w * c_in), (address // c_in) % w, address % c_in
        for oy in range(h_out):
            if 0 <= y - oy * s < p:
                for ox in range(w_out):
                    if 0 <= x - ox * s < p:
                        yield c, oy * w_out + ox

    def step_input_bound(self, layer, column_sums: np.ndarray | None = None) -> np.ndarray:
        # +1 from each of a window's p² inputs
        return np.full(self.channels(layer), int(layer.geometry["window"]) ** 2, dtype=np.int64)

    def synapses(self, layer) -> int:
        h_out, w_out, c = self.output_shape(layer)
        return h_out * w_out * c * layer.geometry["window"] ** 2

    def stored_weights(self, layer) -> int:
        return 0

    def memory_bits(self, layer) -> dict[str, int]:
        once = layer.geometry["emit"] == "once"
        return {"bitmap_memory": self.words(layer) * layer.core.lanes if once else 0}

    def random_geometry(self, rng: np.random.Generator, in_shape) -> dict:
        h, w, _ = in_shape
        p = int(rng.integers(1, min(3, h, w) + 1))
        return {"in_shape": list(in_shape), "window": p, "stride": int(rng.integers(1, p + 2)),
                "emit": str(rng.choice(EMITS))}

    def random_weight(self, rng, layer_inputs, neurons, weight_bits, geometry=None):
        return np.zeros((0, 0), dtype=np.int64)


KIND = PoolKind()
