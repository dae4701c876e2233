"""``lif_refractory`` (neurochip/neurons/lif_refractory.py) neuron unit (§6.4): for L lanes
in one cycle, the refractory countdown or the lif bias add, strict threshold and reset to
0. The refractory counter is the model's declared state word ``refractory_left`` (§6.3):
the shell keeps its register file and hands the unit the group's word."""

from __future__ import annotations

from amaranth import Const, Module, Mux, signed

from neurochip.hw.arith import overflow
from neurochip.hw.config import CoreConfig
from neurochip.hw.neurons.base import NeuronUnit, decode_param_word
from neurochip.neurons.lif_refractory import MODEL, LifRefractoryNeuron


class LifRefractoryUpdate(NeuronUnit):
    """Ports of :class:`NeuronUnit` plus ``refractory_left`` (in, L·r, the group's counter
    word) and ``refractory_left_result`` (out, L·r, the new counters; disabled lanes 0)."""

    model = MODEL.name

    def __init__(self, lanes: int, membrane_bits: int, saturate: bool,
                 settings: LifRefractoryNeuron):
        self.saturate, self.refractory = saturate, settings.refractory
        super().__init__(lanes, membrane_bits, len(MODEL.param_fields) * membrane_bits, settings)

    @classmethod
    def for_core(cls, cfg: CoreConfig) -> "LifRefractoryUpdate":
        return cls(cfg.lanes, cfg.membrane_bits, cfg.saturate, cfg.neuron)

    def elaborate(self, platform) -> Module:
        m = Module()
        B, P = self.membrane_bits, self.param_bits
        r = self.state_bits["refractory_left"]
        zero = Const(0, signed(B))
        for lane in range(self.lanes):
            v0 = self.membrane.word_select(lane, B).as_signed()
            c = self.refractory_left.word_select(lane, r)
            p = decode_param_word(self.model, self.param_word.word_select(lane, P), B)
            resting = c != 0
            v = overflow(v0 + p["bias"], B, self.saturate)
            fire = ~resting & (v > p["threshold"])
            new_c = Mux(resting, c - 1, Mux(fire, self.refractory, 0))
            en = self.enable[lane]
            m.d.comb += [self.fire[lane].eq(en & fire),
                         self.result.word_select(lane, B).eq(Mux(en & ~resting & ~fire, v, zero)),
                         self.refractory_left_result.word_select(lane, r).eq(Mux(en, new_c, 0))]
        return m
