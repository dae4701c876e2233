"""Accumulator lanes (§5): L parallel ``m ← ovf(m + W[a, n])`` in one cycle."""

from __future__ import annotations

from amaranth import Module, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from neurochip.hw.arith import decode_weight, overflow


class AccumulatorLanes(wiring.Component):
    """One weight word added to the enabled lanes of one membrane word; the other lanes
    keep their membrane (a pool or add event adds into one lane of a word whose other lanes
    are real neurons; a disabled lane of §3 holds 0, so it stays 0)."""

    def __init__(self, lanes: int, weight_bits: int, membrane_bits: int, saturate: bool):
        self.lanes, self.w, self.b, self.saturate = lanes, weight_bits, membrane_bits, saturate
        super().__init__({"membrane": In(lanes * membrane_bits), "weights": In(lanes * weight_bits),
                          "enable": In(lanes), "result": Out(lanes * membrane_bits)})

    def elaborate(self, platform) -> Module:
        m = Module()
        for lane in range(self.lanes):
            v = self.membrane.word_select(lane, self.b).as_signed()
            w = decode_weight(self.weights.word_select(lane, self.w), self.w)
            r = overflow(v + w, self.b, self.saturate)
            m.d.comb += self.result.word_select(lane, self.b).eq(Mux(self.enable[lane], r, v))
        return m
