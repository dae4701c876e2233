"""``ttfs`` (neurochip/neurons/ttfs.py) neuron unit (§6.1): for L lanes in one cycle, the
membrane V integrates the current I, the threshold compare, and I kept (ramp) or cleared
(step). The fired bit is the shell's sent bitmap: the unit reports ``v > θ`` and the shell
lets out only lanes whose bit is clear."""

from __future__ import annotations

from amaranth import Module, Mux

from neurochip.hw.arith import overflow
from neurochip.hw.config import CoreConfig
from neurochip.hw.neurons.base import NeuronUnit, decode_param_word
from neurochip.neurons.ttfs import MODEL


class TtfsUpdate(NeuronUnit):
    """Ports of :class:`NeuronUnit` (``membrane``/``result`` carry the current I); the
    declared state word ``potentials`` is V: ``potentials`` (in, L·B, the group's V word)
    and ``potentials_result`` (out, L·B, the new V word; disabled lanes 0)."""

    model = MODEL.name

    def __init__(self, lanes: int, membrane_bits: int, saturate: bool, ramp: bool):
        self.saturate, self.ramp = saturate, ramp
        super().__init__(lanes, membrane_bits, len(MODEL.param_fields) * membrane_bits)

    @classmethod
    def for_core(cls, cfg: CoreConfig) -> "TtfsUpdate":
        return cls(cfg.lanes, cfg.membrane_bits, cfg.saturate, cfg.neuron.psp == "ramp")

    def elaborate(self, platform) -> Module:
        m = Module()
        B, P = self.membrane_bits, self.param_bits
        for lane in range(self.lanes):
            i = self.membrane.word_select(lane, B).as_signed()
            v0 = self.potentials.word_select(lane, B).as_signed()
            p = decode_param_word(self.model, self.param_word.word_select(lane, P), B)
            v = overflow(v0 + i, B, self.saturate)
            en = self.enable[lane]
            m.d.comb += [self.fire[lane].eq(en & (v > p["threshold"])),
                         self.potentials_result.word_select(lane, B).eq(Mux(en, v, 0)),
                         self.result.word_select(lane, B).eq(Mux(en, i, 0) if self.ramp else 0)]
        return m
