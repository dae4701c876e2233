"""``add`` (neurochip/kinds/add.py, §5.4, §8): an event a = pos·C + c popped from source s
adds the gain W[s, c] to the one neuron a: one accumulation cycle, gain word s·K_c + c div L,
membrane word pos·K_c + c div L, lane c mod L only (the other lanes keep their membrane).
An event costs 2 cycles. The weight memory holds 2 rows (the sources) × K_c words of L·w
bits, lane l of word k of row s = W[s, k·L + l]. The shell drains the sources in order
(§4) and tells the sequencer which one the popped event came from (``source``)."""

from __future__ import annotations

from amaranth import Module, Signal

from neurochip.description import Layer
from neurochip.hw.config import CoreConfig, addr_bits
from neurochip.hw.kinds.base import Sequencer
from neurochip.hw.kinds.window import div, mod
from neurochip.hw.memory import MemoryShape, SyncRom
from neurochip.hw.pack import channel_words_hex
from neurochip.kinds.add import SOURCES


def weight_hex(lay: Layer, cfg: CoreConfig) -> list[str]:
    """Row s (the source), word k at address s·K_c + k (§3)."""
    return channel_words_hex(lay.weight, cfg)


class AddSequencer(Sequencer):
    """One accumulation cycle: one lane of the event's own membrane word."""

    @classmethod
    def cycles(cls, cfg: CoreConfig) -> int:
        return 1

    @classmethod
    def weight_shape(cls, cfg: CoreConfig) -> MemoryShape:
        return MemoryShape("sram", SOURCES * cfg.wpp, cfg.weight_width, rows=SOURCES)

    def elaborate(self, platform) -> Module:
        m = Module()
        cfg = self.cfg
        C, Kc, L = cfg.channels, cfg.wpp, cfg.lanes
        shape = self.weight_shape(cfg)
        m.submodules.weights = mem = SyncRom(shape, self.weight_init, cfg.weight_file,
                                             self.blackbox)
        c = mod(self.address, C)
        first = Signal(addr_bits(cfg.words))
        word = Signal.like(first)
        lane = Signal(range(max(2, L)))
        m.d.comb += [
            first.eq(div(self.address, C) * Kc + div(c, L)),
            mem.addr.eq(self.source * Kc + div(c, L)),
            self.next_word.eq(first), self.word.eq(word), self.weights.eq(mem.data),
            self.enable.eq(1 << lane), self.ops.eq(1), self.last.eq(1),
            self.empty.eq(0), self.visit.eq(0),
        ]
        with m.If(self.start):
            m.d.sync += [word.eq(first), lane.eq(mod(c, L))]
        return m
