"""``fc`` (neurochip/kinds/fc.py): an address event a adds weight row a to every neuron,
one membrane word per cycle. Weight memory: N_in rows × K words of L·w bits, row a word
k at address a·K + k; the event's accumulation cycles are words 0 … K−1 in order, so an
event costs K + 1 cycles (pop + K, §8)."""

from __future__ import annotations

from amaranth import Module, Mux, Signal

from neurochip.description import Layer
from neurochip.hw.config import CoreConfig, addr_bits
from neurochip.hw.kinds.base import Sequencer
from neurochip.hw.memory import MemoryShape, SyncRom
from neurochip.hw.pack import channel_words_hex


def weight_hex(lay: Layer, cfg: CoreConfig) -> list[str]:
    """Row a, word k at address a·K + k; 1-bit weights store +1 as 1 and −1 as 0."""
    return channel_words_hex(lay.weight, cfg)


class FcSequencer(Sequencer):
    """Word k of the event's row in accumulation cycle k (k = 0 … K−1); the lanes of word
    k are the enabled lanes of membrane word k (only the last may be partial)."""

    @classmethod
    def cycles(cls, cfg: CoreConfig) -> int:
        return cfg.words

    @classmethod
    def weight_shape(cls, cfg: CoreConfig) -> MemoryShape:
        return MemoryShape("sram", cfg.inputs * cfg.words, cfg.weight_width, rows=cfg.inputs)

    def elaborate(self, platform) -> Module:
        m = Module()
        cfg = self.cfg
        K = cfg.words
        shape = self.weight_shape(cfg)
        m.submodules.weights = mem = SyncRom(shape, self.weight_init, cfg.weight_file,
                                             self.blackbox)
        word = Signal(addr_bits(K))  # word of this accumulation cycle
        word_next = Signal.like(word)
        row_base = Signal(range(max(2, shape.depth)))  # a·K of the event being accumulated
        first = self.address * K  # the popped event's word 0
        last = word == K - 1
        m.d.comb += [
            word_next.eq(Mux(last, 0, word + 1)),
            self.word.eq(word), self.last.eq(last), self.weights.eq(mem.data),
            self.enable.eq(Mux(last, cfg.lane_mask(K - 1), cfg.lane_mask(0))),
            self.empty.eq(0), self.visit.eq(0),
            self.ops.eq(Mux(last, cfg.enabled_lanes(K - 1), cfg.enabled_lanes(0))),
        ]
        with m.If(self.start):
            m.d.sync += [row_base.eq(first), word.eq(0)]
        with m.If(self.step):
            m.d.comb += [mem.addr.eq(row_base + word_next), self.next_word.eq(word_next)]
            m.d.sync += word.eq(word_next)
        with m.Else():
            m.d.comb += [mem.addr.eq(first), self.next_word.eq(0)]
        return m
