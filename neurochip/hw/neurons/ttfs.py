"""``ttfs`` (neurochip/neurons/ttfs.py) neuron unit (§6.1): for L lanes in one cycle, the
membrane V integrates the current I, the threshold compare, and I kept (ramp) or cleared
(step). The fired bit is the shell's sent bitmap: the unit reports ``v > θ`` and the shell
lets out only lanes whose bit is clear."""

from __future__ import annotations

from amaranth import Module, Mux
from amaranth.lib.wiring import In, Out

from neurochip.hw.arith import overflow
from neurochip.hw.config import CoreConfig
from neurochip.hw.neurons.base import NeuronUnit, decode_param_word, unit_signature
from neurochip.neurons.ttfs import MODEL


class TtfsUpdate(NeuronUnit):
    """Ports of :class:`NeuronUnit` (``membrane``/``result`` carry the current I) plus
    ``potential`` (in, L·B, the group's V word) and ``potential_result`` (out, L·B, the new
    V word; disabled lanes 0)."""

    model = MODEL.name
    second_register = True

    def __init__(self, lanes: int, membrane_bits: int, saturate: bool, ramp: bool):
        self.saturate, self.ramp = saturate, ramp
        self.lanes, self.membrane_bits = lanes, membrane_bits
        self.param_bits = len(MODEL.param_fields) * membrane_bits
        sig = unit_signature(lanes, membrane_bits, self.param_bits)
        members = dict(sig.members.items())
        members["potential"] = In(lanes * membrane_bits)
        members["potential_result"] = Out(lanes * membrane_bits)
        super(NeuronUnit, self).__init__(members)

    @classmethod
    def for_core(cls, cfg: CoreConfig) -> "TtfsUpdate":
        return cls(cfg.lanes, cfg.membrane_bits, cfg.saturate, cfg.neuron.psp == "ramp")

    def elaborate(self, platform) -> Module:
        m = Module()
        B, P = self.membrane_bits, self.param_bits
        for lane in range(self.lanes):
            i = self.membrane.word_select(lane, B).as_signed()
            v0 = self.potential.word_select(lane, B).as_signed()
            p = decode_param_word(self.model, self.param_word.word_select(lane, P), B)
            v = overflow(v0 + i, B, self.saturate)
            en = self.enable[lane]
            m.d.comb += [self.fire[lane].eq(en & (v > p["threshold"])),
                         self.potential_result.word_select(lane, B).eq(Mux(en, v, 0)),
                         self.result.word_select(lane, B).eq(Mux(en, i, 0) if self.ramp else 0)]
        return m
